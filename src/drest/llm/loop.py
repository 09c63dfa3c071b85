"""drest's own one-process DReST-RLOO loop (``--trainer loop``): kept for its exact
mode, which trains on the option distribution itself, and as the reference the
TRL trainer is benchmarked against. Rewards and advantages come from
``drest.llm.rewards``, the same code path as the TRL trainer's.

* ``exact``: one forward pass per prompt gives the option distribution (label
  probabilities after ``Final Answer: [`` renormalised over the valid labels);
  labels are sampled from it and the policy gradient flows through their
  log-probabilities, plus the exact gradient of the label mass (docs/llm.md).
* ``sample``: free-form completions parsed for ``Final Answer: [x]``; with
  sequential counting and ``group_size``, one optimiser step per group (the v3
  paper's schedule).

Checkpoints hold the adapter, optimiser and scheduler state; sampling and LoRA
dropout are seeded per prompt, so a resumed run gives the unbroken run's adapter.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import DrestError
from ..io import write_dir
from . import datasets, rundir
from .models import chat_text
from .rewards import advantages, check_training_records, meta_episode_stats, parse_answer
from .scoring import encode, next_token_logprobs


def save_checkpoint(out: Path, model, optimizer, scheduler, state: dict) -> Path:
    """Write adapter + optimiser + state to a fresh directory, then point ``latest.json``
    at it with an atomic rename; older checkpoints are removed afterwards."""
    import torch

    name = f"checkpoint-{state['prompts_done']:06d}"

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=2))

    final = write_dir(out / name, write)
    rundir.write_json_atomic(out / "latest.json", {"checkpoint": name})
    for old in out.glob("checkpoint-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint directory ``latest.json`` points to, if any."""
    pointer = out / "latest.json"
    if not pointer.is_file():
        return None
    path = out / json.loads(pointer.read_text())["checkpoint"]
    return path if (path / "state.json").is_file() else None


def _schedule(n_records: int, config) -> list[int]:
    """Record indices in training order: each epoch a seeded shuffle."""
    order = []
    for epoch in range(config.epochs):
        perm = list(range(n_records))
        random.Random(config.seed * 1000 + epoch).shuffle(perm)
        order.extend(perm)
    return order[: config.max_prompts] if config.max_prompts else order


def _exact_step(model, tokenizer, records, config, gen):
    """Policy-gradient loss of a batch of prompts from their exact option distributions."""
    import torch

    encoded = [encode(tokenizer, rec) for rec in records]
    logp = next_token_logprobs(model, [ids for ids, _ in encoded], tokenizer.pad_token_id)
    losses, stats = [], []
    for row, (rec, (_, label_ids)) in enumerate(zip(records, encoded)):
        label_logp = logp[row, label_ids]
        mass = label_logp.logsumexp(-1).exp()
        logq = label_logp - label_logp.logsumexp(-1)
        draws = torch.multinomial(logq.detach().exp().cpu(), config.meta_episode, replacement=True, generator=gen)
        answers = [rec["valid_answers"][j] for j in draws.tolist()]
        rewards, adv = advantages(rec, answers, config)
        adv_t = torch.tensor(adv, dtype=logq.dtype, device=logq.device)
        # The one-token answer is valid with probability `mass` (then a label ~ q) and
        # otherwise unparseable, paid invalid_penalty as in sample mode. The gradient of
        # mass * E_q[R] + (1 - mass) * penalty is mass * grad E_q[R] (RLOO on the sampled
        # labels) + (E_q[R] - penalty) * grad mass (exact, with E_q[R] estimated by the
        # meta-episode's mean reward). Without the second term, training on the
        # renormalised distribution alone lets probability leak off the labels.
        pg = (adv_t * logq[draws.to(logq.device)]).mean()
        losses.append(-(mass.detach() * pg + float(np.mean(rewards) - config.invalid_penalty) * mass))
        stats.append({**meta_episode_stats(rec, answers, rewards), "label_mass": float(mass.detach())})
    return torch.stack(losses).mean(), stats


