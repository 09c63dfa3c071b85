"""Training a run directory: chunked training with exact evaluation, checkpoints, resume.

The directory's files and their commit point are ``drest.rl.rundir``'s. The jitted
``update`` is run ``chunk`` updates at a time (``lax.scan``); between chunks Python
checks for NaN, checkpoints, evaluates, logs, and checkpoints again (counting the
records just logged). Because the chunks
are deterministic functions of the runner state, a resumed run reproduces an
uninterrupted one number for number.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import jax
import numpy as np

from ..errors import DrestError
from ..io import append_jsonl, check_out_dir, write_atomic
from . import networks
from .common import SWEEPABLE, num_devices, seed_keys, to_host, wrap_devices
from .config import TrainConfig, save_config
from .rundir import (CHECKPOINT, CONFIG, DAMAGED, METRICS, PREVIOUS, SWEEP, RunDir, check_bank_shape, read_points,
                     run_hyper, save_checkpoint, seed_params, state_template, truncate_records)


class Diverged(DrestError):
    """Training produced a non-finite loss or parameter."""


# -- evaluation -------------------------------------------------------------
def make_policy(params, activation: str):
    """``policy(obs_int8[B, 250]) -> probs[B, 4]`` for ``drest.metrics.evaluate_bank`` (NumPy)."""
    params = jax.tree.map(np.asarray, params)

    def policy(obs):
        return networks.policy_probs(params, obs, activation)

    policy.any_batch_size = True  # NumPy: nothing to compile, so padding would only add rows
    return policy


def evaluate_params(params, activation: str, worlds, instrument: str = "exact"):
    from ..metrics import evaluate_bank

    return evaluate_bank(worlds, make_policy(params, activation), instrument=instrument)


# -- training ---------------------------------------------------------------
def algo_module(name: str):
    from . import a2c, ppo

    return {"ppo": ppo, "a2c": a2c}[name]


def _load_banks(config: TrainConfig) -> dict:
    """The evaluation banks by split, each checked (with the train bank) to be of the run's grid size."""
    from ..worlds import load_bank

    names = {"train": config.train_bank, "test": config.test_bank}
    worlds = {split: load_bank(names[split]) for split in dict.fromkeys(("train", *config.eval_banks))}
    for split, ws in worlds.items():
        check_bank_shape(config, ws, f"{split}_bank", names[split])
    return {split: worlds[split] for split in config.eval_banks}


def prepare_run(config: TrainConfig, out: str | Path, resume: bool,
                points: list[dict] | None = None) -> tuple[TrainConfig, Path, dict]:
    """Check/create the run directory and load the banks; on resume the stored config (and a
    sweep's points) win. Under jax.distributed only process 0 writes."""
    out = Path(out)
    if resume:
        if not out.is_dir():
            raise DrestError(f"--resume: no such run directory {str(out)!r}")
        config = RunDir(out).config
        return config, out, _load_banks(config)
    writer = jax.process_index() == 0
    if writer and out.is_dir() and any((out / f).exists() for f in (CHECKPOINT, PREVIOUS, METRICS)):
        raise DrestError(f"--out: {str(out)!r} already holds a run; use --resume {out} to continue it "
                         "or choose another directory")
    if writer:
        check_out_dir(out)
    worlds = _load_banks(config)
    config = config.replace(devices=num_devices(config))
    if writer:
        if points is not None:
            write_atomic(out / SWEEP, json.dumps({"points": points}, indent=1))
        save_config(config, out / CONFIG)
    return config, out, worlds


