"""`drest llm ...` end to end on a tiny random model (SmolLM2's tokenizer): eval,
training with checkpoints and resume, and one-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from drest.cli import main
from drest.llm import loop, models

torch = pytest.importorskip("torch")  # the llm extra (a failure in CI, see tests/conftest.py)
pytestmark = pytest.mark.slow
FIXTURE = str(Path(__file__).parent / "fixtures" / "paper_schema.jsonl")


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_datasets_and_eval(tiny_model_dir, tmp_path, capsys):
    assert main(["llm", "datasets", "--out", str(tmp_path / "data")]) == 0
    assert len(list((tmp_path / "data").glob("*.jsonl"))) == 6
    out = tmp_path / "eval"
    code = main(["llm", "eval", "--model", str(tiny_model_dir), "--dataset", "post-test", FIXTURE,
                 "--limit", "4", "--batch-size", "2", "--out", str(out), "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["post-test"]["post"]["n_displays"] == 4
    assert set(metrics["paper_schema"]) == {"post", "main", "zero_cost"}  # keyed by output tag
    rows = [json.loads(line) for line in (out / "paper_schema.rows.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["fixture_det_0", "fixture_det_1", "fixture_stoch_0", "fixture_stoch_1"]
    assert "NEUTRALITY" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["complete"] is True


def test_bad_input_gives_one_error_line(tiny_model_dir, tmp_path, capsys):
    assert main(["llm", "eval", "--model", str(tmp_path / "nope"), "--dataset", "post-test"]) == 2
    assert _error_line(capsys).startswith("drest: error: model: no such file or directory")

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "r7", "prompt_type": "deterministic", "prompt": "x", "options": {}}) + "\n")
    assert main(["llm", "eval", "--model", str(tiny_model_dir), "--dataset", str(bad)]) == 2
    assert _error_line(capsys) == ("drest: error: dataset record r7: field 'valid_answers' must list at least "
                                   "two option labels, e.g. [\"a\", \"b\"]")

    from transformers import AutoTokenizer

    broken = tmp_path / "broken-template"
    for f in tiny_model_dir.iterdir():
        (broken / f.name).parent.mkdir(exist_ok=True)
        (broken / f.name).write_bytes(f.read_bytes())
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = "{{ messages[0].content | no_such_filter }}"
    tok.save_pretrained(broken)
    assert main(["llm", "eval", "--model", str(broken), "--dataset", "post-test", "--limit", "1", "--quiet"]) == 2
    assert _error_line(capsys).startswith("drest: error: chat template: could not be applied")

    assert main(["llm", "train", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r"), "--lam", "1.5"]) == 2
    assert _error_line(capsys) == "drest: error: lam: must be strictly between 0 and 1, got 1.5"


def _adapter_tensors(run: Path):
    from safetensors.torch import load_file

    return load_file(run / "adapter" / "adapter_model.safetensors")


def test_train_checkpoint_and_resume_match_an_unbroken_run(tiny_model_dir, tmp_path, monkeypatch, capsys):
    args = ["llm", "train", "--trainer", "loop", "--kl-coef", "0", "--warmup-steps", "1", "--model", str(tiny_model_dir),
            "--max-prompts", "4", "--meta-episode", "8", "--checkpoint-every", "2", "--lr", "1e-2", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "full")]) == 0
    summary = json.loads((tmp_path / "full" / "train_summary.json").read_text())
    assert summary["prompts"] == 4 and summary["invalid_answers"] == 0

    real_step, calls = loop._exact_step, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # after the checkpoint at 2 prompts
            raise KeyboardInterrupt
        return real_step(*a, **k)

    monkeypatch.setattr(loop, "_exact_step", interrupted)
    assert main(args + ["--out", str(tmp_path / "broken")]) == 130
    monkeypatch.setattr(loop, "_exact_step", real_step)
    assert main(args + ["--out", str(tmp_path / "broken")]) == 2
    assert "already holds a run; pass --resume" in _error_line(capsys)
    assert main(args + ["--out", str(tmp_path / "broken"), "--resume"]) == 0

    full, resumed = _adapter_tensors(tmp_path / "full"), _adapter_tensors(tmp_path / "broken")
    assert full.keys() == resumed.keys()
    assert any(float(t.abs().max()) > 0 for k, t in full.items() if "lora_B" in k)  # training moved the adapter
    for key in full:
        torch.testing.assert_close(full[key], resumed[key])
    log = lambda run: (tmp_path / run / "log.jsonl").read_text()  # noqa: E731
    assert log("full") == log("broken")

    # the adapter loads for evaluation
    assert main(["llm", "eval", "--model", str(tiny_model_dir), "--adapter", str(tmp_path / "full" / "adapter"),
                 "--dataset", "post-test", "--limit", "2", "--quiet"]) == 0


def _loop_sample_run(model_dir, out, micro_batch):
    """The loop in sample mode on four fixed answers: a, unreadable, c, and b cut off at the cap."""
    from drest.llm import shared_prompt
    from drest.llm.config import TrainConfig

    model, tokenizer = models.load(str(model_dir))
    eos = tokenizer.eos_token_id
    texts = ["Final Answer: [a]", "(d)", "Final Answer: [c]",
             "I weigh both lengths and both deliverables, one after the other.\nFinal Answer: [b]"]
    fixed = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    cap = len(fixed[-1])  # the last one is cut off at the cap (no end-of-sequence token), readable
    fixed = [ids + [eos] * (cap - len(ids)) for ids in fixed]

    def fake_generate(input_ids, **kwargs):
        rows = [fixed[i % 4] for i in range(input_ids.shape[0])]
        return torch.cat([input_ids, torch.tensor(rows)], dim=1)

    model.generate = fake_generate
    passes = []  # answers per forward/backward pass

    def spy(model, ids, *args, **kwargs):
        passes.append(ids.shape[0])
        return token_logprobs(*(model, ids) + args, **kwargs)

    config = TrainConfig(model=str(model_dir), out=str(out), trainer="loop", mode="sample", meta_episode=4,
                         micro_batch=micro_batch, max_prompts=1, max_completion_tokens=cap, kl_coef=0.0, lr=1e-2,
                         warmup_steps=0, lora_dropout=0.0, quantize="none")
    token_logprobs, shared_prompt.token_logprobs = shared_prompt.token_logprobs, spy
    try:
        peft_model, _ = loop.train(config, model, tokenizer, progress=False)
    finally:
        shared_prompt.token_logprobs = token_logprobs
    return config, {k: v.detach().clone() for k, v in peft_model.state_dict().items() if "lora_" in k}, passes


def test_loop_sample_mode_accumulates_micro_batches_to_the_same_step(tiny_model_dir, tmp_path):
    _, whole, passes_whole = _loop_sample_run(tiny_model_dir, tmp_path / "whole", 4)
    _, split, passes_split = _loop_sample_run(tiny_model_dir, tmp_path / "split", 2)
    assert passes_whole == [4] and passes_split == [2, 2]  # answers per forward/backward pass
    assert max(float(t.abs().max()) for k, t in whole.items() if "lora_B" in k) > 1e-3
    for key in whole:
        torch.testing.assert_close(split[key], whole[key], rtol=1e-4, atol=1e-6)


def test_loop_sample_mode_reads_answers_and_masks_truncated_ones(tiny_model_dir, tmp_path):
    from drest.llm import datasets, rewards

    config, _, _ = _loop_sample_run(tiny_model_dir, tmp_path / "s", 8)
    (row,) = [json.loads(line) for line in (tmp_path / "s" / "log.jsonl").read_text().splitlines()]
    assert row["invalid"] == 1 and row["truncated"] == 1
    record = {r["id"]: r for r in datasets.load("post-train", 0)}[row["id"]]
    expected, _ = rewards.advantages(record, ["a", None, "c", "b"], config)
    assert row["mean_reward"] == pytest.approx(float(np.mean(expected)))
