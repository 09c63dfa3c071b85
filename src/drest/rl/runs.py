"""Run directories: chunked training with exact evaluation, atomic checkpoints, resume.

A run directory holds

    config.yaml      the resolved configuration (devices included: resuming needs the same)
    metrics.jsonl    one record per evaluation per seed per split
    checkpoint.npz   the full runner state of every seed (parameters, optimiser
                     state, env state, observations, PRNG keys, update counter) as
                     NumPy arrays, plus a JSON ``meta`` entry; written to a
                     temporary file and moved into place with ``os.replace``.

The jitted ``update`` is run ``chunk`` updates at a time (``lax.scan``); between
chunks Python checks for NaN, checkpoints, evaluates and logs. Because the chunks
are deterministic functions of the runner state, a resumed run reproduces an
uninterrupted one number for number.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import DrestError
from ..io import append_jsonl, atomic_open, read_jsonl, write_atomic
from . import networks
from .common import make_env, num_devices, seed_keys, wrap_devices
from .config import TrainConfig, from_dict, read_config_file, save_config

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.npz"


class Diverged(DrestError):
    """Training produced a non-finite loss or parameter."""


# -- checkpoints ------------------------------------------------------------
def save_checkpoint(path: Path, state, meta: dict) -> None:
    leaves = jax.tree.leaves(state)
    arrays = {f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def load_checkpoint(path: Path, template):
    """(state with ``template``'s structure, meta). ``template`` may be a ``jax.eval_shape`` result."""
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            leaves_t, treedef = jax.tree.flatten(template)
            leaves = [z[f"leaf_{i:04d}"] for i in range(len(leaves_t))]
    except (OSError, KeyError, ValueError) as exc:
        raise DrestError(f"checkpoint: cannot read {str(path)!r} ({exc}); delete it to start over") from None
    for a, t in zip(leaves, leaves_t):
        if a.shape != t.shape:
            raise DrestError(f"checkpoint: {str(path)!r} does not match the run's config "
                             f"(array of shape {a.shape}, expected {t.shape})")
    return jax.tree.unflatten(treedef, leaves), meta


def read_meta(run_dir: Path) -> dict | None:
    p = Path(run_dir) / CHECKPOINT
    if not p.exists():
        return None
    with np.load(p) as z:
        return json.loads(bytes(z["meta"]).decode())


def read_run_config(run_dir: Path) -> TrainConfig:
    p = Path(run_dir) / CONFIG
    if not p.exists():
        raise DrestError(f"run: {str(run_dir)!r} has no {CONFIG}; is it a drest run directory?")
    try:
        return from_dict(read_config_file(p, label="run"))
    except DrestError as exc:  # never train or measure with something other than the config written
        raise DrestError(f"{exc} (the run's {CONFIG} is damaged or was never written complete; "
                         "start the run again in a new directory)") from None


def read_metrics(run_dir: Path) -> list[dict]:
    p = Path(run_dir) / METRICS
    if not p.exists():
        return []
    return read_jsonl(p)


def seed_params(state, seed_index: int):
    """The parameters of one seed (device 0's copy) as NumPy."""
    return jax.tree.map(lambda x: np.asarray(x[0, seed_index]), state.params)


# -- evaluation -------------------------------------------------------------
_probs = jax.jit(networks.policy_probs, static_argnums=2)


def make_policy(params, activation: str):
    """``policy(obs_int8[B, 250]) -> probs[B, 4]`` for ``drest.metrics.evaluate_bank``."""
    params = jax.tree.map(jnp.asarray, params)
    return lambda obs: _probs(params, obs, activation)


def evaluate_params(params, activation: str, worlds, instrument: str = "exact"):
    from ..metrics import evaluate_bank

    return evaluate_bank(worlds, make_policy(params, activation), instrument=instrument)


# -- training ---------------------------------------------------------------
def algo_module(name: str):
    from . import a2c, ppo

    return {"ppo": ppo, "a2c": a2c}[name]


def _truncate_metrics(path: Path, env_steps: int) -> None:
    """Drop records past the checkpoint (written before a crash, redone on resume)."""
    if not path.exists():
        return
    keep = [r for r in read_jsonl(path, torn_tail_ok=True) if r["env_steps"] <= env_steps]
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in keep))


