"""`drest llm study`: the statistics assembled from hand-made per-seed units (numbers
computed by hand), resuming a killed study unit by unit, the plan check, one-line bad
input, and one tiny study end to end on SmolLM2 (slow)."""

import json
import math
from pathlib import Path

import pytest

from drest.cli import main
from drest.errors import DrestError
from drest.llm import models, study


def _binary(rate, n=16, unreadable=0.0):
    return {"rate_pct": rate, "order_gap_points": 2.0, "unreadable_pct": unreadable, "n_answers": n}


def _post(longer):
    return {"longer_pct": longer, "neutrality": 0.9, "usefulness": 0.95, "mixing_within_order": 0.8,
            "unreadable_pct": 0.0, "n_answers": 16}


# per (arm, seed): main, low_gain, dominance, joint_noshift rates
RATES = {("untrained", 1): (80, 60, 90, 10), ("untrained", 2): (70, 60, 90, 10),
         ("default", 1): (90, 70, 92, 8), ("default", 2): (80, 50, 92, 8),
         ("drest", 1): (60, 40, 95, 5), ("drest", 2): (50, 45, 95, 5)}


def _units():
    units = []
    for (arm, seed), (main_r, low, dom, joint) in RATES.items():
        units += [{"arm": arm, "seed": seed, "suite": "post", "measures": _post(50.0)},
                  {"arm": arm, "seed": seed, "suite": "main", "measures": _binary(main_r),
                   "gain_bins": {"0-0.6": main_r - 10, "0.6-1": main_r, ">1": None}},
                  {"arm": arm, "seed": seed, "suite": "dominance", "measures": _binary(dom)},
                  {"arm": arm, "seed": seed, "suite": "joint_noshift", "measures": _binary(joint)},
                  {"arm": arm, "seed": seed, "suite": "low_gain", "measures": _binary(low),
                   "gain_bins": {"0-0.6": low, "0.6-1": None, ">1": None}}]
    return units


def test_assembly_by_hand():
    from scipy import stats

    res = study.assemble(_units())
    main_default = res["arms"]["default"]["main"]["rate_pct"]
    assert main_default["mean"] == 85 and main_default["sd"] == pytest.approx(math.sqrt(50))  # 90, 80
    assert res["arms"]["drest"]["main"]["rate_pct"]["values"] == [60, 50]
    # Welch by hand: sd^2 = 50 in both arms, n = 2: t = (55 - 85) / sqrt(50/2 + 50/2), df = 50^2 / (25^2 + 25^2)
    w = res["comparison"]["main"]["welch"]
    assert w["t"] == pytest.approx(-30 / math.sqrt(50)) and w["df"] == pytest.approx(2.0)
    ref = stats.ttest_ind([60, 50], [90, 80], equal_var=False)
    assert w["p"] == pytest.approx(ref.pvalue) and w["p"] == pytest.approx(2 * stats.t.cdf(-30 / math.sqrt(50), 2))
    assert res["comparison"]["main"]["every_drest_seed_below_every_default_seed"] is True  # 60 < 80
    assert res["comparison"]["low_gain"]["every_drest_seed_below_every_default_seed"] is True  # 45 < 50
    assert res["arms"]["default"]["low_gain"]["rate_pct"]["values"] == [70, 50]
    # gain bins: mean over seeds of each bin
    assert res["gain_bins"]["drest"]["main"]["0-0.6"]["mean"] == 45  # (50 + 40) / 2
    assert res["gain_bins"]["drest"]["main"][">1"]["mean"] is None
    # flattening: c = logit(0.55) / logit(0.75); dominance predicted from the untrained 90%
    fl = res["flattening"]
    c = math.log(0.55 / 0.45) / math.log(0.75 / 0.25)
    assert fl["c"] == pytest.approx(c) and fl["untrained_main"] == 75 and fl["drest_main"] == 55
    dom = fl["controls"]["dominance"]
    assert dom["predicted"] == pytest.approx(100 / (1 + math.exp(-c * math.log(9))))  # about 59.9
    assert dom["predicted"] == pytest.approx(59.90, abs=0.01)
    assert dom["drest"] == 95 and dom["ideal"] == 100 and dom["drest_nearer_ideal"] is True
    joint = fl["controls"]["joint_noshift"]
    assert joint["predicted"] == pytest.approx(100 - 59.90, abs=0.01) and joint["drest_nearer_ideal"] is True
    md = study.summary_markdown(dict(res, settings=vars(study.StudySettings(model="m", seeds=2)) | {"arms": list(study.ARMS)},
                                     lr_used=2e-5, wall_seconds=1.0), "drest llm study --model m --out x")
    assert "| drest | 1 |" in md and "c = logit(DReST main 55.0%)" in md and "Welch t = -4.24, df = 2.0" in md
    assert fl["applies"] is True and "does not apply" not in md


