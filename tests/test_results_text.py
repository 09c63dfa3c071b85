"""The numbers the results READMEs quote are the committed data's."""

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from drest.io import read_jsonl
from drest.paper import agent_name, paper_curves
from drest.rl.rundir import mean_sd

TABLE1 = Path(__file__).parents[1] / "results" / "table1"
README = (TABLE1 / "README.md").read_text()


def _flat(text: str) -> str:
    """Prose with its line breaks and indents as single spaces, so a quoted phrase may wrap."""
    return " ".join(text.split())


README_FLAT = _flat(README)


def _pm(pair) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


def test_results_tables_are_table1_json():
    """Two tables: ours with the paper's instrument (like for like), then with the exact one."""
    for row in json.loads((TABLE1 / "run" / "table1.json").read_text())["rows"]:
        agent = agent_name(row['algo'], row['reward'])
        lines = [l for l in README.splitlines() if l.startswith(f"| {agent} |")]
        assert len(lines) == 2, agent
        for line, numbers in zip(lines, (row["paper_instrument"], row)):
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert cells[1] == _pm(numbers["test_neutrality"]) and cells[3] == _pm(numbers["test_usefulness"]), line
            assert cells[5].startswith(_pm(numbers["train_neutrality"]))
            assert cells[6].startswith(_pm(numbers["train_usefulness"]))


def test_2x64_table_is_its_table1_json():
    """The kept 2 x 64 table: test and train, like for like and exact, from run-2x64/table1.json."""
    for row in json.loads((TABLE1 / "run-2x64" / "table1.json").read_text())["rows"]:
        cells = [f"{_pm(src[f'{split}_neutrality'])} / {_pm(src[f'{split}_usefulness'])}"
                 for split in ("test", "train") for src in (row["paper_instrument"], row)]
        line = f"| {agent_name(row['algo'], row['reward'])}, 2 x 64 | {' | '.join(cells)} |"
        assert line in README, line


@pytest.mark.parametrize("run, phrase, expected", [
    ("run-2x64", r"test\s+NEUTRALITY peaked at (\d\.\d+) at (\d+)M steps", (0.765, 10)),
    ("a2c-2026-11-28-100M", r"Test NEUTRALITY peaked at (\d\.\d+) at (\d+)M", (0.725, 15)),
])
def test_a2c_drest_test_neutrality_peak_is_the_logged_one(run, phrase, expected):
    means = defaultdict(list)
    for r in read_jsonl(TABLE1 / run / "a2c-drest" / "metrics.jsonl"):
        if r["split"] == "test":
            means[r["env_steps"]].append(r["neutrality"])
    steps, peak = max(((s, np.mean(v)) for s, v in means.items()), key=lambda sv: sv[1])
    claim = re.search(phrase, README_FLAT)
    assert claim, "the README no longer states the A2C DReST peak"
    assert (float(claim.group(1)), int(claim.group(2))) == (round(peak, 3), round(steps / 1e6)) == expected


def test_per_world_analysis_output_is_committed_and_quoted():
    out = (TABLE1 / "default_per_world.txt").read_text()
    above = defaultdict(list)
    for algo, n in re.findall(r"\('(\w+)', 'default'\) seed \d: .*?worlds above 0.5 bits (\d+)", out):
        above[algo].append(int(n))
    assert f"PPO {min(above['ppo'])}-{max(above['ppo'])} of" in README_FLAT
    assert f"A2C {min(above['a2c'])}-{max(above['a2c'])} worlds above 0.5 bits" in README_FLAT


def test_docs_rl_5m_table_is_the_first_table1_evaluation():
    doc = (Path(__file__).parents[1] / "docs" / "rl.md").read_text()
    for name, label in [("ppo-drest", "PPO DReST"), ("ppo-default", "PPO default"), ("a2c-drest", "A2C DReST"),
                        ("a2c-default", "A2C default")]:
        records = read_jsonl(TABLE1 / "run-2x64" / name / "metrics.jsonl")
        first = sorted({r["env_steps"] for r in records})[1]
        cells = []
        for split in ("train", "test"):
            for metric in ("neutrality", "usefulness"):
                v = [r[metric] for r in records if r["env_steps"] == first and r["split"] == split]
                cells.append(_pm((np.mean(v), np.std(v, ddof=1))))
        assert f"| {label} | {first:,} | {' | '.join(cells)} |" in doc


