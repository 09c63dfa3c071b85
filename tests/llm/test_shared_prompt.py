"""Shared-prompt passes give the numbers, gradients and answers of one full pass per row."""

import pytest

from drest.llm import shared_prompt

pytestmark = pytest.mark.slow  # loads SmolLM2's tokenizer, like the other model tests

PROMPTS = [[5, 17, 99, 4, 8], [5, 17, 99, 4, 8], [61, 3, 250], [5, 17, 99, 4, 8], [61, 3, 250]]
ANSWERS = [[7, 7, 2], [9], [11, 12], [13, 14, 15], [3]]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, torch):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).float()


def _batch(torch, pad=0):
    """Left-padded prompts and right-padded answers, as TRL lays them out."""
    width, k = max(map(len, PROMPTS)), max(map(len, ANSWERS))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in PROMPTS])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in PROMPTS])
    comp = torch.tensor([a + [pad] * (k - len(a)) for a in ANSWERS])
    comp_mask = torch.tensor([[1] * len(a) + [0] * (k - len(a)) for a in ANSWERS])
    return ids, mask, comp, comp_mask


def _one_row_at_a_time(model, torch, temperature):
    """Reference: each prompt + answer alone, no padding, no cache."""
    out = []
    for p, a in zip(PROMPTS, ANSWERS):
        logits = model(input_ids=torch.tensor([p + a])).logits[0, len(p) - 1:-1]
        logp = (logits.float() / temperature).log_softmax(-1)
        out.append(logp.gather(-1, torch.tensor(a)[:, None])[:, 0])
    return out


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_token_logprobs_and_gradients_equal_one_full_pass_per_row(tiny, torch, temperature, monkeypatch):
    ids, mask, comp, comp_mask = _batch(torch)
    tiny.zero_grad()
    ref = _one_row_at_a_time(tiny, torch, temperature)
    sum(r.sum() for r in ref).backward()
    ref_grads = [p.grad.clone() for p in tiny.parameters()]

    prefills = []
    real = shared_prompt._shared_cache
    monkeypatch.setattr(shared_prompt, "_shared_cache", lambda *a: prefills.append(a[1].shape[0]) or real(*a))
    tiny.zero_grad()
    got, entropy = shared_prompt.token_logprobs(tiny, ids, mask, comp, comp_mask, temperature, entropy=True)
    assert prefills == [5]  # one prefill call for the batch...
    assert torch.unique(torch.cat([ids, mask], 1), dim=0).shape[0] == 2  # ...of two distinct prompts
    (got * comp_mask).sum().backward()
    for row, r, a in zip(got, ref, ANSWERS):
        assert row[:len(a)].tolist() == pytest.approx(r.tolist(), abs=1e-5)
    for p, g in zip(tiny.parameters(), ref_grads):
        # float32 sums in another order: relative to the gradient's size
        assert float((p.grad - g).norm()) <= 1e-4 * float(g.norm()), "the shared prompt's gradient differs"
    assert entropy.shape == comp.shape and bool((entropy > 0).all())


def test_a_model_without_a_shareable_cache_gets_the_full_pass(tiny, torch, monkeypatch):
    ids, mask, comp, comp_mask = _batch(torch)
    with torch.no_grad():
        shared, _ = shared_prompt.token_logprobs(tiny, ids, mask, comp, comp_mask)
        monkeypatch.setattr(shared_prompt, "_shared_cache", lambda *a: None)
        full, _ = shared_prompt.token_logprobs(tiny, ids, mask, comp, comp_mask)
    assert torch.allclose(shared * comp_mask, full * comp_mask, atol=1e-5)
    # and the first answer token is the last prompt position's prediction, padding or not
    ref = _one_row_at_a_time(tiny, torch, 1.0)
    assert [float(r[0]) for r in ref] == pytest.approx(full[:, 0].tolist(), abs=1e-5)


def test_generate_from_the_shared_prompt_gives_the_plain_answers(tiny, torch, tiny_model_dir):
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids, mask, _, _ = _batch(torch, tokenizer.pad_token_id)
    # greedy, so both must pick the same tokens; a made-up end token ends some rows early
    first = tiny.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=6,
                          pad_token_id=tokenizer.pad_token_id)[:, ids.shape[1]:]
    config = GenerationConfig(do_sample=False, max_new_tokens=6, pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=int(first[0, 2]))
    plain = tiny.generate(input_ids=ids, attention_mask=mask, generation_config=config)[:, ids.shape[1]:]
    got = shared_prompt.generate(tiny, ids, mask, config)
    assert got.tolist() == plain.tolist()
    assert got.shape[1] == 6 and (got[0, 3:] == tokenizer.pad_token_id).all()  # row 0 stopped at its end token
