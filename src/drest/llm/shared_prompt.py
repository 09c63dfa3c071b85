"""One prompt, many continuations: each distinct prompt is encoded once and its
key/value cache shared by every answer drawn from it or scored after it.

A meta-episode is one prompt answered 32 times, so re-encoding the prompt for each
answer was most of the cost of training in sample mode. ``benchmarks/shared_prompt.py``
(SmolLM2-135M, one CPU thread, a 263-token prompt, 24-token answers): 32 answers
sampled in 59.8 s with the prompt in every row, 12.9 s with it shared; forward and
backward over 8 answers 47.0 s and 6.9 s, same log-probability. The prompt's
activations are computed once, and its gradient is the sum over the answers that
share it.

Rows are left-padded prompts (``ids``, ``mask``) and may repeat; completions are
right-padded. A model whose cache cannot be re-indexed by batch row (some hybrid
recurrent caches), or that returns none (gradient checkpointing in training), gets
the plain full-sequence pass instead: same numbers, more compute."""

from __future__ import annotations


def _positions(mask):
    return (mask.cumsum(-1) - 1).clamp(min=0)


def _shared_cache(model, ids, mask):
    """Encode each distinct row of ``ids``/``mask`` once; returns (last-position logits
    per row, cache indexed by row), or None when the cache cannot be shared."""
    import torch

    distinct, inverse = torch.unique(torch.cat([ids, mask], dim=1), dim=0, return_inverse=True)
    u_ids, u_mask = distinct[:, :ids.shape[1]], distinct[:, ids.shape[1]:]
    if not bool(u_mask.any(-1).all()):  # a row of padding only: nothing to share
        return None
    out = model(input_ids=u_ids, attention_mask=u_mask, position_ids=_positions(u_mask), use_cache=True)
    cache = out.past_key_values
    if cache is None or not hasattr(cache, "batch_select_indices"):
        return None
    cache.batch_select_indices(inverse)
    return out.logits[:, -1][inverse], cache


def generate(model, ids, mask, generation_config):
    """Sampled continuations of each row (one per row; repeat a row for more), as the
    generated token ids after the prompt width. The prompt minus its last token is
    encoded once per distinct row; ``generate`` then runs from that cache."""
    import torch

    with torch.no_grad():
        shared = _shared_cache(model, ids[:, :-1], mask[:, :-1]) if ids.shape[1] > 1 else None
        extra = {} if shared is None else {"past_key_values": shared[1]}
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=generation_config, **extra)
    return out[:, ids.shape[1]:]


def token_logprobs(model, ids, mask, completions, completion_mask, temperature: float = 1.0,
                   entropy: bool = False):
    """Each completion token's log-probability under logits / ``temperature`` (rows x
    tokens, differentiable when gradients are on), and each position's entropy if
    ``entropy``. Padding positions get values that the caller masks out."""
    import torch

    shared = _shared_cache(model, ids, mask)
    if shared is None:
        both = torch.cat([mask, completion_mask], dim=1)
        logits = model(input_ids=torch.cat([ids, completions], dim=1), attention_mask=both,
                       position_ids=_positions(both)).logits[:, ids.shape[1] - 1:-1]
    else:
        head, cache = shared
        logits = head[:, None]
        if completions.shape[1] > 1:
            positions = mask.sum(-1, keepdim=True) + torch.arange(completions.shape[1] - 1, device=ids.device)
            rest = model(input_ids=completions[:, :-1], past_key_values=cache, position_ids=positions,
                         attention_mask=torch.cat([mask, completion_mask[:, :-1]], dim=1)).logits
            logits = torch.cat([logits, rest], dim=1)
    logp = (logits.float() / temperature).log_softmax(-1)
    per_token = logp.gather(-1, completions[..., None])[..., 0]
    return per_token, (-(logp.exp() * logp).sum(-1) if entropy else None)
