"""The committed PPO DReST checkpoints measured with both instruments (`drest eval --instrument both`)."""

import json
import shutil
from pathlib import Path

import pytest

from drest.cli import main

RUN = Path(__file__).parents[2] / "results" / "table1" / "run"


def test_paper_instrument_under_reads_our_ppo_drest_agents(tmp_path, capsys):
    run = shutil.copytree(RUN / "ppo-drest", tmp_path / "ppo-drest", ignore=shutil.ignore_patterns("eval_*"))
    assert main(["eval", str(run), "--instrument", "both"]) == 0
    out = capsys.readouterr().out
    assert "exact instrument:" in out and "paper instrument:" in out
    assert "mean   0.737 ± 0.027   0.748 ± 0.021" in out  # Table 1's exact numbers
    assert "mean   0.708 ± 0.029   0.732 ± 0.025" in out  # read through the release's evaluator
    scored = json.loads((run / "eval_paper-test.json").read_text())
    assert scored["env_steps"] == 99_999_744 and len(scored["seeds"]) == 10
    paper = scored["instruments"]["paper"]
    assert paper["neutrality"][0] == pytest.approx(0.70844, abs=1e-5)
    assert paper["usefulness"][0] == pytest.approx(0.73164, abs=1e-5)
    assert scored["neutrality"] == scored["instruments"]["exact"]["neutrality"]  # top level: the exact one
    # every seed reads lower through the paper's instrument: these agents use the clock
    by_seed = {}
    for r in scored["seeds"]:
        by_seed.setdefault(r["seed"], {})[r["instrument"]] = r["neutrality"]
    assert len(by_seed) == 5 and all(s["paper"] < s["exact"] for s in by_seed.values())
