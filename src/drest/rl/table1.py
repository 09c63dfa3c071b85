"""`drest reproduce table1`: the four deep-RL configurations of the paper's Table 1.

PPO and A2C, each with the DReST reward and the default reward, ``seeds`` seeds
each, ``steps`` env steps per run, evaluated exactly on the test bank (and the
train bank, for the train-test gap). Each configuration is a run directory under
``out``; re-running the same command resumes unfinished runs and skips finished
ones. The table is printed beside the published one and written as
``table1.md`` and ``table1.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DrestError
from .config import resolve
from .runs import CHECKPOINT, mean_sd, read_meta, read_metrics, read_run_config, train_run

CONFIGS = [("ppo", "drest"), ("ppo", "default"), ("a2c", "drest"), ("a2c", "default")]

# method.md section 5 (test set, 100M env steps, 5 seeds); train values where published
PAPER = {
    ("ppo", "default"): {"test_n": (0.0, None), "test_u": (0.667, 0.016), "train_u": 0.947, "train_n": None},
    ("a2c", "default"): {"test_n": (0.0, None), "test_u": (0.635, 0.014), "train_u": 0.911, "train_n": None},
    ("ppo", "drest"): {"test_n": (0.747, 0.008), "test_u": (0.742, 0.004), "train_u": 0.886, "train_n": 0.845},
    ("a2c", "drest"): {"test_n": (0.769, 0.013), "test_u": (0.742, 0.006), "train_u": 0.921, "train_n": 0.839},
}


def run_name(algo: str, reward: str) -> str:
    return f"{algo}-{reward}"


def reproduce_table1(out: Path, steps: int, seeds: int, overrides: dict | None = None, progress: bool = True) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for algo, reward in CONFIGS:
        run_dir = out / run_name(algo, reward)
        meta = read_meta(run_dir) if (run_dir / CHECKPOINT).exists() else None
        if meta is not None:
            stored = read_run_config(run_dir)
            if stored.total_steps != steps or stored.num_seeds != seeds:
                raise DrestError(f"reproduce: {str(run_dir)!r} was started with {stored.total_steps:,} steps and "
                                 f"{stored.num_seeds} seeds; use the same --steps/--seeds or another --out")
            if meta.get("done"):
                continue
            train_run(None, run_dir, resume=True, progress=progress, label=run_name(algo, reward))
        else:
            d = {**(overrides or {}), "algo": algo, "reward": reward, "total_steps": steps, "num_seeds": seeds}
            d.setdefault("eval_every", max(steps // 20, 1))
            config = resolve(d)
            if run_dir.exists() and any(run_dir.iterdir()):
                for p in run_dir.iterdir():  # an aborted start (config written, no checkpoint yet)
                    p.unlink()
            train_run(config, run_dir, progress=progress, label=run_name(algo, reward))
    table = summarise(out)
    print(table["markdown"])
    return table


def summarise(out: Path) -> dict:
    """Table 1 from the runs' last evaluations (test and train banks), beside the paper's."""
    rows = []
    for algo, reward in CONFIGS:
        recs = read_metrics(Path(out) / run_name(algo, reward))
        if not recs:
            continue
        last = max(r["env_steps"] for r in recs)
        row = {"algo": algo, "reward": reward, "env_steps": last}
        for split in ("test", "train"):
            rs = [r for r in recs if r["env_steps"] == last and r["split"] == split]
            if rs:
                row[f"{split}_neutrality"] = mean_sd([r["neutrality"] for r in rs])
                row[f"{split}_usefulness"] = mean_sd([r["usefulness"] for r in rs])
                row["seeds"] = len(rs)
        rows.append(row)

    def fmt(ms):
        return "n/a" if ms is None else (f"{ms[0]:.3f}" if not ms[1] else f"{ms[0]:.3f} ± {ms[1]:.3f}")

    lines = [
        "| agent | steps | NEUTRALITY (ours) | NEUTRALITY (paper) | USEFULNESS (ours) | USEFULNESS (paper) "
        "| train USEFULNESS (ours / paper) | train-test USEFULNESS gap (ours / paper) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        p = PAPER[(row["algo"], row["reward"])]
        tu, tr = row.get("test_usefulness"), row.get("train_usefulness")
        gap = f"{tr[0] - tu[0]:.3f}" if tu and tr else "n/a"
        lines.append(
            f"| {row['algo'].upper()} {'DReST' if row['reward'] == 'drest' else 'default'} | {row['env_steps']:,} "
            f"| {fmt(row.get('test_neutrality'))} | {fmt(p['test_n'])} | {fmt(tu)} | {fmt(p['test_u'])} "
            f"| {fmt(tr)} / {p['train_u']:.3f} | {gap} / {p['train_u'] - p['test_u'][0]:.3f} |")
    md = "\n".join(lines) + "\n"
    table = {"rows": rows, "paper": {f"{a}-{r}": v for (a, r), v in PAPER.items()}, "markdown": md}
    (Path(out) / "table1.md").write_text("# Table 1 (test bank unless noted; mean ± sd over seeds)\n\n" + md)
    (Path(out) / "table1.json").write_text(json.dumps({k: v for k, v in table.items() if k != "markdown"}, indent=2))
    return table
