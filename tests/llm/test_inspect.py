"""drest's Inspect AI task run offline on the real SmolLM2 through Inspect's local
transformers provider; its per-suite numbers equal drest's own on the same answers."""

import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
inspect_ai = pytest.importorskip("inspect_ai")
FINAL = str(Path(__file__).parent / "fixtures" / "final_line_schema.jsonl")


@pytest.fixture(scope="module")
def smollm2_dir(smollm2, tmp_path_factory):
    """SmolLM2 dequantised into an ordinary Hugging Face directory, which Inspect's hf
    provider loads with from_pretrained."""
    model, tokenizer = smollm2
    path = tmp_path_factory.mktemp("smollm2-hf")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_inspect_task_matches_drest_measures(smollm2_dir, tmp_path):
    from drest.llm import evaluate, measures, records
    from drest.llm.inspect_tasks import drest_suite

    task = drest_suite(dataset=FINAL, answers=2, max_tokens=8)
    [log] = inspect_ai.eval(task, model="hf/local", model_args={"model_path": str(smollm2_dir), "device": "cpu",
                                                                "enable_thinking": False},
                            log_dir=str(tmp_path / "logs"), display="none", seed=3)
    assert log.status == "success", log.error
    got = log.results.scores[0].metrics
    # drest's parser and measures on the very answers Inspect collected
    displays = [records.display(r) for r in records.read_jsonl(FINAL)]
    by_id = {d["display_id"]: [] for d in displays}
    for s in sorted(log.samples, key=lambda s: s.epoch):
        by_id[s.id].append((s.output.completion, s.output.stop_reason == "max_tokens"))
    answers = [by_id[d["display_id"]] for d in displays]
    assert all(len(a) == 2 for a in answers)
    rows = evaluate.sample_rows(displays, answers)
    ours = measures.by_suite(displays, evaluate.decisions_of(rows, displays), sampled=True)
    assert set(ours) == {"post", "main", "dominance"}
    for suite, m in ours.items():
        for key, value in m.items():
            inspected = got[f"{suite}/{key}"].value
            if value is None:
                assert math.isnan(inspected)
            else:
                assert inspected == pytest.approx(value)
