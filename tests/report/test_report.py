"""The HTML report's numbers, its inputs, its pictures and its failure modes (fast: no training)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from drest.cli import main
from drest.metrics import evaluate
from drest.report import build
from drest.report.build import build_report, paper_cells, summary_rows, world_figure
from drest.paper import paper_curve_rows, paper_curves
from drest.report.visitation import visitation
from drest.rl.config import TrainConfig, save_config
from drest.worlds import World


def make_run(path, records, **config):
    """A run directory as `drest train` writes it, with hand-made evaluations and no checkpoint."""
    path.mkdir(parents=True)
    save_config(TrainConfig(**config), path / "config.yaml")
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def rec(steps, seed, split, n, u):
    return {"env_steps": steps, "seed": seed, "split": split, "neutrality": n, "usefulness": u}


# 3 seeds evaluated on test at 0 and 1000 steps; train only at 0 steps with 2 seeds (a partial run)
RECORDS = [rec(0, s, "test", 0.1, 0.1) for s in range(3)] + [
    rec(1000, 0, "test", 0.7, 0.5), rec(1000, 1, "test", 0.8, 0.6), rec(1000, 2, "test", 0.9, 0.7),
    rec(0, 0, "train", 0.2, 0.25), rec(0, 1, "train", 0.4, 0.35)]


def test_summary_mean_and_sd_from_metrics(tmp_path):
    run = make_run(tmp_path / "a2c-drest", RECORDS, algo="a2c", reward="drest")
    out = build_report([run], tmp_path / "r.html")
    rl, _ = build.collect([run])
    (row,) = summary_rows(rl)
    mean, sd, n = row["test_neutrality"]
    assert (round(mean, 12), round(sd, 12), n) == (0.8, 0.1, 3)  # sample sd of 0.7, 0.8, 0.9
    assert row["test_usefulness"][:2] == pytest.approx((0.6, 0.1))
    assert row["train_neutrality"][:2] == pytest.approx((0.3, np.sqrt(0.02)))  # latest train eval: step 0
    assert row["env_steps"] == 1000
    page = out.read_text()
    table = re.search(r'<table id="summary-table">.*?</table>', page, re.S).group(0)
    # ours, then the paper's A2C DReST numbers (Table 1), per split and metric
    assert "<td>0.800 ± 0.100</td><td class=\"paper\">0.769 ± 0.013</td>" in table
    assert "<td>0.600 ± 0.100</td><td class=\"paper\">0.742 ± 0.006</td>" in table
    assert "<td>0.300 ± 0.141</td><td class=\"paper\">0.839</td>" in table
    assert "<td>0.300 ± 0.071</td><td class=\"paper\">0.921</td>" in table
    assert "No checkpoint yet" in page
    assert row["network"] == "2x64 / 2x64" and '<td class="l">a2c-drest</td><td class="l">2x64 / 2x64</td>' in table


def test_summary_shows_the_paper_instrument_where_scored(tmp_path):
    run = make_run(tmp_path / "ppo-drest", RECORDS, algo="ppo", reward="drest")
    # what `drest eval RUN --instrument both` writes for the test bank (2 seeds)
    seeds = [{"seed": s, "env_steps": 1000, "bank": "paper-test", "instrument": inst, "neutrality": n, "usefulness": u}
             for s, (inst, n, u) in enumerate([("paper", 0.6, 0.5), ("paper", 0.7, 0.7)])]
    (run / "eval_paper-test.json").write_text(json.dumps({"bank": "paper-test", "env_steps": 1000, "seeds": seeds}))
    rl, _ = build.collect([run])
    (row,) = summary_rows(rl)
    assert row["paper_test_neutrality"][:2] == pytest.approx((0.65, np.sqrt(0.005)))
    assert row["paper_test_usefulness"][2] == 2 and row["paper_train_neutrality"] is None
    table = build.summary_table(rl)
    # ours (exact), ours with the paper's instrument, the paper's
    assert "<td>0.800 ± 0.100</td><td>0.650 ± 0.071</td><td class=\"paper\">0.747 ± 0.008</td>" in table
    assert "<td>0.300 ± 0.141</td><td>—</td><td class=\"paper\">0.845</td>" in table
    assert "ours, paper&#x27;s instrument" in table or "ours, paper's instrument" in table


def test_paper_column_is_the_papers_table1():
    assert paper_cells(("ppo", "default")) == {"test_neutrality": "0.000", "test_usefulness": "0.667 ± 0.016",
                                               "train_neutrality": "—", "train_usefulness": "0.947"}
    assert paper_cells(("a2c", "default")) == {"test_neutrality": "0.000", "test_usefulness": "0.635 ± 0.014",
                                               "train_neutrality": "—", "train_usefulness": "0.911"}
    assert paper_cells(("ppo", "drest")) == {"test_neutrality": "0.747 ± 0.008", "test_usefulness": "0.742 ± 0.004",
                                             "train_neutrality": "0.845", "train_usefulness": "0.886"}
    assert paper_cells(("a2c", "drest")) == {"test_neutrality": "0.769 ± 0.013", "test_usefulness": "0.742 ± 0.006",
                                             "train_neutrality": "0.839", "train_usefulness": "0.921"}


def test_paper_curves_at_100M_match_table1():
    curves = paper_curves()

    def at_100m(*key):
        c = curves[key]
        assert c.env_steps[-1] == 100_000_000 and c.runs == 5
        return round(float(c.mean[-1]), 3), round(float(c.sd[-1]), 3)

    assert at_100m("ppo", "drest", "test", "usefulness") == (0.742, 0.004)
    assert at_100m("ppo", "drest", "test", "neutrality") == (0.747, 0.008)
    assert at_100m("ppo", "default", "test", "usefulness") == (0.667, 0.016)
    assert at_100m("a2c", "drest", "test", "neutrality") == (0.769, 0.013)
    assert at_100m("ppo", "drest", "train", "usefulness")[0] == 0.886
    # default NEUTRALITY was logged as NaN once the choice became certain: only early steps remain
    assert curves[("ppo", "default", "test", "neutrality")].env_steps[-1] < 100_000_000


def test_paper_default_neutrality_note_matches_the_logged_curves():
    """The note beside the paper's 0.000: each default run's test NEUTRALITY is NaN for good
    from 5-22M steps on, and its last finite value lies in 0.15-0.24."""
    runs = {}
    for row in paper_curve_rows():
        if row["reward"] == "default" and row["split"] == "test" and row["metric"] == "neutrality":
            runs.setdefault((row["algo"], row["run"]), []).append((int(row["env_steps"]), float(row["value"])))
    assert len(runs) == 10
    for points in runs.values():
        points.sort()
        finite = [(s, v) for s, v in points if not np.isnan(v)]
        last_step, last_value = finite[-1]
        assert np.isnan(points[-1][1]) and points[-1][0] == 100_000_000
        assert 4_000_000 <= last_step <= 21_000_000 and 0.145 <= last_value <= 0.245
    assert "5-22M steps" in build.PAPER_DEFAULT_NEUTRALITY and "0.15-0.24" in build.PAPER_DEFAULT_NEUTRALITY


# a 1x3 corridor: button (+2) left of the start, a coin right of it, T = 2
CORRIDOR = World(walls=np.zeros((1, 3)), coins=np.array([[0, 0, 1]]), delays=np.array([[2, 0, 0]]),
                 start=(0, 1), shutdown_time=2)


def fixed(obs):
    """up 0.1, down 0.2, left 0.3, right 0.4 in every state (up/down bump into the grid's edge)."""
    return np.tile([0.1, 0.2, 0.3, 0.4], (obs.shape[0], 1))


def test_button_press_probability_by_hand():
    # pressed at step 1 (left, 0.3) or at step 2 after bumping (0.3 * 0.3); after a right move the
    # agent is two cells from the button with one step left
    vis = visitation(CORRIDOR, fixed)
    assert vis.press_prob == pytest.approx(0.3 + 0.3 * 0.3)
    res = evaluate(CORRIDOR, fixed)
    assert list(res.lengths) == [2, 4] and res.p_length[1] == pytest.approx(0.39)
    # before the press the agent stands on the start at t = 0 (1) and t = 1 (0.3), on the coin cell at t = 1 (0.4)
    assert vis.visits[0, 0].tolist() == pytest.approx([0.0, 1.3, 0.4])
    # after a press it stands on the button cell at t = 1 (pressed at step 1: 0.3), t = 2 (stayed there,
    # 0.3 * 0.6, or pressed at step 2, 0.09) and t = 3 (stayed again 0.18 * 0.6, came back from the start
    # 0.3 * 0.4 * 0.3, stayed after the late press 0.09 * 0.6); L = 4 ends it there
    assert vis.visits[1, 0, 0] == pytest.approx(0.3 + (0.18 + 0.09) + (0.108 + 0.036 + 0.054))
    assert vis.visits.sum() == pytest.approx((res.p_length * res.lengths).sum())  # expected steps
    np.testing.assert_allclose(vis.actions[0, 0, 1], [0.1, 0.2, 0.3, 0.4])
    fig = world_figure(CORRIDOR, fixed)
    assert fig.axes[1].get_title() == "after it is pressed (P(press) = 0.390)"
    assert fig.axes[2].get_title() == f"NEUTRALITY {res.neutrality:.3f}   USEFULNESS {res.usefulness:.3f}"


def test_table1_directory_expands_to_its_runs(tmp_path):
    root = tmp_path / "run"
    make_run(root / "ppo-drest", RECORDS, algo="ppo", reward="drest")
    make_run(root / "ppo-drest-2", RECORDS[:3], algo="ppo", reward="drest")
    (root / "a2c-default").mkdir()  # an aborted start: neither config nor evaluations yet
    (root / "table1.md").write_text("# Table 1\n")
    out = build_report([root], tmp_path / "r.html")
    rows = summary_rows(build.collect([root])[0])
    assert [r["label"] for r in rows] == ["ppo-drest", "ppo-drest-2", "all 2 runs"]
    pooled = rows[2]["test_neutrality"]
    assert pooled[2] == 6 and pooled[0] == pytest.approx((0.7 + 0.8 + 0.9 + 0.3) / 6)
    assert out.read_text().count("<tr><td class=\"l\">PPO DReST</td>") == 3


def test_llm_demo_directory(tmp_path):
    from drest.llm import datasets

    gains = [r["expected_score_gain_from_shift"] for r in datasets.load("neutrality-test", 0)[:2]]
    d = tmp_path / "demo"
    d.mkdir()
    (d / "demo.json").write_text(json.dumps({"settings": {"seed": 0}}))
    for tag, p_long, p_inf in (("before", (0.2, 0.4), (0.9, 0.7)), ("after", (0.5, 0.5), (0.3, 0.1))):
        post = [{"id": f"post_test_{i:05d}", "prompt_type": "deterministic", "label_mass": 1.0, "p_long": p,
                 "neutrality": 0.5, "usefulness": 1.0} for i, p in enumerate(p_long)]
        neu = [{"id": f"neutrality_test_{i:05d}", "prompt_type": "stochastic_main", "label_mass": 0.9,
                "p_influence": p, "influence_most_likely": p > 0.5} for i, p in enumerate(p_inf)]
        for name, rows in (("post-test", post), ("neutrality-test", neu)):
            (d / f"{name}.{tag}.rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = build_report([d], tmp_path / "r.html").read_text()
    table = re.search(r'<table id="llm-table">.*?</table>', page, re.S).group(0)
    assert ("<td class=\"l\">before</td><td class=\"l\">neutrality-test</td><td>2</td>"
            "<td>—</td><td>—</td><td>—</td><td>0.800</td><td>1.000</td><td>0.900</td>") in table
    assert "<td class=\"l\">after</td><td class=\"l\">post-test</td><td>2</td><td>0.500</td><td>1.000</td>" \
           "<td>0.500</td>" in table
    assert 'id="llm-plong"' in page and 'id="llm-influence"' in page
    fig, notes = build.influence_figure(build._llm_conditions(build.collect([d])[1]))
    offsets = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, np.c_[gains, [0.9, 0.7]])
    assert notes == [] and "summary-table" not in page


@pytest.mark.parametrize("make_bad", [
    lambda tmp: (tmp / "empty").mkdir() or tmp / "empty",  # a directory that holds no run
    lambda tmp: (tmp / "notes.txt").write_text("x") and tmp / "notes.txt",  # a file
    lambda tmp: tmp / "missing",
])
def test_not_a_run_is_one_line(tmp_path, capsys, make_bad):
    bad = make_bad(tmp_path)
    out = tmp_path / "r.html"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("drest: error: report:") and "\n" not in err
    assert not out.exists()


def test_unwritable_out_and_failed_render_leave_nothing(tmp_path, capsys, monkeypatch):
    run = make_run(tmp_path / "run", RECORDS)
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file" / "r.html", tmp_path / "no" / "such" / "r.html"):
        assert main(["report", str(run), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("drest: error: --out: cannot write") and "\n" not in err

    def boom(*a, **k):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(build, "render", boom)
    with pytest.raises(RuntimeError):
        build_report([run], tmp_path / "r.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "run"]  # no report, no temporary file


def test_bad_worlds_spec(tmp_path):
    with pytest.raises(ValueError, match="--worlds: index 200 is out of range"):
        build.parse_worlds("0,200", 200)
    assert build.parse_worlds("3-5,1", 200) == [1, 3, 4, 5]


def test_worlds_show_png(tmp_path, capsys):
    out = tmp_path / "w.png"
    assert main(["worlds", "show", "paper-test", "--index", "3", "--png", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.rstrip().endswith(f"wrote {out}")
    assert main(["worlds", "show", "paper-test", "--png", str(tmp_path / "no" / "w.png")]) == 2
    assert capsys.readouterr().err.strip().startswith("drest: error: --png: cannot write")
