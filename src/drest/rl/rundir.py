"""A run directory, read and written in one place: ``RunDir(path)``.

    config.yaml          the resolved configuration (written atomically before training starts)
    metrics.jsonl        one record per evaluation per seed per split
    checkpoint.npz       the full runner state of every seed (parameters, optimiser state,
                         env state, observations, PRNG keys, update counter) as NumPy arrays
                         plus a JSON ``meta`` entry
    checkpoint.prev.npz  the checkpoint before it, to fall back on if the latest is damaged
    sweep.json           (``drest sweep`` only) the grid's points: each run's settings

The commit point: an evaluation's records are appended (and fsynced) first, then a
checkpoint whose meta counts the records written so far (``records``). A record past
that count was never committed -- the process died between the two writes -- so readers
ignore it and a resumed run cuts the file back to the count before evaluating again.
Whatever instant the process dies, the log and the checkpoint agree.

``RunDir`` is what every reader uses (``drest eval``, ``drest train --resume``, Table 1,
the report, ``results/`` scripts)::

    run = RunDir("runs/ppo-drest")
    run.config                      # TrainConfig
    run.latest("test")              # the records of the latest test evaluation (one per seed)
    run.summary("test")             # {"env_steps", "seeds", "neutrality": (mean, sd), "usefulness": ...}
    policy, steps = run.policy(0)   # seed 0's policy at the checkpoint
    run.write_eval("paper-test", ("exact", "paper"))  # every seed on a bank -> eval_paper-test.json
"""

from __future__ import annotations

import json
import sys
import zipfile
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import DrestError
from ..io import atomic_open, read_jsonl, write_atomic
from .config import TrainConfig, from_dict, hidden_str, read_config_file

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.npz"
PREVIOUS = "checkpoint.prev.npz"
DAMAGED = "checkpoint.damaged.npz"
SWEEP = "sweep.json"
SPLITS = ("train", "test")
METRIC_NAMES = ("neutrality", "usefulness")


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample sd (ddof 1; 0 for one value)."""
    v = np.asarray(values, float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def read_run_config(run_dir: Path) -> TrainConfig:
    p = Path(run_dir) / CONFIG
    if not p.exists():
        raise DrestError(f"run: {str(run_dir)!r} has no {CONFIG}; is it a drest run directory?")
    try:
        return from_dict(read_config_file(p, label="run"))
    except DrestError as exc:  # never train or measure with something other than the config written
        raise DrestError(f"{exc} (the run's {CONFIG} is damaged or was never written complete; "
                         "start the run again in a new directory)") from None


# -- checkpoint files -----------------------------------------------------------
def save_checkpoint(run_dir: Path, state, meta: dict) -> None:
    """Write the checkpoint atomically; the one it replaces becomes ``checkpoint.prev.npz``."""
    import jax

    arrays = dict(_stored(f"leaf_{i:04d}", np.asarray(x)) for i, x in enumerate(jax.tree.leaves(state)))
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with atomic_open(Path(run_dir) / CHECKPOINT, "wb", backup=Path(run_dir) / PREVIOUS) as f:
        np.savez(f, **arrays)


def _stored(name: str, x: np.ndarray) -> tuple[str, np.ndarray]:
    # Parameters and optimiser state carry the mesh's leading device axis with identical
    # copies; storing one (named ``_x<copies>``) halves a two-device checkpoint.
    if x.ndim and x.shape[0] > 1 and np.array_equal(x, np.broadcast_to(x[:1], x.shape)):
        return f"{name}_x{x.shape[0]}", x[:1]
    return name, x


def _leaf(z, name: str) -> np.ndarray:
    if name in z.files:
        return z[name]
    once = next(f for f in z.files if f.startswith(f"{name}_x"))  # none: a damaged file (caught below)
    return np.repeat(z[once], int(once.rpartition("_x")[2]), axis=0)


def _read_npz(path: Path, n_leaves: int | None):
    """(meta, leaves or None). Any damage (truncated, empty, bit-flipped: zip CRCs) raises DrestError."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip() if n_leaves is not None else None
        if bad is not None:
            raise ValueError(f"bad CRC in {bad}")
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            leaves = None if n_leaves is None else [_leaf(z, f"leaf_{i:04d}") for i in range(n_leaves)]
        if not isinstance(meta, dict) or not isinstance(meta.get("update"), int):
            raise ValueError("no valid meta entry")
    except Exception as exc:  # noqa: BLE001 - every way a file can be damaged is one line
        raise DrestError(f"{str(path)!r} is damaged ({type(exc).__name__}: {str(exc)[:80]})") from None
    return meta, leaves


