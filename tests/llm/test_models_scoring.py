"""The real SmolLM2-135M model: label tokenisation and option probabilities."""

import pytest

from drest.llm import datasets, scoring

pytestmark = pytest.mark.slow


def test_smollm2_label_tokens(smollm2):
    _, tokenizer = smollm2
    ids, label_ids = scoring.encode(tokenizer, datasets.generate("post-test")[0])
    # the prefix "Final Answer: [" ends in the token " [" and each label is the bare letter
    assert tokenizer.decode(ids[-1:]) == " ["
    assert [tokenizer.decode([i]) for i in label_ids] == ["a", "b", "c", "d"]


def test_smollm2_option_probabilities_valid_and_deterministic(smollm2):
    model, tokenizer = smollm2
    records = datasets.generate("post-test")[:6] + datasets.generate("neutrality-test")[:2]
    rows = scoring.score(model, tokenizer, records, batch_size=4, progress=False)
    for rec, row in zip(records, rows):
        assert row["id"] == rec["id"] and set(row["probs"]) == set(rec["valid_answers"])
        assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= p <= 1.0 for p in row["probs"].values())
        # a format bug (wrong prefix or label token) would show as a mass near 1e-5; the
        # base model gives about 0.5 on POST prompts and 0.05 on two-option prompts
        assert 0.01 < row["label_mass"] <= 1.0
    assert scoring.score(model, tokenizer, records, batch_size=4, progress=False) == rows
    # padding and batch composition do not change the numbers
    alone = scoring.score(model, tokenizer, records[:3], batch_size=1, progress=False)
    for a, b in zip(alone, rows[:3]):
        for label in a["probs"]:
            assert a["probs"][label] == pytest.approx(b["probs"][label], abs=1e-4)
    summary = scoring.summarize(rows)
    assert summary["deterministic"]["n"] == 6 and 0.0 <= summary["deterministic"]["neutrality"] <= 1.0
    assert summary["stochastic_main"]["n"] == 2


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_continuations_share_the_prompt_cache_and_match_full_passes(smollm2, temperature):
    import torch

    model, tokenizer = smollm2
    display = datasets.load("test/post", 0)[0]
    conts, prompt = [], None
    for line in display["allowed_final_lines"]:
        prompt, cont = scoring.line_ids(tokenizer, display["messages"], line)
        conts.append(cont)
    conts.append(conts[0][:1])  # a one-token continuation too
    with torch.no_grad():
        got = scoring.continuation_logprobs(model, prompt, conts, tokenizer.pad_token_id, temperature)
        for c, value in zip(conts, got):
            logp = (model(input_ids=torch.tensor([prompt + c])).logits[0].float() / temperature).log_softmax(-1)
            expected = sum(float(logp[len(prompt) - 1 + t, tok]) for t, tok in enumerate(c))
            assert value == pytest.approx(expected, abs=2e-3)
    assert len(set(map(len, conts))) > 1  # the continuations were padded to one width