def _completion_logprobs(model, prompt_ids, completions, eos_ids: set[int]):
    """Sum of token log-probs of each completion (up to and including its first EOS)."""
    import torch

    from .shared_prompt import token_logprobs

    device = next(model.parameters()).device
    keep = torch.ones_like(completions, dtype=torch.long)
    for i, row in enumerate(completions.tolist()):
        ends = [t for t, tok in enumerate(row) if tok in eos_ids]
        if ends:
            keep[i, ends[0] + 1:] = 0
    prompt = prompt_ids.expand(completions.shape[0], -1).to(device)
    keep = keep.to(device)
    tok_logp, _ = token_logprobs(model, prompt, torch.ones_like(prompt), completions.to(device), keep)
    return (tok_logp * keep).sum(-1)


def _sample_meta_episode(model, tokenizer, record, config):
    """Generate the meta-episode's completions, read them, and return a function giving
    each group's policy-gradient loss."""
    import torch
    from transformers import GenerationConfig

    from . import shared_prompt

    prompt_ids = tokenizer(chat_text(tokenizer, record["prompt"]), add_special_tokens=False,
                           return_tensors="pt")["input_ids"]
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    settings = GenerationConfig(do_sample=True, temperature=config.temperature, top_k=0, top_p=1.0,
                                max_new_tokens=config.max_completion_tokens, pad_token_id=tokenizer.pad_token_id,
                                eos_token_id=sorted(eos_ids))
    rows = prompt_ids.repeat(config.group, 1).to(device)
    completions = []
    model.eval()
    for _ in range(config.meta_episode // config.group):
        completions.extend(shared_prompt.generate(model, rows, torch.ones_like(rows), settings).cpu())
    model.train()
    texts = [tokenizer.decode(c, skip_special_tokens=True) for c in completions]
    answers = [parse_answer(t, record["valid_answers"]) for t in texts]
    truncated = [not any(int(t) in eos_ids for t in c) for c in completions]
    if config.truncated == "penalise":
        answers = [None if cut else a for a, cut in zip(answers, truncated)]
    rewards, adv = advantages(record, answers, config)
    weight = np.array([0.0 if (cut and config.truncated == "mask") else 1.0 for cut in truncated])

    def group_loss(g: int, start: int, stop: int):
        """Answers start..stop of group g: their share of the group's mean loss."""
        sl = slice(g * config.group + start, g * config.group + stop)
        width = max(len(c) for c in completions[sl])
        block = torch.stack([torch.nn.functional.pad(c, (0, width - len(c)), value=tokenizer.pad_token_id)
                             for c in completions[sl]])
        logp = _completion_logprobs(model, prompt_ids, block, eos_ids)
        coef = torch.tensor(adv[sl] * weight[sl], dtype=logp.dtype, device=logp.device)
        return -(coef * logp).sum() / config.group

    return group_loss, {**meta_episode_stats(record, answers, rewards), "truncated": int(sum(truncated))}


def wrap_lora(model, config, resume_from: Path | None):
    """The model with trainable LoRA adapters: fresh, or loaded from a checkpoint."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from .models import attach_adapter

    if getattr(model, "is_loaded_in_4bit", False):
        model = prepare_model_for_kbit_training(model)
    if resume_from is not None:
        return attach_adapter(model, str(resume_from), trainable=True)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def _step(parts, params, optimizer, scheduler, config, done: int) -> float:
    """One optimiser step on the sum of ``parts`` (functions returning losses), each built
    and backpropagated in turn, so only one part's activations are held at a time."""
    import torch

    value = 0.0
    for part in parts:
        loss = part()
        value += float(loss.detach())
        if not np.isfinite(value):
            optimizer.zero_grad(set_to_none=True)
            raise DrestError(f"training: the loss became {value} after {done} prompts; nothing was updated. "
                             "Lower --lr or check the reward settings")
        loss.backward()
    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return value


def train(config, model, tokenizer, *, resume: bool = False, progress: bool = True):
    """Fine-tune ``model`` with DReST-RLOO; write checkpoints, ``log.jsonl``, the final
    ``adapter/`` and ``train_summary.json`` under ``config.out``. Returns (peft model, summary)."""
    import torch
    from tqdm import tqdm
    from transformers import get_constant_schedule_with_warmup

    config.validate()
    records = check_training_records(datasets.load(config.dataset, config.seed))
    if any("allowed_final_lines" in rec for rec in records):
        raise DrestError(f"dataset: --trainer loop reads letter-style prompts (post-train); {config.dataset!r} "
                         "is in the final-line layout, which --trainer trl reads")
    out = Path(config.out)
    ckpt = latest_checkpoint(out) if out.is_dir() else None
    rundir.start(config, ckpt is not None, resume)
    state = json.loads((ckpt / "state.json").read_text()) if ckpt else {"prompts_done": 0, "seconds": 0.0}

    torch.manual_seed(config.seed)  # the adapter's initial weights: the seed's, not the process's RNG state
    model = wrap_lora(model, config, ckpt)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr)
    # constant learning rate after a linear warm-up (transformers' schedule, as in the TRL trainer)
    scheduler = get_constant_schedule_with_warmup(optimizer, config.warmup_steps)
    if ckpt:
        saved = torch.load(ckpt / "optimizer.pt", map_location="cpu")
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])

    schedule = _schedule(len(records), config)
    done, started = state["prompts_done"], time.time()
    log = rundir.open_log(out / "log.jsonl", done)
    since_ckpt = 0
    with tqdm(total=len(schedule), initial=done, desc="DReST-RLOO (loop)", unit="prompt",
              disable=not progress) as bar:
        while done < len(schedule):
            # per-step seeds (sampling and LoRA dropout) make a resumed run draw exactly
            # what an unbroken run would
            step_seed = config.seed * 1_000_003 + done
            torch.manual_seed(step_seed)
            batch = [records[i] for i in schedule[done:done + config.prompts_per_step]]
            if config.mode == "exact":
                gen = torch.Generator().manual_seed(step_seed)
                loss, stats = _exact_step(model, tokenizer, batch, config, gen)
                losses = [_step([lambda: loss], params, optimizer, scheduler, config, done)]
            else:
                stats, losses, parts = [], [], []
                for rec in batch:
                    group_loss, st = _sample_meta_episode(model, tokenizer, rec, config)
                    stats.append(st)
                    parts.append(group_loss)
                # one optimiser step per group (the whole meta-episode unless --group-size splits
                # it), over passes of --micro-batch answers: a 32-answer pass of SmolLM2-135M
                # was killed for memory on a 24 GB machine
                chunks = [(a, min(a + config.micro_batch, config.group)) for a in range(0, config.group, config.micro_batch)]
                for g in range(config.meta_episode // config.group):
                    passes = [lambda p=part, a=a, b=b: p(g, a, b) / len(parts) for part in parts for a, b in chunks]
                    losses.append(_step(passes, params, optimizer, scheduler, config, done))
            done += len(batch)
            since_ckpt += len(batch)
            for st in stats:
                log.write(json.dumps({"prompts_done": done, "loss": float(np.mean(losses)), **st}) + "\n")
            log.flush()
            bar.update(len(batch))
            bar.set_postfix(reward=f"{np.mean([s['mean_reward'] for s in stats]):.3f}")
            if since_ckpt >= config.checkpoint_every or done == len(schedule):
                save_checkpoint(out, model, optimizer, scheduler,
                                {"prompts_done": done, "config": asdict(config),
                                 "seconds": state["seconds"] + time.time() - started})
                since_ckpt = 0
    log.close()
    final = latest_checkpoint(out)
    rundir.publish_adapter(model, out)
    summary = rundir.summarize_log(out / "log.jsonl")
    summary.update(prompts=len(schedule), seconds=json.loads((final / "state.json").read_text())["seconds"])
    rundir.write_json_atomic(out / "train_summary.json", summary)
    model.eval()
    return model, summary