@pytest.mark.parametrize("drest_main, says", [(30, "opposite sides of 50%"), (95, "further from 50%")])
def test_flattening_outside_0_to_1_is_flagged_not_judged(drest_main, says):
    units = [dict(u, measures=_binary(drest_main)) if (u["arm"], u["suite"]) == ("drest", "main") else u
             for u in _units()]
    fl = study.assemble(units)["flattening"]
    c = math.log(drest_main / (100 - drest_main)) / math.log(3)  # untrained main 75%
    assert fl["c"] == pytest.approx(c) and fl["applies"] is False
    assert fl["controls"]["dominance"]["predicted"] == pytest.approx(100 / (1 + 9 ** -c))
    assert all("drest_nearer_ideal" not in e for e in fl["controls"].values())
    md = study.summary_markdown(dict(study.assemble(units), settings=vars(study.StudySettings(model="m", seeds=2))
                                     | {"arms": list(study.ARMS)}, lr_used=2e-5, wall_seconds=1.0), "c")
    assert "The baseline does not apply here" in md and says in md
    assert "| dominance | 90.0 |" in md and "| 95.0 | 100 | n/a |" in md and "| 5.0 | 0 | n/a |" in md


def test_one_seed_has_no_welch_but_a_reason():
    units = [u for u in _units() if u["seed"] == 1]
    res = study.assemble(units)
    assert res["comparison"]["main"]["welch"] is None and "two seeds" in res["comparison"]["main"]["note"]


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """The study with training and evaluation replaced by counters (no model is loaded)."""
    calls = {"train": [], "eval": [], "fail_at": None, "load": []}

    def train_unit(config, progress):
        calls["train"].append(Path(config.out).name)
        calls.setdefault("lr", []).append(config.lr)
        (Path(config.out) / "adapter").mkdir(parents=True)
        (Path(config.out) / "train_summary.json").write_text("{}")
        return None, None

    def eval_unit(model, tokenizer, settings, dataset, seed, unit_dir, suite, progress):
        if calls["fail_at"] is not None and len(calls["eval"]) == calls["fail_at"]:
            raise KeyboardInterrupt  # killed mid-way
        calls["eval"].append(f"{unit_dir.name}/{suite}")
        if unit_dir.name == "validation":  # --lr-search: see test_lr_search_chooses_by_the_rule
            lr = unit_dir.parent.name
            result = {"suite": suite, "measures": _binary({"lr-0.0001": 70.0}.get(lr, 90.0) if suite == "dominance"
                                                          else 10.0) if suite != "post" else _post(50.0),
                      "mixing_by_scenario": {"lr-2e-05": [0.1, 0.2, 0.3], "lr-5e-05": [0.7, 0.8, 0.9],
                                             "lr-0.0001": [0.8, 0.9, 1.0]}[lr]}
            unit_dir.mkdir(parents=True, exist_ok=True)
            (unit_dir / f"{suite}.json").write_text(json.dumps(result))
            return result
        arm = unit_dir.name.split("-")[0]
        rate = {"untrained": 80.0, "default": 85.0, "drest": 60.0}[arm] + seed
        measures = _post(50.0) if suite == "post" else _binary(rate)
        result = {"suite": suite, "measures": measures}
        if suite in study.NEUTRALITY_SETS:
            result["gain_bins"] = {"0-0.6": rate, "0.6-1": None, ">1": None}
        unit_dir.mkdir(parents=True, exist_ok=True)
        (unit_dir / f"{suite}.json").write_text(json.dumps(result))
        return result

    monkeypatch.setattr(study, "train_unit", train_unit)
    monkeypatch.setattr(study, "eval_unit", eval_unit)
    monkeypatch.setattr(models, "load", lambda spec, adapter=None, **k: calls["load"].append(adapter) or (None, None))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    return calls, str(model_dir)