def read_points(run_dir: Path) -> list[dict] | None:
    """A sweep's points (``sweep.json``), or None for a plain run."""
    p = Path(run_dir) / SWEEP
    return json.loads(p.read_text())["points"] if p.exists() else None


def run_hyper(config: TrainConfig, points: list[dict] | None):
    """Per-run settings ([R] arrays, R = points x seeds, point-major) and each run's point."""
    import jax

    from .common import hyper_of

    runs = [pt for pt in (points or [{}]) for _ in range(config.num_seeds)]
    return jax.tree.map(lambda *v: np.stack(v), *[hyper_of(config, **pt) for pt in runs]), runs


def state_template(config: TrainConfig, points: list[dict] | None = None):
    """The runner state's shapes for ``config`` (``jax.eval_shape``; nothing is computed, and no
    devices are needed: a run trained on several loads anywhere). Its per-run settings
    (``hyper``) are concrete: a checkpoint from before they were stored takes them from here."""
    import jax

    from .common import seed_keys
    from .runs import algo_module

    D = config.devices or 1
    init_one, _ = algo_module(config.algo).make_parts(config, D)
    hyper, _ = run_hyper(config, points)
    hyper = jax.tree.map(lambda v: np.broadcast_to(v, (D, *v.shape)).copy(), hyper)

    def init(keys, hyper):  # [D, R] leading axes, the device axis bound as on the mesh
        return jax.vmap(jax.vmap(init_one, axis_name="dev"), in_axes=1, out_axes=1)(keys, hyper)

    shapes = jax.eval_shape(init, seed_keys(config, D, len(points or [{}])), hyper)
    return shapes._replace(hyper=hyper)


def seed_params(state, seed_index: int):
    """The parameters of one run (a seed; in a sweep, point x seed) from device 0's copy, as NumPy."""
    import jax

    return jax.tree.map(lambda x: np.asarray(x[0, seed_index]), state.params)


# -- records ------------------------------------------------------------------
def _committed(records: list[dict], meta: dict | None) -> list[dict]:
    """The records a checkpoint stands for (see the module doc)."""
    if meta is None:
        return records
    if "records" in meta:
        return records[: meta["records"]]
    # checkpoints written before the count: the evaluation at the checkpoint's own step
    # counts only if the checkpoint says it was done
    steps = meta["env_steps"]
    return [r for r in records if r["env_steps"] < steps or (r["env_steps"] == steps and meta.get("evaluated"))]


def unique_records(records: list[dict], source: str) -> list[dict]:
    """Records with one per (seed, env_steps, split): an exact repeat (a re-evaluation after
    a resume by an older drest) is dropped; a repeat with other numbers is refused."""
    seen: dict[tuple, dict] = {}
    out = []
    for r in records:
        try:
            key = (r["seed"], r["env_steps"], r["split"], r.get("point"))  # point: a sweep's
            values = tuple(float(r[m]) for m in METRIC_NAMES)
        except (KeyError, TypeError, ValueError):
            raise DrestError(f"{source}: a record lacks seed/env_steps/split/neutrality/usefulness: {r}") from None
        if key in seen:
            if tuple(float(seen[key][m]) for m in METRIC_NAMES) != values:
                raise DrestError(f"{source}: two different records for seed {key[0]}, {key[1]:,} env steps, "
                                 f"split {key[2]!r}; the file mixes two runs")
            continue
        seen[key] = r
        out.append(r)
    return out