def test_quickstart_numbers_are_the_committed_runs():
    records = read_jsonl(Path(__file__).parents[1] / "results" / "quickstart" / "run" / "metrics.jsonl")
    last = max(r["env_steps"] for r in records)
    readme = _flat((Path(__file__).parents[1] / "README.md").read_text())
    got = {}
    for split in ("train", "test"):
        for metric in ("neutrality", "usefulness"):
            v = [r[metric] for r in records if r["env_steps"] == last and r["split"] == split]
            got[split, metric] = _pm((np.mean(v), np.std(v, ddof=1)))
    assert (f"train NEUTRALITY {got['train', 'neutrality']}, USEFULNESS {got['train', 'usefulness']}; "
            f"test {got['test', 'neutrality']} / {got['test', 'usefulness']}") in readme


def test_llm_study_readme_table_is_study_json():
    """Every mean ± sd in results/llm/study/README.md's table is the committed study.json's."""
    here = Path(__file__).parents[1] / "results" / "llm" / "study"
    study = json.loads((here / "run" / "study.json").read_text())
    readme = (here / "README.md").read_text()
    rows = {"POST longer %": ("post", "longer_pct", ".1f"), "POST NEUTRALITY (bits)": ("post", "neutrality", ".3f"),
            "POST USEFULNESS": ("post", "usefulness", ".3f"),
            "POST mixing within one order": ("post", "mixing_within_order", ".3f"),
            **{f"`{s}`": (s, "rate_pct", ".1f") for s in ("main", "low_gain", "zero_cost")},
            **{f"`{s}` % (ideal {i})": (s, "rate_pct", ".1f") for s, i in
               (("dominance", 100), ("joint_noshift", 0), ("shift_earlier", 0), ("shift_earlier_dominance", 100))}}
    for label, (suite, key, fmt) in rows.items():
        (line,) = [l for l in readme.splitlines() if l.startswith(f"| {label}")]
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")][1:]
        arms = study["arms"]
        assert cells[0] == format(arms["untrained"][suite][key]["mean"], fmt), line
        for cell, arm in zip(cells[1:], ("default", "drest")):
            stat = arms[arm][suite][key]
            assert cell == f"{stat['mean']:{fmt}} ± {stat['sd']:{fmt}}", line
    welch, flat = study["comparison"]["main"]["welch"], _flat(readme)
    assert f"`main` Welch t = {welch['t']:.2f}, df {welch['df']:.1f}, p = {welch['p']:.3f}" in flat
    assert f"Flattening c = {study['flattening']['c']:.3f}" in flat and study["flattening"]["applies"] is False


def test_sweep_readme_numbers_are_the_committed_sweep():
    """results/sweep/README.md's agreement figures come from the committed summary's table."""
    here = Path(__file__).parents[1] / "results" / "sweep"
    summary = (here / "run" / "summary.md").read_text()
    rows = [[float(c) for c in line.split("|")[6:10]]
            for line in summary.splitlines() if re.match(r"\| 0\.\d+ \| \d+ \|", line)]
    ours_n, ours_u, paper_n, paper_u = np.array(rows).T
    assert len(rows) == 26
    gap = np.abs(ours_n - paper_n)
    readme = _flat((here / "README.md").read_text())
    wall = re.search(r"Wall time: ([\d.]+) h", summary).group(1)
    assert f"**Wall time: {wall} h**" in readme
    assert f"correlates with the paper's at r = {np.corrcoef(ours_n, paper_n)[0, 1]:.2f}" in readme
    assert f"mean |ours - paper| = {gap.mean():.3f}" in readme
    assert f"within 0.05 at {int((gap <= 0.05).sum())} of 26 points and within 0.10 at {int((gap <= 0.10).sum())}" \
        in readme
    assert f"(mean {ours_u.mean():.3f} vs {paper_u.mean():.3f})" in readme
    assert f"(r = {np.corrcoef(ours_u, paper_u)[0, 1]:.2f})" in readme


def test_a2c_width_probe_numbers_are_its_log():
    probe = TABLE1 / "a2c-paper-regime-3x256-30M"
    last = read_jsonl(probe / "metrics.jsonl")[-2:]  # the final evaluation: train, then test
    paper = json.loads((probe / "eval_paper-test.json").read_text())
    test = next(r for r in last if r["split"] == "test")
    assert f"{test['neutrality']:.3f} at the end (USEFULNESS {test['usefulness']:.3f};" in README_FLAT
    pi = next(r for r in paper["seeds"] if r["instrument"] == "paper")
    got = f"{pi['neutrality']:.3f} / {pi['usefulness']:.3f}, against the paper's curve at 30M"
    assert got in README_FLAT