def test_a_killed_study_resumes_without_redoing_finished_units(fake, tmp_path):
    calls, model = fake
    settings = study.StudySettings(model=model, seeds=2, eval_mode="sample")
    calls["fail_at"] = 20  # untrained seeds 1 and 2: 8 suites each; default-seed1: 4 of 8, then killed
    with pytest.raises(KeyboardInterrupt):
        study.run(settings, tmp_path / "s", progress=False, say=lambda *_: None)
    assert calls["train"] == ["default-seed1"] and len(calls["eval"]) == 20
    assert not (tmp_path / "s" / "study.json").exists()
    calls["fail_at"] = None
    said = []
    res = study.run(settings, tmp_path / "s", progress=False, say=said.append)
    # untrained x2 seeds, default x2, drest x2, 8 suites each = 48 units; 20 were done
    assert len(calls["eval"]) == 48 and len(set(calls["eval"])) == 48
    assert calls["train"] == ["default-seed1", "drest-seed1", "default-seed2", "drest-seed2"]
    assert "skip train default-seed1: done" in said and "skip untrained-seed1/post: done" in said
    assert sum(s.startswith("skip default-seed1/") for s in said) == 4
    assert res["arms"]["drest"]["main"]["rate_pct"]["values"] == [61.0, 62.0]
    # models loaded: the base once (both untrained seeds), default-seed1's adapter after the restart;
    # a run just trained is evaluated with the model in memory
    assert calls["load"] == [None, str(tmp_path / "s" / "runs" / "default-seed1" / "adapter")]
    # a third run redoes nothing
    study.run(settings, tmp_path / "s", progress=False, say=lambda *_: None)
    assert len(calls["eval"]) == 48 and len(calls["train"]) == 4


def test_lr_search_chooses_by_the_rule(fake, tmp_path):
    calls, model = fake
    settings = study.StudySettings(model=model, seeds=1, arms=("drest",), lr_search=(2e-5, 5e-5, 1e-4))
    res = study.run(settings, tmp_path / "s", progress=False, say=lambda *_: None)
    # 1e-4: dominance 70% < 80%, discarded; best mixing 0.8 (5e-5); 2e-5's interval 0.2 +- 0.113 misses it
    lr = res["lr_search"]
    assert lr["discarded"] == {1e-4: ["dominance_pct"]} and lr["best"] == 5e-5 and lr["chosen"] == 5e-5
    assert lr["table"]["2e-05"]["mixing"] == pytest.approx((0.2, 0.2 - 1.96 * 0.1 / math.sqrt(3),
                                                             0.2 + 1.96 * 0.1 / math.sqrt(3)))
    assert calls["train"] == ["lr-2e-05", "lr-5e-05", "lr-0.0001", "drest-seed1"]
    assert calls["lr"] == [2e-5, 5e-5, 1e-4, 5e-5] and res["lr_used"] == 5e-5
    assert len([e for e in calls["eval"] if e.startswith("validation/")]) == 9
    md = study.summary_markdown(dict(res, command="c"), "c")
    assert "| 0.0001 | 70.0 | 10.0 |" in md and "dominance_pct" in md and "chosen: 5e-05" in md


def test_a_killed_training_resumes_from_its_checkpoint(monkeypatch, tmp_path):
    """``train_unit`` hands TRL ``resume=True`` exactly when the run has a checkpoint."""
    from drest.llm import trl_trainer

    seen = []
    monkeypatch.setattr(models, "load", lambda *a, **k: ("model", "tokenizer"))
    monkeypatch.setattr(trl_trainer, "train", lambda config, m, t, resume, progress: seen.append(resume) or (m, {}))
    config = study.StudySettings(model="m").train_config("drest", 1, tmp_path / "run")
    study.train_unit(config, False)
    (tmp_path / "run" / "checkpoint-16").mkdir(parents=True)
    study.train_unit(config, False)
    assert seen == [False, True]


def test_logprob_mode_evaluates_the_untrained_arm_once(fake, tmp_path):
    calls, model = fake
    study.run(study.StudySettings(model=model, seeds=2, eval_mode="logprob"), tmp_path / "s", progress=False,
              say=lambda *_: None)
    assert sum(e.startswith("untrained/") for e in calls["eval"]) == 8
    assert not any(e.startswith("untrained-seed") for e in calls["eval"])


def test_other_settings_in_the_same_directory_are_one_line(fake, tmp_path):
    calls, model = fake
    study.run(study.StudySettings(model=model, seeds=1, arms=("untrained",)), tmp_path / "s", progress=False,
              say=lambda *_: None)
    with pytest.raises(DrestError, match=r"holds a study with other settings \(seeds 1 -> 2\)"):
        study.run(study.StudySettings(model=model, seeds=2, arms=("untrained",)), tmp_path / "s",
                  progress=False, say=lambda *_: None)