def truncate_records(run_dir: Path, meta: dict) -> int:
    """On resume: cut ``metrics.jsonl`` back to the records ``meta``'s checkpoint committed
    (lines past them -- a torn or garbage line included -- are dropped unread); returns their number."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return 0
    records = read_jsonl(path, torn_tail_ok=True, limit=meta.get("records"))
    if len(records) < meta.get("records", 0):
        raise DrestError(f"{str(path)!r} holds {len(records)} records but the checkpoint counts {meta['records']}; "
                         "the log was damaged: start the run again in a new directory")
    keep = _committed(records, meta)
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in keep))
    return len(keep)


# -- the run directory ----------------------------------------------------------
class RunDir:
    """A ``drest train`` run directory (see the module doc). Readers never modify it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / CONFIG).exists():
            raise DrestError(f"run: {str(self.path)!r} has no {CONFIG}; is it a drest run directory "
                             "(drest train --out)?")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @cached_property
    def config(self) -> TrainConfig:
        return read_run_config(self.path)

    @property
    def agent(self) -> tuple[str, str]:
        return self.config.algo, self.config.reward

    @property
    def network(self) -> str:
        """Actor / critic hidden layers as ``--set`` takes them: "3x256 / 3x256"."""
        return f"{hidden_str(self.config.actor_hidden)} / {hidden_str(self.config.critic_hidden)}"

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists() or (self.path / PREVIOUS).exists()

    # checkpoints
    def _checkpoint(self, n_leaves: int | None) -> tuple[dict, list | None, str | None]:
        """(meta, leaves, note): the latest checkpoint, or the previous one if the latest is
        damaged (``note`` says so); DrestError if neither is readable."""
        latest, prev = self.path / CHECKPOINT, self.path / PREVIOUS
        if not latest.exists() and not prev.exists():
            raise DrestError(f"run: {str(self.path)!r} has no checkpoint yet")
        problem = None
        if latest.exists():
            try:
                return (*_read_npz(latest, n_leaves), None)
            except DrestError as exc:
                problem = str(exc)
        if prev.exists():
            try:
                meta, leaves = _read_npz(prev, n_leaves)
            except DrestError as exc:
                if problem is None:
                    raise
                raise DrestError(f"{problem}, and so is the previous checkpoint ({exc}); "
                                 "start the run again in a new directory") from None
            note = (f"{problem}; using the previous checkpoint ({meta['env_steps']:,} env steps)" if problem
                    else None)  # died between moving the old checkpoint aside and writing the new one
            return meta, leaves, note
        raise DrestError(f"{problem}; there is no previous checkpoint to fall back on: "
                         "start the run again in a new directory")

    def _stored_leaves(self) -> int | None:
        path = self.path / CHECKPOINT if (self.path / CHECKPOINT).exists() else self.path / PREVIOUS
        try:
            with zipfile.ZipFile(path) as z:
                return sum(1 for n in z.namelist() if n.startswith("leaf_"))
        except (OSError, zipfile.BadZipFile):
            return None

    @cached_property
    def meta(self) -> dict | None:
        """The checkpoint's meta (``env_steps``, ``update``, ``done``, ...), None before the first."""
        if not self.has_checkpoint:
            return None
        return self._checkpoint(None)[0]

    def load_state(self, template=None, *, fallback: str = "warn"):
        """(runner state, meta) of the checkpoint. ``fallback``: "warn" prints a line and uses
        the previous checkpoint if the latest is damaged; "error" refuses instead."""
        import jax

        template = state_template(self.config, read_points(self.path)) if template is None else template
        leaves_t, treedef = jax.tree.flatten(template)
        # a checkpoint written before per-run settings were stored lacks the last leaves (``hyper``)
        hyper = jax.tree.leaves(getattr(template, "hyper", None))
        legacy = bool(hyper) and all(isinstance(h, np.ndarray) for h in hyper) and \
            self._stored_leaves() == len(leaves_t) - len(hyper)
        meta, leaves, note = self._checkpoint(len(leaves_t) - len(hyper) if legacy else len(leaves_t))
        if legacy:
            leaves = [*leaves, *hyper]
        if note and fallback == "error":
            raise DrestError(f"{note.split('; using')[0]}; the previous checkpoint ({meta['env_steps']:,} env "
                             f"steps) is intact: drest train --resume {self.path} continues from it")
        for a, t in zip(leaves, leaves_t):
            if a.shape != t.shape:
                raise DrestError(f"checkpoint: {str(self.path / CHECKPOINT)!r} does not match the run's config "
                                 f"(array of shape {a.shape}, expected {t.shape})")
        if note:
            print(f"drest: warning: {note}", file=sys.stderr)
        return jax.tree.unflatten(treedef, leaves), meta, note

    def policy(self, seed_index: int = 0):
        """(policy, env steps): ``policy(obs[B, obs_size]) -> probs[B, 4]`` of one seed at the checkpoint."""
        from .runs import make_policy

        state, meta, _ = self.load_state(fallback="error")
        return make_policy(seed_params(state, seed_index), self.config.activation), int(meta["env_steps"])

    def evaluate(self, bank: str, instruments=("exact",)) -> list[dict]:
        """Metrics of each seed's policy at the checkpoint on ``bank`` (a name or file), one row
        per seed and instrument (``drest.metrics``: "exact", or "paper" for the release's evaluator)."""
        from ..worlds import load_bank
        from .runs import evaluate_params

        worlds = load_bank(bank)
        check_bank_shape(self.config, worlds, "--bank", bank)
        state, meta, _ = self.load_state(fallback="error")
        out = []
        for instrument in instruments:
            for s in range(self.config.num_seeds):
                res = evaluate_params(seed_params(state, s), self.config.activation, worlds, instrument)
                out.append({"seed": self.config.seed + s, "env_steps": meta["env_steps"], "bank": bank,
                            "instrument": instrument, "neutrality": res.neutrality, "usefulness": res.usefulness})
        return out

    def eval_path(self, bank: str) -> Path:
        """Where ``write_eval`` keeps the checkpoint's scores on ``bank``: ``eval_<bank name>.json``."""
        return self.path / f"eval_{Path(str(bank)).stem.replace('/', '_')}.json"

    def write_eval(self, bank: str, instruments=("exact",)) -> dict:
        """``evaluate`` on ``bank`` with mean ± sd per instrument, written to ``eval_path`` and returned."""
        rows = self.evaluate(bank, instruments)
        summary = {}
        for instrument in instruments:
            rs = [r for r in rows if r["instrument"] == instrument]
            summary[instrument] = {m: list(mean_sd([r[m] for r in rs])) for m in METRIC_NAMES}
        # top-level neutrality/usefulness: the exact instrument's, where it was run
        data = {"bank": bank, "env_steps": rows[0]["env_steps"], "seeds": rows, **summary.get("exact", {}),
                "instruments": summary}
        write_atomic(self.eval_path(bank), json.dumps(data, indent=2))
        return data

    def read_eval(self, bank: str) -> dict | None:
        """What ``write_eval`` wrote for ``bank``, or None (none yet, or unreadable: score again)."""
        try:
            data = json.loads(self.eval_path(bank).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # records
    @cached_property
    def records(self) -> list[dict]:
        """The committed evaluation records, one per (seed, env_steps, split)."""
        path = self.path / METRICS
        meta = self.meta
        limit = meta.get("records") if meta else None
        recs = read_jsonl(path, torn_tail_ok=meta is not None, limit=limit)
        return unique_records(_committed(recs, meta), str(path))

    def latest(self, split: str) -> list[dict]:
        """The records of ``split`` at its latest evaluation (one per seed)."""
        rs = [r for r in self.records if r["split"] == split]
        if not rs:
            return []
        last = max(r["env_steps"] for r in rs)
        return [r for r in rs if r["env_steps"] == last]

    def summary(self, split: str) -> dict | None:
        """``{"env_steps", "seeds", "neutrality": (mean, sd), "usefulness": (mean, sd)}`` at the
        latest evaluation of ``split``, or None if it has none."""
        rs = self.latest(split)
        if not rs:
            return None
        return {"env_steps": rs[0]["env_steps"], "seeds": len(rs),
                **{m: mean_sd([r[m] for r in rs]) for m in METRIC_NAMES}}


def check_bank_shape(config: TrainConfig, worlds, flag: str, bank) -> None:
    """A bank of another grid size than the run's network reads is one line, not a JAX shape error."""
    from .common import make_env

    want = tuple(make_env(config).grid_shape)
    got = worlds[0].shape if worlds else want
    if tuple(got) != want:
        raise DrestError(f"{flag}: {bank} holds {got[0]}x{got[1]} worlds, but drest.rl runs play "
                         f"{want[0]}x{want[1]} worlds; give a bank of {want[0]}x{want[1]} worlds")