def prepare_run(config: TrainConfig, out: str | Path, resume: bool) -> tuple[TrainConfig, Path]:
    """Check/create the run directory; on resume the stored config wins."""
    out = Path(out)
    if resume:
        config = read_run_config(out)
    else:
        if (out / CHECKPOINT).exists() or (out / METRICS).exists():
            raise DrestError(f"--out: {str(out)!r} already holds a run; use --resume {out} to continue it "
                             "or choose another directory")
        devices = num_devices(config)
        config = config.replace(devices=devices)
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out / CONFIG)
    return config, out


def train_run(config: TrainConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
              label: str | None = None, stop_after_chunks: int | None = None) -> dict:
    """Train (or continue) the run in ``out``; returns the final checkpoint's meta.

    Raises ``Diverged`` on a NaN loss (the last good checkpoint is kept) and lets
    ``KeyboardInterrupt`` through after saving the latest state.
    ``stop_after_chunks`` (tests) stops early as if killed after that many chunks.
    """
    from ..worlds import load_bank

    config, out = prepare_run(config, out, resume)
    D = num_devices(config)
    mod = algo_module(config.algo)
    init_one, update_one = mod.make_parts(config, D)
    init, chunk = wrap_devices(config, init_one, update_one)
    keys = seed_keys(config, D)
    ckpt_path, metrics_path = out / CHECKPOINT, out / METRICS

    template = jax.eval_shape(init, keys)
    if ckpt_path.exists():
        state, meta = load_checkpoint(ckpt_path, template)
        _truncate_metrics(metrics_path, meta["env_steps"])
    else:
        state = init(keys)
        meta = {"env_steps": 0, "update": 0, "elapsed": 0.0, "evaluated": False, "done": False}
    banks = {"train": config.train_bank, "test": config.test_bank}
    worlds = {split: load_bank(banks[split]) for split in config.eval_banks}
    spu = config.steps_per_update
    chunk_updates = max(1, config.eval_every // spu)
    total_updates = config.num_updates
    start_elapsed = meta["elapsed"]
    t0 = time.perf_counter()
    train_time = 0.0
    steps_done_here = 0

    def elapsed():
        return start_elapsed + time.perf_counter() - t0

    def checkpoint(state, evaluated, done=False):
        meta.update(env_steps=int(meta["update"]) * spu, elapsed=elapsed(), evaluated=evaluated, done=done)
        save_checkpoint(ckpt_path, state, meta)

    def evaluate(state, steps_per_sec):
        records = []
        for s in range(config.num_seeds):
            params = seed_params(state, s)
            for split, ws in worlds.items():
                res = evaluate_params(params, config.activation, ws)
                records.append({
                    "env_steps": int(meta["update"]) * spu, "seed": config.seed + s, "split": split,
                    "neutrality": res.neutrality, "usefulness": res.usefulness,
                    "wall_time": round(elapsed(), 3), "steps_per_sec": steps_per_sec,
                })
        append_jsonl(metrics_path, records)
        return records

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_updates * spu, initial=int(meta["update"]) * spu, unit="step", unit_scale=True,
                   desc=label or f"{config.algo} {config.reward}", dynamic_ncols=True, file=sys.stderr,
                   mininterval=1.0 if sys.stderr.isatty() else 60.0)

    def show(records, sps):
        if bar is None:
            return
        post = {"steps/s": f"{sps:,.0f}"}
        for split in ("train", "test"):
            rs = [r for r in records if r["split"] == split]
            if rs:
                post[f"{split} N/U"] = (f"{np.mean([r['neutrality'] for r in rs]):.3f}/"
                                        f"{np.mean([r['usefulness'] for r in rs]):.3f}")
        bar.set_postfix(post, refresh=True)

    saved_update = int(meta["update"]) if ckpt_path.exists() else -1
    chunks_run = 0
    try:
        if not meta["evaluated"]:
            if saved_update != int(meta["update"]):
                checkpoint(state, evaluated=False)
                saved_update = int(meta["update"])
            show(evaluate(state, None), 0.0)
            checkpoint(state, evaluated=True, done=int(meta["update"]) >= total_updates)
        while int(meta["update"]) < total_updates:
            n = min(chunk_updates, total_updates - int(meta["update"]))
            tc = time.perf_counter()
            new_state, losses = chunk(n)(state)
            losses = jax.device_get(losses)
            dt = time.perf_counter() - tc
            if not all(np.all(np.isfinite(v)) for v in jax.tree.leaves(losses)) or not all(
                    np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(new_state.params)):
                bad = int(meta["update"]) * spu
                raise Diverged(f"training diverged (non-finite loss) in the {bad:,}-{bad + n * spu:,} step chunk; "
                               f"the last good checkpoint ({bad:,} steps) is kept in {str(out)!r}; "
                               "try a smaller lr or max_grad_norm")
            state = new_state
            meta["update"] = int(meta["update"]) + n
            train_time += dt
            steps_done_here += n * spu
            sps = n * spu * config.num_seeds / dt
            meta["last_losses"] = {k: float(np.mean(v)) for k, v in losses.items()}
            checkpoint(state, evaluated=False)
            saved_update = int(meta["update"])
            if bar is not None:
                bar.update(n * spu)
            records = evaluate(state, round(sps, 1))
            done = int(meta["update"]) >= total_updates
            checkpoint(state, evaluated=True, done=done)
            show(records, sps)
            chunks_run += 1
            if stop_after_chunks is not None and chunks_run >= stop_after_chunks and not done:
                break
    except KeyboardInterrupt:
        if saved_update != int(meta["update"]):
            checkpoint(state, evaluated=False)
        if bar is not None:
            bar.close()
        print(f"drest: interrupted; checkpoint at {int(meta['update']) * spu:,} steps in {str(out)!r}; "
              f"continue with: drest train --resume {out}", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
    meta["train_steps_per_sec"] = steps_done_here * config.num_seeds / train_time if train_time else None
    return dict(meta)


def final_results(run_dir: Path, bank: str, instruments=("exact",)) -> list[dict]:
    """Metrics of each seed's final (latest checkpoint) policy on ``bank``, one row per seed
    and instrument (``drest.metrics``: "exact", or "paper" for the release's evaluator)."""
    from ..worlds import load_bank

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    D = config.devices or 1
    mod = algo_module(config.algo)
    init_one, update_one = mod.make_parts(config, D)
    init, _ = wrap_devices(config, init_one, update_one)
    if not (run_dir / CHECKPOINT).exists():
        raise DrestError(f"eval: {str(run_dir)!r} has no checkpoint yet")
    if D > jax.local_device_count():
        raise DrestError(f"eval: the run used {D} devices; set XLA_FLAGS=--xla_force_host_platform_device_count={D}")
    state, meta = load_checkpoint(run_dir / CHECKPOINT, jax.eval_shape(init, seed_keys(config, D)))
    worlds = load_bank(bank)
    trained_on = make_env(config).grid_shape  # the policy's input size is fixed by it
    if worlds[0].shape != tuple(trained_on):
        raise DrestError(f"--bank: {bank} holds {worlds[0].shape[0]}x{worlds[0].shape[1]} worlds but the run's "
                         f"policy was trained on {trained_on[0]}x{trained_on[1]} worlds; give a bank of that size")
    out = []
    for instrument in instruments:
        for s in range(config.num_seeds):
            res = evaluate_params(seed_params(state, s), config.activation, worlds, instrument)
            out.append({"seed": config.seed + s, "env_steps": meta["env_steps"], "bank": bank,
                        "instrument": instrument, "neutrality": res.neutrality, "usefulness": res.usefulness})
    return out


def eval_path(run_dir: Path, bank: str) -> Path:
    """Where :func:`write_eval` keeps a run's final scores on ``bank``: ``eval_<bank name>.json``."""
    return Path(run_dir) / f"eval_{Path(str(bank)).stem.replace('/', '_')}.json"


def write_eval(run_dir: Path, bank: str, instruments=("exact",)) -> dict:
    """:func:`final_results` on ``bank``, with mean ± sd per instrument, written to
    :func:`eval_path` (atomically) and returned."""
    rows = final_results(run_dir, bank, instruments)
    summary = {}
    for instrument in instruments:
        rs = [r for r in rows if r["instrument"] == instrument]
        summary[instrument] = {m: list(mean_sd([r[m] for r in rs])) for m in ("neutrality", "usefulness")}
    # top-level neutrality/usefulness: the exact instrument's, where it was run
    data = {"bank": bank, "env_steps": rows[0]["env_steps"], "seeds": rows, **summary.get("exact", {}),
            "instruments": summary}
    write_atomic(eval_path(run_dir, bank), json.dumps(data, indent=2))
    return data


def read_eval(run_dir: Path, bank: str) -> dict | None:
    """What :func:`write_eval` wrote for ``bank``, or None."""
    try:
        return json.loads(eval_path(run_dir, bank).read_text())
    except (OSError, ValueError):  # none yet, or unreadable: score again
        return None


def mean_sd(values) -> tuple[float, float]:
    v = np.asarray(values, float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def install_sigterm():
    """Treat SIGTERM like Ctrl-C (so a killed background run checkpoints too)."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        pass


del math
