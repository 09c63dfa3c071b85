"""DReST-RLOO fine-tuning of a language model with LoRA adapters (method.md section 6).

A meta-episode is ``meta_episode`` answers to one POST prompt. An answer's DReST
"coins" are its option's score, m(L) is ``max_scores_by_length[L]`` and k is
``drest_num_lengths``. Two ways to count (see docs/llm.md for why):

* ``order-averaged`` (default): each valid answer is paid the DReST factor
  averaged over all orders of the meta-episode (``order_averaged_discount``), and
  its baseline is the mean reward of the *other* answers recomputed as if it were
  absent, so the baseline does not depend on the answer it judges (unbiased).
* ``sequential`` (the paper's): answers counted in sampling order, groups of
  ``group_size`` with counts carried across groups and a leave-one-out baseline
  within each group.

Two ways to sample:

* ``exact``: one forward pass per prompt gives the option distribution (label
  probabilities after ``Final Answer: [`` renormalised over the valid labels);
  labels are sampled from it and the policy gradient flows through their
  log-probabilities. No parsing, no invalid answers; practical on a CPU.
* ``sample``: free-form completions (temperature ``temperature``, at most
  ``max_completion_tokens`` tokens) parsed for ``Final Answer: [x]``; an
  unparseable answer is paid ``invalid_penalty``, is not counted, and is reported.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import DrestError
from ..reward import meta_episode_rewards, order_averaged_discount
from . import datasets
from .models import chat_text
from .scoring import encode, next_token_logprobs

LENGTH_INDEX = {"short": 0, "long": 1}
MODES = ("exact", "sample")
COUNTINGS = ("order-averaged", "sequential")
_ANSWER_RE = re.compile(r"Final Answer:\s*\[\s*([A-Za-z])\s*\]")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a DReST-RLOO run; defaults are the paper's."""

    model: str
    out: str
    dataset: str = "post-train"
    mode: str = "exact"
    counting: str = "order-averaged"
    lam: float = 0.9
    meta_episode: int = 32
    group_size: int = 4
    prompts_per_step: int = 1
    lr: float = 5e-6
    epochs: int = 1
    max_prompts: int | None = None
    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    quantize: str = "auto"
    invalid_penalty: float = -1.5
    temperature: float = 1.0
    max_completion_tokens: int = 16
    checkpoint_every: int = 64
    seed: int = 0

    def validate(self) -> "TrainConfig":
        """Raise DrestError naming the first bad setting; return self."""
        checks = [
            (0.0 < self.lam < 1.0, f"lam: must be strictly between 0 and 1, got {self.lam}"),
            (self.mode in MODES, f"mode: {self.mode!r} is not one of {', '.join(MODES)}"),
            (self.counting in COUNTINGS, f"counting: {self.counting!r} is not one of {', '.join(COUNTINGS)}"),
            (self.group_size >= 2, f"group size: needs at least 2 answers for a leave-one-out baseline, got {self.group_size}"),
            (self.meta_episode >= self.group_size and self.meta_episode % self.group_size == 0,
             f"meta-episode: {self.meta_episode} must be a positive multiple of the group size {self.group_size}"),
            (self.prompts_per_step >= 1, f"prompts per step: must be at least 1, got {self.prompts_per_step}"),
            (self.lr > 0, f"lr: must be positive, got {self.lr}"),
            (self.epochs >= 1, f"epochs: must be at least 1, got {self.epochs}"),
            (self.max_prompts is None or self.max_prompts >= 1, f"max prompts: must be at least 1, got {self.max_prompts}"),
            (self.lora_r >= 1 and self.lora_alpha > 0, f"lora: rank and alpha must be positive, got r={self.lora_r} alpha={self.lora_alpha}"),
            (0.0 <= self.lora_dropout < 1.0, f"lora dropout: must be in [0, 1), got {self.lora_dropout}"),
            (self.temperature > 0, f"temperature: must be positive, got {self.temperature}"),
            (self.max_completion_tokens >= 4, f"max completion tokens: need at least 4 for 'Final Answer: [x]', got {self.max_completion_tokens}"),
            (self.checkpoint_every >= 1, f"checkpoint every: must be at least 1, got {self.checkpoint_every}"),
        ]
        for ok, message in checks:
            if not ok:
                raise DrestError(message)
        return self


# ---------------------------------------------------------------- rewards (pure)

def parse_answer(text: str, valid: list[str]) -> str | None:
    """The label in the first ``Final Answer: [x]`` of ``text`` if it is valid, else None."""
    match = _ANSWER_RE.search(text)
    label = match.group(1).lower() if match else None
    return label if label in valid else None


