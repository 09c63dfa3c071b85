"""The device mesh, multi-process training (jax.distributed over gloo) and `drest sweep`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drest.cli import main
from drest.rl.rundir import RunDir

TINY = dict(num_envs=16, num_steps=16, num_minibatches=2, actor_hidden=[16], critic_hidden=[16],
            eval_banks=["train", "test"], test_bank="paper-val", eval_every=16 * 16 * 2)
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _sets(d):
    return [f"--set={k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in d.items()]


def _numbers(run_dir, **match):
    recs = [r for r in RunDir(run_dir).records if all(r.get(k) == v for k, v in match.items())]
    return [(r["env_steps"], r["seed"], r["split"], r["neutrality"], r["usefulness"]) for r in recs]


def test_sweep_point_equals_a_single_run_and_resumes(tmp_path, capsys):
    """A 2 x 1 grid (lam, M) trained as one program, killed after one chunk and resumed:
    each point's numbers equal a plain `drest train` of that point and seed (to float32
    rounding: XLA rounds a vmapped matmul differently; measured differences ~1e-10)."""
    from drest.rl import sweep
    from drest.rl.config import from_dict

    steps = 16 * 16 * 4
    cfg = from_dict({**TINY, "total_steps": steps})
    out = tmp_path / "sweep"
    points = sweep.grid_points(["lam=0.6,0.9", "meta_episode_size=4"])
    assert points == [{"lam": 0.6, "meta_episode_size": 4}, {"lam": 0.9, "meta_episode_size": 4}]
    sweep.run_sweep(cfg, out, points, progress=False, stop_after_chunks=1)
    assert RunDir(out).meta["update"] == 2
    summary = sweep.run_sweep(cfg, out, points, progress=False)  # resumes
    assert RunDir(out).meta["done"]
    for i, pt in enumerate(points):
        single = tmp_path / f"single{i}"
        argv = ["train", "--out", str(single), "--no-progress", "--steps", str(steps)]
        assert main(argv + _sets({**TINY, **pt})) == 0
        ours, alone = _numbers(out, point=i), _numbers(single)
        assert [r[:3] for r in ours] == [r[:3] for r in alone] and len(ours) == 3 * 2
        assert [v for r in ours for v in r[3:]] == pytest.approx([v for r in alone for v in r[3:]], abs=1e-6)
    # the two points differ, and the summary carries the final numbers beside the paper's
    assert _numbers(out, point=0)[-1] != _numbers(out, point=1)[-1]
    row = summary["rows"][1]
    assert row["test_neutrality"] == _numbers(out, point=1, split="test")[-1][3]
    text = (out / "summary.md").read_text()
    assert "| 0.9 | 4 |" in text and (out / "heatmap.svg").exists()
    # and the HTML report shows the sweep's heatmap beside the paper's
    from drest.report.build import build_report

    page = build_report([out], tmp_path / "r.html").read_text()
    assert '<section id="sweep">' in page and "validation-bank NEUTRALITY" in page


def test_sweep_refuses_a_setting_that_needs_recompiling(capsys):
    assert main(["sweep", "--out", "x", "--grid", "num_envs=8,16"]) == 2
    err = capsys.readouterr().err.strip()
    assert "num_envs" in err and "sweepable" in err and "\n" not in err


def test_paper_points_are_the_releases_26():
    from drest.rl.sweep import paper_points

    pts = paper_points()
    assert len(pts) == 26 and pts[0] == {"lam": 0.89, "meta_episode_size": 32}
    assert sorted({p["meta_episode_size"] for p in pts}) == [4, 8, 16, 32, 64]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_under_jax_distributed_match_one_process(tmp_path):
    """Two CPU processes (one device each, gloo collectives) train one run whose envs are split
    over both; the numbers equal one process with two local devices, same seed and mesh."""
    steps = 16 * 16 * 4
    base = [sys.executable, "-m", "drest.cli", "train", "--no-progress", "--steps", str(steps), "--seeds", "2"]
    base += _sets({**TINY, "devices": 2})
    env = {**os.environ, "PYTHONPATH": SRC, "JAX_PLATFORMS": "cpu"}

    one = subprocess.run(base + ["--out", str(tmp_path / "one")], capture_output=True, text=True, timeout=600,
                         env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert one.returncode == 0, one.stderr[-2000:]

    port = _free_port()
    procs = [subprocess.Popen(base + ["--out", str(tmp_path / "two"), "--coordinator", f"127.0.0.1:{port}",
                                      "--num-processes", "2", "--process-id", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"})
             for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    two = _numbers(tmp_path / "two")
    assert two == _numbers(tmp_path / "one") and len(two) == 3 * 2 * 2
    # the evaluated policies learned something different per seed, not copies
    assert two[-1][3] != two[-2][3]
    for run in ("one", "two"):  # parameters and optimiser state: one copy stored, not one per device
        with np.load(tmp_path / run / "checkpoint.npz") as z:
            assert sum(f.endswith("_x2") for f in z.files) >= 18, z.files