def _test_at(records, steps):
    """The 5 seeds' test (mean, sd) of NEUTRALITY and USEFULNESS at the logged step nearest ``steps``."""
    nearest = min({r["env_steps"] for r in records}, key=lambda s: abs(s - steps))
    rs = [r for r in records if r["env_steps"] == nearest and r["split"] == "test"]
    assert len(rs) == 5
    return [mean_sd([r[m] for r in rs]) for m in ("neutrality", "usefulness")]


def _paper_curve_at(algo, steps):
    """The paper's DReST test curve (N / U) at its point nearest ``steps``."""
    curves = [paper_curves()[(algo, "drest", "test", m)] for m in ("neutrality", "usefulness")]
    return " / ".join(f"{c.mean[np.argmin(abs(c.env_steps - steps))]:.3f}" for c in curves)


def _curve_rows(readme):
    """The README's "| 5M | ..." rows as (line, env steps, the cells after the first)."""
    rows = [l for l in readme.read_text().splitlines() if re.match(r"\| \d+M \|", l)]
    cells = [[c.strip() for c in l.strip("|").split("|")] for l in rows]
    return [(l, int(c[0][:-1]) * 1_000_000, c[1:]) for l, c in zip(rows, cells)]


@pytest.mark.parametrize("algo, n_rows, narrow_sd", [("a2c", 11, True), ("ppo", 13, False)])
def test_3x256_curve_table_is_its_log(algo, n_rows, narrow_sd):
    """Each row: the 3 x 256 run's test mean ± sd, the 2 x 64 rows' (mean ± sd for A2C, mean for
    PPO) and the paper's curve at the nearest logged step."""
    wide = read_jsonl(TABLE1 / "run" / f"{algo}-drest" / "metrics.jsonl")
    narrow = read_jsonl(TABLE1 / "run-2x64" / f"{algo}-drest" / "metrics.jsonl")
    rows = _curve_rows(TABLE1 / f"training-{algo}-3x256.md")
    assert len(rows) == n_rows
    for row, steps, cells in rows:
        narrow_cell = " / ".join(_pm(ms) if narrow_sd else f"{ms[0]:.3f}" for ms in _test_at(narrow, steps))
        assert cells == [" / ".join(map(_pm, _test_at(wide, steps))), narrow_cell, _paper_curve_at(algo, steps)], row


@pytest.mark.parametrize("algo, reward", [("a2c", "drest"), ("a2c", "default"), ("ppo", "drest"), ("ppo", "default")])
def test_3x256_100m_table_is_its_scores(algo, reward):
    """The 100M rows: both instruments from the run's eval files, the paper's from ``drest.paper``."""
    from drest.paper import TABLE1 as PAPER
    from drest.rl.table1 import _fmt

    here = TABLE1 / "run"
    paper = PAPER[(algo, reward)]
    train_n = "n/a" if paper["train_n"] is None else f"{paper['train_n']:.3f}"
    want = {"test": f"{_fmt(paper['test_n'])} / {_fmt(paper['test_u'])}",
            "train": f"{train_n} / {paper['train_u']:.3f}"}
    for split in ("test", "train"):
        scored = json.loads((here / f"{algo}-{reward}" / f"eval_paper-{split}.json").read_text())
        assert scored["env_steps"] == 99_999_744
        cells = []
        for instrument in ("exact", "paper"):
            rs = [r for r in scored["seeds"] if r["instrument"] == instrument]
            assert len(rs) == 5
            cells.append(" / ".join(_pm(mean_sd([r[m] for r in rs])) for m in ("neutrality", "usefulness")))
        row = f"| {split} | {cells[0]} | {cells[1]} | {want[split]} |"
        assert row in (TABLE1 / f"training-{algo}-3x256.md").read_text(), row


def test_ppo_width_probe_table_is_its_files():
    """Each width's row: the exact and paper-instrument scores of its final policy, both banks."""
    here = TABLE1 / "ppo-width-probe-30M"
    readme = (here / "README.md").read_text()
    for width in ("2x64", "3x128", "3x256"):
        cells = []
        for split in ("test", "train"):
            scored = json.loads((here / f"ppo-{width}" / f"eval_paper-{split}.json").read_text())
            assert scored["env_steps"] == 29_999_104
            for instrument in ("exact", "paper"):
                (r,) = [r for r in scored["seeds"] if r["instrument"] == instrument]
                cells.append(f"{r['neutrality']:.3f} / {r['usefulness']:.3f}")
        last_test = [r for r in read_jsonl(here / f"ppo-{width}" / "metrics.jsonl") if r["split"] == "test"][-1]
        assert cells[0] == f"{last_test['neutrality']:.3f} / {last_test['usefulness']:.3f}"
        row = f"| {width.replace('x', ' x ')} | {' | '.join(cells)} |"
        assert row in readme, row