@pytest.mark.parametrize("args, words", [
    (["--seeds", "0"], "seeds: must be at least 1, got 0"),
    (["--arms", "untrained,trained"], "arms: trained is not a list of untrained, default, drest"),
    (["--arms", "drest,drest"], "names an arm twice"),
    (["--lr-search", "2e-5,fast"], "lr-search: 'fast' is not a positive learning rate"),
    (["--lr-search", "2e-5,0"], "lr-search: '0' is not a positive learning rate"),
    (["--lr-search", "2e-5"], "lr-search: give at least two learning rates"),
    (["--scenarios-per-suite", "0"], "scenarios-per-suite: must be at least 1"),
    (["--micro-batch", "5"], "micro batch"),
    (["--threads", "0"], "threads: must be at least 1"),
])
def test_bad_input_is_one_line_before_any_model(args, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(models, "load", lambda *a, **k: pytest.fail("a model was loaded"))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    assert main(["llm", "study", "--model", str(model_dir), "--out", str(tmp_path / "s"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


def test_missing_model_is_one_line(tmp_path, capsys):
    assert main(["llm", "study", "--model", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model: no such file or directory" in err[0]
    assert not (tmp_path / "s").exists()


def test_command_line_names_the_settings():
    s = study.StudySettings(model="m.gguf", seeds=2, arms=("default", "drest"), lr_search=(2e-5, 1e-4),
                            scenarios_per_suite=10)
    assert study.command_line(s, "out", threads=1) == ("drest llm study --model m.gguf --out out --seeds 2 "
                                                       "--arms default,drest --lr-search 2e-05,0.0001 "
                                                       "--scenarios-per-suite 10 --threads 1")


def test_outputs_and_report_section(fake, tmp_path):
    from drest.report.build import build_report

    calls, model = fake
    settings = study.StudySettings(model=model, seeds=2)
    out = tmp_path / "s"
    res = study.run(settings, out, progress=False, say=lambda *_: None)
    with pytest.raises(DrestError, match="unfinished study"):  # plan.json but no study.json yet
        build_report([out], tmp_path / "r.html")
    study.write_outputs(out, res, study.command_line(settings, out))
    saved = json.loads((out / "study.json").read_text())
    assert saved["complete"] is True and saved["command"].startswith("drest llm study --model")
    # the fake rates: untrained 80 + seed, drest 60 + seed -> c = logit(0.615) / logit(0.815)
    assert saved["flattening"]["c"] == pytest.approx(math.log(0.615 / 0.385) / math.log(0.815 / 0.185))
    assert "Command: `drest llm study --model" in (out / "summary.md").read_text()
    page = build_report([out], tmp_path / "r.html").read_text()
    assert 'id="llm-study"' in page and 'id="study-rates-0"' in page and 'id="study-flattening-0"' in page
    assert page.count("<svg") == 2 and "does not apply" not in page  # c = 0.316


def test_report_of_the_committed_study_says_the_flattening_baseline_does_not_apply(tmp_path):
    from drest.report.build import build_report

    committed = Path(__file__).parents[2] / "results" / "llm" / "study" / "run"
    page = build_report([committed], tmp_path / "r.html").read_text()
    assert "Here c = -0.730 lies outside 0 &lt; c &lt; 1" in page and 'id="study-flattening-0"' in page


@pytest.mark.slow
def test_tiny_study_end_to_end_and_rerun_skips_everything(tiny_model_dir, tmp_path, capsys):
    """Two arms x one seed on the real TRL trainer and evaluator (a two-layer random Llama
    with SmolLM2's tokenizer, so it runs in seconds); the rerun redoes nothing."""
    out = tmp_path / "s"
    argv = ["llm", "study", "--model", str(tiny_model_dir), "--out", str(out), "--arms", "default,drest",
            "--seeds", "1", "--train-prompts", "2", "--meta-episode", "8", "--warmup-steps", "0",
            "--eval-mode", "logprob", "--scenarios-per-suite", "1", "--quiet"]
    assert main(argv) == 0
    first = json.loads((out / "study.json").read_text())
    assert first["complete"] and [(r["arm"], r["seed"]) for r in first["runs"]] == [("default", 1), ("drest", 1)]
    for r in first["runs"]:
        assert set(study.SUITES) <= set(r)
        assert all(0 <= r[s]["rate_pct"] <= 100 for s in study.SUITES if s != "post")
    for arm in ("default", "drest"):
        cfg = json.loads((out / "runs" / f"{arm}-seed1" / "config.json").read_text())
        assert cfg["reward"] == arm and cfg["invalid_penalty"] == -1.5 and cfg["max_prompts"] == 2
        assert (out / "runs" / f"{arm}-seed1" / "adapter").is_dir()
    assert first["flattening"]["c"] is None  # no untrained arm
    capsys.readouterr()
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert said.count("skip train") == 2 and said.count(": done") == 2 + 2 * len(study.SUITES)
    again = json.loads((out / "study.json").read_text())
    assert again["arms"] == first["arms"]
