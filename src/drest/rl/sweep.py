"""`drest sweep`: a grid of settings x seeds trained as ONE program, resumable.

The settings a sweep may vary (``common.SWEEPABLE``: DReST lambda, M, lr, entropy
coefficient, GAE lambda) are traced per-run values in the runner state, so every
point and seed is one vmapped run of the same compiled program (no recompilation
per point), split over the device mesh's "run" axis. The run directory is an
ordinary one (``drest.rl.runs``) plus ``sweep.json`` (the points); re-running the
same command resumes it. ``summary.md`` and ``heatmap.svg`` put the final
validation-bank numbers beside the paper's sweep (``--paper``: its 26 (lambda, M)
points, 20M steps each, "test" columns = the 96-world validation bank).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..errors import DrestError
from .common import SWEEPABLE
from .config import FIELDS, TrainConfig
from .rundir import CHECKPOINT, RunDir, read_points
from .runs import train_run

SUMMARY = "summary.md"
HEATMAP = "heatmap.svg"


def paper_points() -> list[dict]:
    """The paper's 26 (lam, meta_episode_size) points, in its CSV's order."""
    from ..paper import paper_sweep_rows

    return [{"lam": r["lam"], "meta_episode_size": r["meta_episode_size"]} for r in paper_sweep_rows()]


def grid_points(specs: list[str]) -> list[dict]:
    """``["lam=0.5,0.9", "meta_episode_size=4,8"]`` -> the cartesian product, as point dicts."""
    axes = []
    for spec in specs:
        key, _, values = spec.partition("=")
        key = key.strip()
        if key not in SWEEPABLE:
            raise DrestError(f"--grid: {key!r} cannot vary within one program; sweepable: {', '.join(SWEEPABLE)}")
        vals = [FIELDS[key].metadata["parse"](key, v) for v in values.split(",") if v.strip()]
        if not vals:
            raise DrestError(f"--grid: expected KEY=v1,v2,..., got {spec!r}")
        axes.append([(key, v) for v in vals])
    return [dict(c) for c in itertools.product(*axes)]


def check_points(config: TrainConfig, points: list[dict]) -> None:
    """Each point must be a valid config on its own (one line naming the field otherwise)."""
    if not points:
        raise DrestError("sweep: no points; give --paper or --grid KEY=v1,v2")
    for pt in points:
        config.replace(**pt)


def run_sweep(config: TrainConfig, out: Path, points: list[dict] | None, progress: bool = True,
              stop_after_chunks: int | None = None) -> dict:
    """Train (or resume) the sweep in ``out`` and write its summary; returns the summary."""
    out = Path(out)
    resume = (out / CHECKPOINT).exists()
    if resume:
        stored = read_points(out)
        if points is not None and stored != points:
            raise DrestError(f"sweep: {str(out)!r} holds a sweep over other points; use the same grid or another --out")
        config = RunDir(out).config
    else:
        check_points(config, points)
    train_run(config, out, resume=resume, progress=progress, label="sweep", points=points,
              stop_after_chunks=stop_after_chunks)
    return write_summary(out)


def final_table(out: Path) -> list[dict]:
    """Per point: the settings and mean final train/test NEUTRALITY and USEFULNESS over seeds."""
    recs = RunDir(out).records
    points = read_points(out) or []
    if not recs:
        return []
    last = max(r["env_steps"] for r in recs)
    rows = []
    for i, pt in enumerate(points):
        row = {**pt, "env_steps": last}
        for split in ("train", "test"):
            rs = [r for r in recs if r["env_steps"] == last and r.get("point") == i and r["split"] == split]
            if rs:
                row[f"{split}_neutrality"] = float(np.mean([r["neutrality"] for r in rs]))
                row[f"{split}_usefulness"] = float(np.mean([r["usefulness"] for r in rs]))
        rows.append(row)
    return rows


def write_summary(out: Path) -> dict:
    """summary.md (ours beside the paper's at the same (lam, M)) and heatmap.svg."""
    from ..paper import paper_sweep_rows

    out = Path(out)
    run = RunDir(out)
    config = run.config
    rows = final_table(out)
    paper = {(r["lam"], r["meta_episode_size"]): r for r in paper_sweep_rows()}
    meta = run.meta
    wall = meta["elapsed"] if meta else None  # summed over invocations: compile, training and evaluation
    lines = [f"# DReST lambda x M sweep ({config.algo.upper()}, {config.total_steps:,} steps per run, "
             f"{config.num_seeds} seed(s) per point)", "",
             "Evaluated on " + " and ".join(f"{b} ({split})" for split, b in (("train", config.train_bank),
                                                  ("test", config.test_bank)) if split in config.eval_banks)
             + "; paper: 3 x 256 networks, "
             "lr 1e-6, entropy 0.02, its \"test\" = the 96-world validation bank.", "",
             "| lam | M | steps | train N | train U | test N | test U | paper val N | paper val U |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
    for r in rows:
        p = paper.get((r.get("lam", config.lam), r.get("meta_episode_size", config.meta_episode_size)), {})
        lines.append(f"| {r.get('lam', config.lam)} | {r.get('meta_episode_size', config.meta_episode_size)} "
                     f"| {r['env_steps']:,} | {fmt(r.get('train_neutrality'))} | {fmt(r.get('train_usefulness'))} "
                     f"| {fmt(r.get('test_neutrality'))} | {fmt(r.get('test_usefulness'))} "
                     f"| {fmt(p.get('val_neutrality'))} | {fmt(p.get('val_usefulness'))} |")
    if wall is not None:
        lines += ["", f"Wall time: {wall / 3600:.2f} h for all points together (compile, training and "
                  f"evaluation, summed over invocations{'' if meta.get('done') else '; not finished yet'})."]
    (out / SUMMARY).write_text("\n".join(lines) + "\n")
    if rows and all("lam" in r and "meta_episode_size" in r for r in rows):
        heatmap_figure(rows).savefig(out / HEATMAP)
    return {"rows": rows, "wall_time_s": wall}


def heatmap_figure(rows: list[dict]):
    """Test (validation-bank) NEUTRALITY and USEFULNESS over (lam, M): the paper's sweep and ours."""
    from matplotlib.figure import Figure

    from ..paper import paper_sweep_rows

    paper = paper_sweep_rows()
    lams = sorted({r["lam"] for r in paper} | {r["lam"] for r in rows})
    ms = sorted({r["meta_episode_size"] for r in paper} | {r["meta_episode_size"] for r in rows})
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    panels = [(paper, "val", "paper"), (rows, "test", "drest")]
    for col, (data, split, who) in enumerate(panels):
        for row, metric in enumerate(("neutrality", "usefulness")):
            grid = np.full((len(ms), len(lams)), np.nan)
            for r in data:
                v = r.get(f"{split}_{metric}")
                if v is not None:
                    grid[ms.index(r["meta_episode_size"]), lams.index(r["lam"])] = v
            ax = axes[row, col]
            im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=0.4, vmax=1.0)
            for (i, j), v in np.ndenumerate(grid):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
            ax.set_xticks(range(len(lams)), [f"{x:g}" for x in lams], fontsize=7)
            ax.set_yticks(range(len(ms)), [str(m) for m in ms])
            ax.set_xlabel("DReST lambda")
            ax.set_ylabel("M (mini-episodes per meta-episode)")
            ax.set_title(f"{who}: validation-bank {metric.upper()}")
            fig.colorbar(im, ax=ax)
    return fig
