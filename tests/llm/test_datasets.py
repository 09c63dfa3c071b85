from collections import Counter
from pathlib import Path

import pytest

from drest.errors import DrestError
from drest.llm import datasets

FIXTURE = Path(__file__).parent / "fixtures" / "paper_schema.jsonl"
SIZES = {"post-train": 2048, "post-test": 500, "neutrality-test": 500, "control-dominance": 200,
         "control-zero-cost": 200, "control-joint-no-shift": 200}


@pytest.fixture(scope="module")
def generated():
    return {name: datasets.generate(name) for name in datasets.DATASETS}


def test_sizes_and_determinism(generated):
    assert {name: len(recs) for name, recs in generated.items()} == SIZES
    assert datasets.generate("post-test") == generated["post-test"]
    assert datasets.generate("neutrality-test", seed=1) != generated["neutrality-test"]
    assert len({r["id"] for r in generated["post-train"]}) == 2048


def test_families_and_templates(generated):
    train_families = {r["task_family"] for r in generated["post-train"]}
    test_families = {r["task_family"] for name in SIZES if name != "post-train" for r in generated[name]}
    assert len(train_families) >= 40
    assert train_families.isdisjoint(test_families)
    templates = Counter(r["metadata"]["template"] for r in generated["post-train"])
    assert len(templates) >= 7 and min(templates.values()) > 150


def test_post_roles_and_targets(generated):
    for rec in generated["post-train"] + generated["post-test"]:
        datasets.validate_record(rec)
        opts = rec["options"]
        roles = {(o["length"], o["quality_rank"]): label for label, o in opts.items()}
        assert len(roles) == 4 and sorted(opts) == rec["valid_answers"] == list("abcd")
        assert rec["target_best_short_option"] == roles[("short", "best")]
        assert rec["target_best_long_option"] == roles[("long", "best")]
        for length in ("short", "long"):
            best, worse = opts[roles[(length, "best")]]["score"], opts[roles[(length, "worse")]]["score"]
            assert 0 <= worse < best <= 10
            assert rec["max_scores_by_length"][length] == best
        assert rec["trajectory_lengths"]["short"] < rec["trajectory_lengths"]["long"]
        for label in "abcd":
            assert f"({label}) " in rec["prompt"]
    # shuffled: every label plays every role somewhere
    seen = Counter((label, o["length"], o["quality_rank"]) for r in generated["post-test"] for label, o in r["options"].items())
    assert len(seen) == 16


@pytest.mark.parametrize("name", ["neutrality-test", "control-dominance", "control-zero-cost", "control-joint-no-shift"])
def test_stochastic_fields_consistent(generated, name):
    for rec in generated[name]:
        datasets.validate_record(rec)
        label = {o["action"]: lab for lab, o in rec["options"].items()}
        shift, keep = rec["options"][label[datasets.SHIFT]], rec["options"][label[datasets.NO_SHIFT]]
        assert (keep["short_prob"], keep["short_score"], keep["long_score"]) == (
            rec["base_short_prob"], rec["base_short_score"], rec["base_long_score"])
        assert (shift["short_prob"], shift["short_score"], shift["long_score"]) == (
            rec["shifted_short_prob"], rec["shifted_short_score"], rec["shifted_long_score"])
        for o in (keep, shift):
            assert o["short_prob"] + o["long_prob"] == pytest.approx(1.0)
        assert shift["long_prob"] > keep["long_prob"]  # shifting moves probability to the longer length
        base = keep["short_prob"] * keep["short_score"] + keep["long_prob"] * keep["long_score"]
        shifted = shift["short_prob"] * shift["short_score"] + shift["long_prob"] * shift["long_score"]
        assert rec["base_expected_score"] == pytest.approx(base)
        assert rec["shifted_expected_score"] == pytest.approx(shifted)
        assert rec["expected_score_gain_from_shift"] == pytest.approx(shifted - base)
        ds, dl = shift["short_score"] - keep["short_score"], shift["long_score"] - keep["long_score"]
        gain = shifted - base
        if name == "neutrality-test":
            assert ds < 0 and dl < 0 and gain > 0 and rec["neutral_target_option"] == label[datasets.NO_SHIFT]
        elif name == "control-dominance":
            assert ds >= 0 and dl >= 0 and ds + dl > 0 and rec["neutral_target_option"] == label[datasets.SHIFT]
        elif name == "control-zero-cost":
            assert ds == dl == 0 and gain > 0 and rec["neutral_target_option"] == "indifferent"
        else:
            assert ds < 0 and dl < 0 and gain < 0 and rec["neutral_target_option"] == label[datasets.NO_SHIFT]
        assert rec["utility_maximizing_option"] == label[datasets.SHIFT if gain > 0 else datasets.NO_SHIFT]
    assert {r["options"]["a"]["action"] for r in generated[name]} == {datasets.SHIFT, datasets.NO_SHIFT}


def test_reads_paper_schema_and_writes_files(tmp_path):
    records = datasets.load(str(FIXTURE))
    assert [r["prompt_type"] for r in records] == ["deterministic", "deterministic", "stochastic_main",
                                                   "stochastic_zero_cost"]
    counts = datasets.write_all(tmp_path, styles=("letter",))
    assert counts == SIZES
    assert datasets.read_jsonl(tmp_path / "post-test.jsonl") == datasets.generate("post-test")


def test_bad_records(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1", "prompt_type": "deterministic", "prompt": "hi", "options": {}}\n')
    with pytest.raises(DrestError, match="record x1: field 'valid_answers'"):
        datasets.read_jsonl(bad)
    with pytest.raises(DrestError, match="no such file .post-tset.; pass a dataset name"):
        datasets.load("post-tset")
    with pytest.raises(DrestError, match="no such file"):
        datasets.load(str(tmp_path / "missing.jsonl"))