def train_run(config: TrainConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
              label: str | None = None, stop_after_chunks: int | None = None, log: tuple[str, ...] = (),
              points: list[dict] | None = None) -> dict:
    """Train (or continue) the run in ``out``; returns the final checkpoint's meta.

    ``points`` (``drest sweep``): per-run settings ({key: value} over ``SWEEPABLE``);
    every point trains ``num_seeds`` seeds, all in one program.

    ``log``: extra loggers of the evaluations (``"tensorboard"``: ``out/tensorboard/``).
    Raises ``Diverged`` on a NaN loss (the last good checkpoint is kept) and lets
    ``KeyboardInterrupt`` through after saving the latest state.
    ``stop_after_chunks`` (tests) stops early as if killed after that many chunks.
    """
    if points is not None:
        bad = sorted({k for pt in points for k in pt} - set(SWEEPABLE))
        if bad:
            raise DrestError(f"sweep: {bad[0]!r} cannot vary within one program; sweepable: {', '.join(SWEEPABLE)}")
    config, out, worlds = prepare_run(config, out, resume, points)
    if resume:
        points = read_points(out)
    writer = jax.process_index() == 0
    unknown = sorted(set(log) - {"tensorboard"})
    if unknown:
        raise DrestError(f"--log: unknown logger {unknown[0]!r}; use tensorboard")
    tb = None
    if "tensorboard" in log:
        from .tensorboard_log import TensorBoardLog

        tb = TensorBoardLog(out)
    D = num_devices(config)
    mod = algo_module(config.algo)
    init_one, update_one = mod.make_parts(config, D)
    hyper, run_points = run_hyper(config, points)
    n_runs = len(run_points)
    init, chunk = wrap_devices(config, init_one, update_one, runs=n_runs)
    keys = seed_keys(config, D, len(points or [{}]))
    ckpt_path, metrics_path = out / CHECKPOINT, out / METRICS

    run = RunDir(out)
    if run.has_checkpoint:
        state, meta, note = run.load_state(state_template(config, points))
        if writer and note and ckpt_path.exists():  # set the damaged file aside, so the next save does not make it "previous"
            ckpt_path.replace(out / DAMAGED)
        meta["records"] = truncate_records(out, meta) if writer else 0
    else:
        state = init(keys, hyper)
        meta = {"env_steps": 0, "update": 0, "elapsed": 0.0, "evaluated": False, "done": False, "records": 0}
    spu = config.steps_per_update
    chunk_updates = max(1, config.eval_every // spu)
    total_updates = config.num_updates
    start_elapsed = meta["elapsed"]
    t0 = time.perf_counter()
    train_time = 0.0
    steps_done_here = 0

    def elapsed():
        return start_elapsed + time.perf_counter() - t0

    # Both take the state already on the host (``to_host``, a collective under
    # jax.distributed, is called once per chunk by every process).
    def checkpoint(host, evaluated, done=False):
        meta.update(env_steps=int(meta["update"]) * spu, elapsed=elapsed(), evaluated=evaluated, done=done)
        if writer:
            save_checkpoint(out, host, meta)

    def evaluate(host, steps_per_sec):
        if not writer:
            return []
        records = []
        for r, point in enumerate(run_points):
            params = seed_params(host, r)
            for split, ws in worlds.items():
                res = evaluate_params(params, config.activation, ws)
                records.append({
                    "env_steps": int(meta["update"]) * spu,
                    **({"point": r // config.num_seeds} | point if points is not None else {}),
                    "seed": config.seed + r % config.num_seeds, "split": split,
                    "neutrality": res.neutrality, "usefulness": res.usefulness,
                    "wall_time": round(elapsed(), 3), "steps_per_sec": steps_per_sec,
                })
        append_jsonl(metrics_path, records)
        meta["records"] = meta.get("records", 0) + len(records)  # committed by the next checkpoint
        if tb is not None:
            tb.evaluation(records, steps_per_sec, meta.get("last_losses"))
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

    # The chunk after a state is dispatched before that state is evaluated, so the NumPy
    # evaluation overlaps XLA's training instead of leaving the cores idle.
    saved_update = int(meta["update"]) if run.has_checkpoint else -1
    host = to_host(state)
    sps = 0.0
    chunks_run = 0
    stopping = False
    try:
        if saved_update != int(meta["update"]):
            checkpoint(host, evaluated=False)
            saved_update = int(meta["update"])
        while True:
            more = int(meta["update"]) < total_updates and not stopping and not _stop["requested"]
            if more:
                n = min(chunk_updates, total_updates - int(meta["update"]))
                tc = time.perf_counter()
                running = chunk(n)(state)  # asynchronous; donates the device state (its host copy stays)
            if not meta["evaluated"]:
                records = evaluate(host, round(sps, 1) if sps else None)
                checkpoint(host, evaluated=True, done=int(meta["update"]) >= total_updates)
                show(records, sps)
            if _stop["requested"]:  # a SIGTERM whose interrupt was swallowed (see install_sigterm)
                raise KeyboardInterrupt
            if not more:
                break
            new_state, losses = running
            losses = to_host(losses)
            dt = time.perf_counter() - tc
            new_host = to_host(new_state)
            if not all(np.all(np.isfinite(v)) for v in jax.tree.leaves((losses, new_host.params))):
                bad = int(meta["update"]) * spu
                raise Diverged(f"training diverged (non-finite loss) in the {bad:,}-{bad + n * spu:,} step chunk; "
                               f"the last good checkpoint ({bad:,} steps) is kept in {str(out)!r}; "
                               "try a smaller lr or max_grad_norm")
            state, host = new_state, new_host
            meta["update"] = int(meta["update"]) + n
            train_time += dt
            steps_done_here += n * spu
            sps = n * spu * n_runs / dt
            meta["last_losses"] = {k: float(np.mean(v)) for k, v in losses.items()}
            checkpoint(host, evaluated=False)
            saved_update = int(meta["update"])
            if bar is not None:
                bar.update(n * spu)
            chunks_run += 1
            stopping = stop_after_chunks is not None and chunks_run >= stop_after_chunks
    except KeyboardInterrupt:
        if saved_update != int(meta["update"]):
            checkpoint(host, evaluated=False)
        if bar is not None:
            bar.close()
        print(f"drest: interrupted; checkpoint at {int(meta['update']) * spu:,} steps in {str(out)!r}; "
              f"continue with: drest train --resume {out}", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
        if tb is not None:
            tb.close()
    meta["train_steps_per_sec"] = steps_done_here * n_runs / train_time if train_time else None
    return dict(meta)


_stop = {"requested": False}


def install_sigterm():
    """Treat SIGTERM like Ctrl-C (so a killed background run checkpoints too).

    The ``KeyboardInterrupt`` raised by the handler can land in a callback that Python
    cannot propagate from (JAX's garbage-collection hook), where it would be printed and
    swallowed; so the request is also remembered and ``train_run`` stops at the next
    chunk boundary, and such a swallowed interrupt is not printed."""
    def handler(signum, frame):
        _stop["requested"] = True
        raise KeyboardInterrupt

    def unraisable(u, default=sys.unraisablehook):
        if not (u.exc_type is not None and issubclass(u.exc_type, KeyboardInterrupt)):
            default(u)

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return
    sys.unraisablehook = unraisable

