"""The committed Table 1 checkpoints re-scored by `drest eval` give the committed numbers."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from drest.cli import main
from drest.io import read_jsonl

RUN = Path(__file__).parents[2] / "results" / "table1" / "run"
NAMES = ["ppo-drest", "ppo-default", "a2c-drest", "a2c-default"]


@pytest.mark.parametrize("name", NAMES)
def test_drest_eval_of_the_committed_checkpoints_reproduces_results_table1(name, tmp_path, capsys):
    run = shutil.copytree(RUN / name, tmp_path / name)  # eval writes its JSON into the run directory
    assert main(["eval", str(run), "--bank", "paper-test"]) == 0
    scored = json.loads((run / "eval_paper-test.json").read_text())
    # each seed's exact metrics equal the ones logged at the run's last evaluation
    records = read_jsonl(RUN / name / "metrics.jsonl")
    last = max(r["env_steps"] for r in records)
    logged = sorted((r for r in records if r["env_steps"] == last and r["split"] == "test"), key=lambda r: r["seed"])
    assert [s["seed"] for s in scored["seeds"]] == [r["seed"] for r in logged] == [0, 1, 2, 3, 4]
    for s, r in zip(scored["seeds"], logged):
        assert s["env_steps"] == last == 99_999_744
        assert s["neutrality"] == pytest.approx(r["neutrality"], abs=1e-6)
        assert s["usefulness"] == pytest.approx(r["usefulness"], abs=1e-6)
    # and the means ± sd are the table's
    row = next(r for r in json.loads((RUN / "table1.json").read_text())["rows"] if f"{r['algo']}-{r['reward']}" == name)
    np.testing.assert_allclose(scored["neutrality"], row["test_neutrality"], atol=1e-6)
    np.testing.assert_allclose(scored["usefulness"], row["test_usefulness"], atol=1e-6)
    n, nsd = row["test_neutrality"]
    assert f"mean   {n:.3f} ± {nsd:.3f}" in capsys.readouterr().out