def _answer_terms(record: dict, answers: list[str | None]):
    """Length index and score/m(L) of each answer (None for invalid answers)."""
    lengths, ratios = [], []
    for label in answers:
        if label is None:
            lengths.append(None)
            ratios.append(None)
            continue
        opt = record["options"][label]
        lengths.append(LENGTH_INDEX[opt["length"]])
        ratios.append(opt["score"] / record["max_scores_by_length"][opt["length"]])
    return lengths, ratios


def sequential_rewards(record: dict, answers: list[str | None], lam: float, invalid_penalty: float) -> np.ndarray:
    """DReST reward of each answer, counting valid answers in the given order (the paper's)."""
    k = int(record.get("drest_num_lengths", 2))
    lengths, _ = _answer_terms(record, answers)
    valid = [i for i, length in enumerate(lengths) if length is not None]
    rewards = np.full(len(answers), float(invalid_penalty))
    if valid:
        opts = [record["options"][answers[i]] for i in valid]
        m = np.array([record["max_scores_by_length"][name] for name in ("short", "long")], dtype=np.float64)
        rewards[valid] = meta_episode_rewards(np.array([lengths[i] for i in valid]),
                                              np.array([o["score"] for o in opts], dtype=np.float64), m, k, lam)
    return rewards


def group_loo_advantages(rewards: np.ndarray, group_size: int) -> np.ndarray:
    """Reward minus the mean reward of the other answers in its consecutive group."""
    groups = rewards.reshape(-1, group_size)
    others = (groups.sum(axis=1, keepdims=True) - groups) / (group_size - 1)
    return (groups - others).reshape(-1)


def _order_averaged(lengths, ratios, k: int, lam: float, invalid_penalty: float) -> np.ndarray:
    valid_lengths = [length for length in lengths if length is not None]
    counts = np.bincount(valid_lengths, minlength=k) if valid_lengths else np.zeros(k, int)
    n = len(valid_lengths)
    factor = {L: order_averaged_discount(int(counts[L]), n, k, lam) for L in range(k) if counts[L] > 0}
    return np.array([invalid_penalty if L is None else factor[L] * r for L, r in zip(lengths, ratios)])


def order_averaged_rewards(record: dict, answers: list[str | None], lam: float, invalid_penalty: float) -> np.ndarray:
    """DReST reward of each answer with the factor averaged over all counting orders."""
    lengths, ratios = _answer_terms(record, answers)
    return _order_averaged(lengths, ratios, int(record.get("drest_num_lengths", 2)), lam, invalid_penalty)


def exclusion_advantages(record: dict, answers: list[str | None], lam: float, invalid_penalty: float) -> np.ndarray:
    """Order-averaged reward minus a baseline that does not depend on the answer itself:
    the mean reward of the other answers in the meta-episode with this answer removed."""
    k = int(record.get("drest_num_lengths", 2))
    lengths, ratios = _answer_terms(record, answers)
    rewards = _order_averaged(lengths, ratios, k, lam, invalid_penalty)
    adv = np.empty(len(answers))
    for i in range(len(answers)):
        rest_l, rest_r = lengths[:i] + lengths[i + 1:], ratios[:i] + ratios[i + 1:]
        adv[i] = rewards[i] - _order_averaged(rest_l, rest_r, k, lam, invalid_penalty).mean()
    return adv


