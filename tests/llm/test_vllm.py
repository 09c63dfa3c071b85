"""The optional vLLM backend. vLLM needs a GPU and is not a CI dependency, so the real
run skips without it (never run on the machine that wrote drest); the refusal runs always."""

import importlib.util
from pathlib import Path

import pytest

from drest.cli import main

FINAL = str(Path(__file__).parent / "fixtures" / "final_line_schema.jsonl")


def test_vllm_backend_refused_without_vllm_or_in_logprob_mode(capsys):
    args = ["llm", "eval", "--model", "/nonexistent", "--dataset", FINAL, "--backend", "vllm"]
    assert main(args) == 2  # logprob mode has no vLLM path
    assert capsys.readouterr().err.strip() == ("drest: error: backend: vllm needs --mode sample and the vllm "
                                               "package; use --backend transformers")
    if importlib.util.find_spec("vllm") is None:
        assert main(args + ["--mode", "sample"]) == 2


@pytest.mark.slow
@pytest.mark.allow_skip_in_ci
def test_vllm_answers_have_the_transformers_layout(smollm2, tmp_path):
    pytest.importorskip("vllm")
    from drest.llm import evaluate, records
    from drest.llm.sampling import SampleSettings

    model, tokenizer = smollm2
    path = tmp_path / "smollm2"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    recs = records.read_jsonl(FINAL)
    settings = SampleSettings(answers=3, max_new_tokens=32)
    rows, summary = evaluate.sampled(None, tokenizer, recs, settings, backend="vllm", model_path=str(path),
                                     progress=False)
    ref_rows, ref_summary = evaluate.sampled(model, tokenizer, recs, settings, progress=False)
    assert [(r["display_id"], r["sample"]) for r in rows] == [(r["display_id"], r["sample"]) for r in ref_rows]
    assert summary.keys() == ref_summary.keys()
    for suite in summary:
        assert summary[suite].keys() == ref_summary[suite].keys()