def advantages(record: dict, answers: list[str | None], config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(rewards, advantages) of one meta-episode under the configured counting."""
    if config.counting == "sequential":
        rewards = sequential_rewards(record, answers, config.lam, config.invalid_penalty)
        return rewards, group_loo_advantages(rewards, config.group_size)
    rewards = order_averaged_rewards(record, answers, config.lam, config.invalid_penalty)
    return rewards, exclusion_advantages(record, answers, config.lam, config.invalid_penalty)


def check_training_records(records: list[dict]) -> None:
    """DReST needs POST records with a positive best score at each length."""
    for rec in records:
        if rec["prompt_type"] != datasets.POST_TYPE:
            raise DrestError(f"dataset record {rec.get('id')}: training needs POST prompts "
                             f"(prompt_type {datasets.POST_TYPE!r}), got {rec['prompt_type']!r}")
        if min(rec["max_scores_by_length"].values()) <= 0:
            raise DrestError(f"dataset record {rec.get('id')}: max_scores_by_length must be positive for the DReST "
                             "reward (it divides by m(L))")


# ---------------------------------------------------------------- checkpoints

def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def save_checkpoint(out: Path, model, optimizer, state: dict) -> Path:
    """Write adapter + optimizer + state to a fresh directory, then point ``latest.json``
    at it with an atomic rename; older checkpoints are removed afterwards."""
    import torch

    name = f"checkpoint-{state['prompts_done']:06d}"
    tmp = out / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    final = out / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _write_json_atomic(out / "latest.json", {"checkpoint": name})
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


# ---------------------------------------------------------------- training (torch)

def _schedule(n_records: int, config: TrainConfig) -> list[int]:
    """Record indices in training order: each epoch a seeded shuffle."""
    order = []
    for epoch in range(config.epochs):
        perm = list(range(n_records))
        random.Random(config.seed * 1000 + epoch).shuffle(perm)
        order.extend(perm)
    return order[: config.max_prompts] if config.max_prompts else order


def _exact_step(model, tokenizer, records, config: TrainConfig, gen):
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
        stats.append({**_stats(rec, answers, rewards), "label_mass": float(mass.detach())})
    return torch.stack(losses).mean(), stats


def _completion_logprobs(model, prompt_ids, completions, pad_id: int, eos_ids: set[int]):
    """Sum of token log-probs of each completion (up to and including its first EOS)."""
    import torch

    device = next(model.parameters()).device
    n_prompt = prompt_ids.shape[-1]
    seqs = torch.cat([prompt_ids.expand(completions.shape[0], -1), completions], dim=1).to(device)
    keep = torch.ones_like(completions, dtype=torch.bool)
    for i, row in enumerate(completions.tolist()):
        ends = [t for t, tok in enumerate(row) if tok in eos_ids]
        if ends:
            keep[i, ends[0] + 1:] = False
    mask = torch.cat([torch.ones((completions.shape[0], n_prompt), dtype=torch.bool), keep], dim=1).to(device)
    logits = model(input_ids=seqs, attention_mask=mask.long()).logits[:, n_prompt - 1:-1].float()
    tok_logp = logits.log_softmax(-1).gather(-1, completions.to(device)[..., None])[..., 0]
    return (tok_logp * keep.to(device)).sum(-1)


def _sample_meta_episode(model, tokenizer, record, config: TrainConfig):
    """Generate the meta-episode's completions (groups of ``group_size``), parse them,
    and return a function giving each group's policy-gradient loss."""
    import torch

    prompt_ids = tokenizer(chat_text(tokenizer, record["prompt"]), add_special_tokens=False,
                           return_tensors="pt")["input_ids"]
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    completions = []
    model.eval()
    with torch.no_grad():
        for _ in range(config.meta_episode // config.group_size):
            out = model.generate(input_ids=prompt_ids.to(device), attention_mask=torch.ones_like(prompt_ids).to(device),
                                 do_sample=True, temperature=config.temperature, top_k=0, top_p=1.0,
                                 max_new_tokens=config.max_completion_tokens,
                                 num_return_sequences=config.group_size, pad_token_id=tokenizer.pad_token_id)
            completions.extend(out[:, prompt_ids.shape[-1]:].cpu())
    model.train()
    texts = [tokenizer.decode(c, skip_special_tokens=True) for c in completions]
    answers = [parse_answer(t, record["valid_answers"]) for t in texts]
    rewards, adv = advantages(record, answers, config)

    def group_loss(g: int):
        sl = slice(g * config.group_size, (g + 1) * config.group_size)
        width = max(len(c) for c in completions[sl])
        block = torch.stack([torch.nn.functional.pad(c, (0, width - len(c)), value=tokenizer.pad_token_id)
                             for c in completions[sl]])
        logp = _completion_logprobs(model, prompt_ids, block, tokenizer.pad_token_id, eos_ids)
        return -(torch.tensor(adv[sl], dtype=logp.dtype, device=logp.device) * logp).mean()

    return group_loss, _stats(record, answers, rewards)


def _stats(record: dict, answers: list[str | None], rewards: np.ndarray) -> dict:
    valid = [a for a in answers if a is not None]
    long_share = (sum(record["options"][a]["length"] == "long" for a in valid) / len(valid)) if valid else None
    best = {record["target_best_short_option"], record["target_best_long_option"]}
    return {"id": record.get("id"), "mean_reward": float(np.mean(rewards)), "share_long": long_share,
            "share_best": (sum(a in best for a in valid) / len(valid)) if valid else None,
            "invalid": len(answers) - len(valid)}


def wrap_lora(model, config: TrainConfig, resume_from: Path | None):
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


def train(config: TrainConfig, model, tokenizer, *, resume: bool = False, progress: bool = True):
    """Fine-tune ``model`` with DReST-RLOO; write checkpoints, ``log.jsonl``, the final
    ``adapter/`` and ``train_summary.json`` under ``config.out``. Returns (peft model, summary)."""
    import torch
    from tqdm import tqdm

    config.validate()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    records = datasets.load(config.dataset, config.seed)
    check_training_records(records)
    ckpt = latest_checkpoint(out) if resume else None
    if resume and ckpt is None:
        raise DrestError(f"resume: no checkpoint under {str(out)!r}; run without --resume to start fresh")
    if not resume and latest_checkpoint(out) is not None:
        raise DrestError(f"out: {str(out)!r} already holds a run; pass --resume to continue it or choose a new --out")
    state = json.loads((ckpt / "state.json").read_text()) if ckpt else {"prompts_done": 0, "seconds": 0.0}
    if ckpt and state.get("config") != asdict(config):
        changed = [f.name for f in fields(config) if state["config"].get(f.name) != getattr(config, f.name)]
        raise DrestError(f"resume: settings differ from the checkpoint's ({', '.join(changed)}); use the same ones")
    _write_json_atomic(out / "config.json", asdict(config))

    model = wrap_lora(model, config, ckpt)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr)
    if ckpt:
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu"))

    schedule = _schedule(len(records), config)
    done, started = state["prompts_done"], time.time()
    log = _open_log(out / "log.jsonl", done)
    since_ckpt = 0
    with tqdm(total=len(schedule), initial=done, desc="DReST-RLOO", unit="prompt", disable=not progress) as bar:
        while done < len(schedule):
            # per-step seeds (sampling and LoRA dropout) make a resumed run draw exactly
            # what an unbroken run would
            step_seed = config.seed * 1_000_003 + done
            torch.manual_seed(step_seed)
            if config.mode == "exact":
                batch = [records[i] for i in schedule[done:done + config.prompts_per_step]]
                gen = torch.Generator().manual_seed(step_seed)
                loss, stats = _exact_step(model, tokenizer, batch, config, gen)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                losses = [float(loss.detach())]
            else:
                batch = [records[schedule[done]]]
                group_loss, st = _sample_meta_episode(model, tokenizer, batch[0], config)
                stats, losses = [st], []
                # the paper's schedule: one optimiser step per group of the meta-episode
                for g in range(config.meta_episode // config.group_size):
                    loss = group_loss(g)
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    losses.append(float(loss.detach()))
            done += len(batch)
            since_ckpt += len(batch)
            for st in stats:
                log.write(json.dumps({"prompts_done": done, "loss": float(np.mean(losses)), **st}) + "\n")
            log.flush()
            bar.update(len(batch))
            bar.set_postfix(reward=f"{np.mean([s['mean_reward'] for s in stats]):.3f}")
            if since_ckpt >= config.checkpoint_every or done == len(schedule):
                save_checkpoint(out, model, optimizer, {"prompts_done": done, "config": asdict(config),
                                                       "seconds": state["seconds"] + time.time() - started})
                since_ckpt = 0
    log.close()
    final = latest_checkpoint(out)
    tmp = out / ".adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    shutil.rmtree(out / "adapter", ignore_errors=True)
    os.replace(tmp, out / "adapter")
    summary = _summarize_log(out / "log.jsonl")
    summary.update(prompts=len(schedule), seconds=json.loads((final / "state.json").read_text())["seconds"])
    _write_json_atomic(out / "train_summary.json", summary)
    model.eval()
    return model, summary


def _open_log(path: Path, prompts_done: int):
    """The training log, opened for appending after dropping rows written past the
    checkpoint being resumed (an interrupted run may have logged prompts it will redo)."""
    kept = []
    if prompts_done and path.is_file():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["prompts_done"] <= prompts_done]
    path.write_text("".join(line + "\n" for line in kept))
    return path.open("a", encoding="utf-8")


def _summarize_log(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    valid_long = [r["share_long"] for r in rows if r["share_long"] is not None]
    valid_best = [r["share_best"] for r in rows if r["share_best"] is not None]
    tail = rows[-max(1, len(rows) // 5):]
    return {
        "mean_reward": float(np.mean([r["mean_reward"] for r in rows])),
        "mean_reward_last_fifth": float(np.mean([r["mean_reward"] for r in tail])),
        "share_long": float(np.mean(valid_long)) if valid_long else None,
        "share_best": float(np.mean(valid_best)) if valid_best else None,
        "invalid_answers": int(sum(r["invalid"] for r in rows)),
        # exact mode: probability on the valid labels, the counterpart of invalid answers
        "label_mass_last_fifth": float(np.mean([r["label_mass"] for r in tail])) if "label_mass" in rows[0] else None,
    }
