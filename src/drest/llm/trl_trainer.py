"""DReST-RLOO on TRL: ``DReSTRLOOTrainer``, a subclass of TRL's ``RLOOTrainer``, and
``train(config, model, tokenizer)``, the default trainer of ``drest llm train``.

One meta-episode (one POST prompt answered ``meta_episode`` times) is one RLOO
group (``num_generations``) and ``prompts_per_step`` meta-episodes are one
optimiser step: the answers are split over processes x micro-batches x
gradient-accumulation steps (``TrainConfig.accumulation_steps``), so with
accelerate/DDP each process holds only a slice of a group.

What the subclass changes, and why:

* Rewards on the whole group (huggingface/trl#3896): TRL calls a reward function
  with the local slice only. ``_drest_reward`` gathers every process's decisions
  (``gather_object``, process order = TRL's slice order), computes each group's
  rewards and advantages with ``drest.llm.rewards`` (the one code path, shared
  with the loop) and returns the local slice.
* Baseline: TRL's advantage is reward minus the leave-one-out mean. For the
  exclusion baseline the difference ``exclusion - leave-one-out`` (computed on the
  same rewards) is added to TRL's advantage; TRL's KL term, which it folds into
  the reward, is untouched. With ``--baseline leave-one-out`` the difference is 0.
* Exact mode (``_generate_single_turn``, TRL's generation hook): the prompt ends
  with ``Final Answer: [`` and the answer is one token sampled from the model's
  next-token distribution, from one forward pass per distinct prompt instead of
  ``meta_episode`` generations; a token that is not a valid label is unreadable.
  ``_get_per_token_logps_and_entropies`` likewise runs one forward pass per
  distinct prompt for one-token answers (identical rows give identical logits).
  On final-line prompts (``train/post``, the authors' current study) the answer is
  instead one whole allowed line, drawn from the lines' probabilities (each line
  scored as the whole reply, as ``drest llm eval --mode logprob`` reads them), and
  the loss uses each distinct (prompt, line) row once, its prompt encoded once.
* Sample mode with transformers (``_sample_answers``, ``_shared_prompt_logps``):
  each distinct prompt is encoded once and its cache shared by its answers, in
  generation and in every log-probability pass (``drest.llm.shared_prompt``), and
  answers are drawn in eval mode (the policy, not a dropout draw of it).
* Health: after each meta-episode a window of the last ``health_window`` ones
  stops the run with a one-line reason when the unreadable share exceeds
  ``max_unreadable`` or every answer of every group got the same reward (no
  learning signal); a non-finite loss stops it before the optimiser step.

Checkpoints, resume (optimiser, scheduler, RNG states, data position),
``report_to`` and vLLM are TRL's/transformers' own.
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from pathlib import Path

import numpy as np

from ..errors import DrestError
from . import datasets, rundir
from .models import chat_prompt, chat_text
from .rewards import (advantages, check_training_records, group_loo_advantages, meta_episode_stats, parse_answer,
                      read_label_token)
from .scoring import ANSWER_PREFIX

LOG_NAME = "log.jsonl"


def trainer_class():
    """The trainer class (built on first use so that importing drest never imports TRL)."""
    global _TRAINER
    if _TRAINER is None:
        _TRAINER = _build_trainer_class()
    return _TRAINER


_TRAINER = None


def _build_trainer_class():
    import torch
    from accelerate.utils import gather_object
    from trl import RLOOTrainer

    class DReSTRLOOTrainer(RLOOTrainer):
        """RLOOTrainer whose groups are DReST meta-episodes (see the module docstring)."""

        def __init__(self, drest_config, records, *args, **kwargs):
            self.drest = drest_config
            self.records = records
            self._group = None
            self._health = deque(maxlen=max(drest_config.health_window, 1))
            self._log = None
            self._final_lines = any("allowed_final_lines" in r for r in records)
            self._by_prompt = None  # prompt token ids -> record index (final-line exact mode)
            self._lines = {}  # record index -> [(label, line token ids)]
            # exact mode: (prompt ids, answer ids) -> per-token log-probabilities of the answers
            # just drawn, under the distribution they were drawn from (see _served_old_logps)
            self._sampled = None
            super().__init__(*args, reward_funcs=[self._drest_reward], **kwargs)

        # ---- rewards on the whole group
        def _drest_reward(self, prompts, completions, completion_ids, record_index, **_):
            cfg = self.drest
            eos = set(self.eos_token_ids) | {self._tokenizer.pad_token_id}
            local = []
            for text, ids, idx in zip(completions, completion_ids, record_index):
                record = self.records[idx]
                valid = record["valid_answers"]
                if cfg.mode == "exact":
                    if idx in self._lines:  # a whole final line, sampled by _sample_lines
                        label = next(lab for lab, line in self._lines[idx] if line == list(ids))
                    else:
                        label = read_label_token(text, valid)
                    local.append((idx, label, False))
                    continue
                cut = len(ids) > 0 and ids[-1] not in eos
                answer = parse_answer(text, valid, record.get("allowed_final_lines"))
                local.append((idx, None if (cut and cfg.truncated == "penalise") else answer, cut))
            everything = gather_object(local) if self.accelerator.num_processes > 1 else local
            size = cfg.meta_episode
            if len(everything) % size:
                raise DrestError(f"micro batch: a reward call saw {len(everything)} answers, not whole meta-episodes "
                                 f"of {size}")
            rewards, advs, groups = [], [], []
            for start in range(0, len(everything), size):
                block = everything[start:start + size]
                if len({idx for idx, _, _ in block}) != 1:
                    raise DrestError("micro batch: a meta-episode's answers came from different prompts; "
                                     "check that --micro-batch x processes divides --meta-episode")
                record = self.records[block[0][0]]
                answers = [a for _, a, _ in block]
                r, a = advantages(record, answers, cfg)
                rewards.append(r)
                advs.append(a)
                groups.append((record, answers, r, sum(cut for _, _, cut in block)))
            self._group = (np.concatenate(rewards), np.concatenate(advs), groups)
            lo = self.accelerator.process_index * len(prompts)
            return [float(x) for x in self._group[0][lo:lo + len(prompts)]]

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            if not self.model.training or self._group is None:
                return out
            rewards, adv, groups = self._group
            self._group = None
            # exclusion baseline: TRL subtracted the leave-one-out mean; swap in ours
            correction = adv - group_loo_advantages(rewards, self.drest.meta_episode)
            n = out["advantages"].shape[0]
            lo = self.accelerator.process_index * n
            out["advantages"] = out["advantages"] + torch.tensor(
                correction[lo:lo + n], dtype=out["advantages"].dtype, device=out["advantages"].device)
            used = self.accelerator.gather(out["advantages"]).double().cpu().numpy()
            self._record(groups, used)
            return out

        def _record(self, groups, used):
            cfg, size = self.drest, self.drest.meta_episode
            step = self.state.global_step
            for j, (record, answers, r, truncated) in enumerate(groups):
                row = {"prompts_done": step * cfg.prompts_per_step + j + 1,
                       **meta_episode_stats(record, answers, r), "truncated": truncated,
                       "answers": answers, "rewards": [float(x) for x in r],
                       "advantages": [float(x) for x in used[j * size:(j + 1) * size]]}
                if self.accelerator.is_main_process and self._log is not None:
                    self._log.write(json.dumps(row) + "\n")
                    self._log.flush()
                self._health.append((row["invalid"] / size, float(np.ptp(r))))
            self._check_health()

        def _check_health(self):
            cfg = self.drest
            if cfg.health_window == 0 or len(self._health) < cfg.health_window:
                return
            unreadable = float(np.mean([u for u, _ in self._health]))
            where = f"over the last {cfg.health_window} meta-episodes (step {self.state.global_step})"
            if unreadable > cfg.max_unreadable:
                raise DrestError(f"training stopped: {unreadable:.0%} of answers were unreadable {where}, above "
                                 f"--max-unreadable {cfg.max_unreadable}; check the prompt format, "
                                 "--max-completion-tokens or --lr")
            if all(spread < 1e-12 for _, spread in self._health):
                raise DrestError(f"training stopped: the reward was flat (every answer of each meta-episode paid the "
                                 f"same) {where}, so every advantage is 0; raise --temperature or check the rewards")

        # ---- stop on a non-finite loss before the optimiser step
        def training_step(self, model, inputs, num_items_in_batch):
            loss = super().training_step(model, inputs, num_items_in_batch)
            finite = torch.isfinite(loss.detach().float()).all().reshape(1).to(self.accelerator.device)
            if not bool(self.accelerator.gather(finite.float()).min() > 0):
                raise DrestError(f"training stopped: the loss became non-finite at step {self.state.global_step + 1}; "
                                 "nothing was updated. Lower --lr or check the reward settings")
            return loss

        # ---- prompts are pre-rendered chat text: no second BOS from the tokenizer
        def _tokenize_prompts(self, prompts):
            if isinstance(prompts[0], str):
                return self.processing_class(text=prompts, add_special_tokens=False)["input_ids"], None, {}
            return super()._tokenize_prompts(prompts)

        # ---- exact mode: one-token answers from one forward pass per distinct prompt
        def _generate_single_turn(self, prompt_ids, images, multimodal_fields):
            if self.drest.mode != "exact":
                if self.use_vllm or images is not None or multimodal_fields:
                    return super()._generate_single_turn(prompt_ids, images, multimodal_fields)
                return self._sample_answers(prompt_ids)
            from .scoring import next_token_logprobs

            model = self.accelerator.unwrap_model(self.model)
            if self._final_lines:  # letter prompts need no prompt -> record lookup
                return self._sample_lines(model, prompt_ids, [self._record_of(ids) for ids in prompt_ids])
            distinct = {}
            for ids in prompt_ids:
                distinct.setdefault(tuple(ids), len(distinct))
            was_training = model.training
            model.eval()  # sample from the policy itself, not a dropout draw of it
            with torch.no_grad():
                logits = next_token_logprobs(model, [list(k) for k in distinct], self._tokenizer.pad_token_id)
            model.train(was_training)
            logps = (logits / self.temperature).log_softmax(-1)
            rows = torch.tensor([distinct[tuple(ids)] for ids in prompt_ids], device=logps.device)
            draws = torch.multinomial(logps[rows].exp(), 1)[:, 0].tolist()
            self._sampled = {(tuple(ids), (t,)): [float(logps[r, t])]
                             for ids, r, t in zip(prompt_ids, rows.tolist(), draws)}
            return [[int(t)] for t in draws]

        # ---- sample mode with transformers: TRL's generation, each distinct prompt encoded once
        def _sample_answers(self, prompt_ids):
            """Answers drawn from the policy itself (eval mode: not a dropout draw of it, as in
            exact mode and the loop), each up to and including its first end token."""
            from trl.models import unwrap_model_for_generation

            from .scoring import left_padded
            from .shared_prompt import generate

            batch = left_padded(prompt_ids, self._tokenizer.pad_token_id, self.accelerator.device)
            with (unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                              gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                              generation_kwargs=self.generation_kwargs,
                                              gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs)
                  as model, self._dist.summon_full_params(self.model_wrapped, recurse=False)):
                was_training = model.training
                model.eval()
                new = generate(model, batch["input_ids"], batch["attention_mask"], self.generation_config)
                model.train(was_training)
            ends = set(self.eos_token_ids)
            return [row[:next((i + 1 for i, t in enumerate(row) if t in ends), len(row))] for row in new.tolist()]

        # ---- exact mode on final-line prompts: the answer is one whole allowed line, drawn
        # from the lines' probabilities (each written as the whole reply, as in
        # ``drest llm eval --mode logprob``); the loss then uses that line's log-probability
        def _record_of(self, ids):
            if self._by_prompt is None:
                rows = self.train_dataset
                tokens = self._tokenize_prompts(list(rows["prompt"]))[0]
                self._by_prompt = {tuple(t): i for t, i in zip(tokens, rows["record_index"])}
            return self._by_prompt[tuple(ids)]

        def _sample_lines(self, model, prompt_ids, owners):
            from .scoring import continuation_token_logprobs, line_ids

            distinct = list(dict.fromkeys(zip(map(tuple, prompt_ids), owners)))
            for _, idx in distinct:
                if idx not in self._lines:
                    rec = self.records[idx]
                    self._lines[idx] = [(label, line_ids(self._tokenizer, rec["messages"], line)[1])
                                        for line, label in rec["allowed_final_lines"].items()]
            was_training = model.training
            model.eval()
            probs, self._sampled = {}, {}
            with torch.no_grad():
                for ids, idx in distinct:
                    lines = [line for _, line in self._lines[idx]]
                    per_token = continuation_token_logprobs(model, list(ids), lines, self._tokenizer.pad_token_id,
                                                            self.temperature)
                    probs[(ids, idx)] = torch.tensor([sum(t) for t in per_token], dtype=torch.float64).softmax(-1)
                    self._sampled.update({(ids, tuple(line)): t for line, t in zip(lines, per_token)})
            model.train(was_training)
            out = []
            for ids, idx in zip(prompt_ids, owners):
                draw = int(torch.multinomial(probs[(tuple(ids), idx)], 1))
                out.append(list(self._lines[idx][draw][1]))
            return out

        def _served_old_logps(self, input_ids, attention_mask, logits_to_keep):
            """TRL's "old" log-probabilities, from its first no-grad pass after generation, are
            those of the distribution exact mode just drew the answers from: serve them instead
            of a second forward pass (exact mode's cost is forward passes). Used once, so the
            reference pass (KL) that may follow, adapter off, runs; None (run the pass) if any
            row is not one just drawn."""
            cached, self._sampled = self._sampled, None
            if cached is None or torch.is_grad_enabled():
                return None
            k, rows = logits_to_keep, []
            for ids, keep in zip(input_ids.tolist(), attention_mask.tolist()):
                prompt = tuple(t for t, m in zip(ids[:-k], keep[:-k]) if m)
                answer = tuple(t for t, m in zip(ids[-k:], keep[-k:]) if m)
                per_token = cached.get((prompt, answer))
                if per_token is None:
                    return None
                rows.append(per_token + [0.0] * (k - len(per_token)))  # padding: masked out by TRL
            return torch.tensor(rows, dtype=torch.float32, device=input_ids.device)

        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                               batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                               **kwargs):
            multimodal = any(v is not None for v in kwargs.values())
            if multimodal or compute_aux_loss:
                return super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                    compute_aux_loss, **kwargs)
            served = self._served_old_logps(input_ids, attention_mask, logits_to_keep)
            if served is not None:
                return served, None, None
            if logits_to_keep != 1:
                on_policy = self.drest.mode == "sample" and self.num_iterations == 1 and self.beta == 0.0
                if on_policy and not torch.is_grad_enabled() and not compute_entropy:  # TRL's old-logps pass
                    return torch.zeros(input_ids.shape[0], logits_to_keep, device=input_ids.device), None, None
                logps, entropy, aux = self._shared_prompt_logps(model, input_ids, attention_mask, logits_to_keep,
                                                                batch_size, compute_entropy)
                # one update per batch and no KL term: the "old" log-probabilities only make the
                # importance ratio, which is 1 (TRL's separate pass makes it 1 bar a fresh LoRA-dropout
                # draw). Skip that pass: old = 0 and new = logp - logp.detach() give a ratio of exactly
                # 1 with the policy gradient, and no clipping
                return (logps - logps.detach() if on_policy else logps), entropy, aux
            prefix, mask = input_ids[:, :-1], attention_mask[:, :-1]
            both = torch.cat([prefix, mask], dim=1)
            distinct, inverse = torch.unique(both, dim=0, return_inverse=True)
            u_ids, u_mask = distinct[:, :prefix.shape[1]], distinct[:, prefix.shape[1]:]
            positions = (u_mask.cumsum(-1) - 1).clamp(min=0)
            with self.accelerator.autocast():
                logits = model(input_ids=u_ids, attention_mask=u_mask, position_ids=positions,
                               logits_to_keep=1).logits[:, -1, :]
            logp = (logits.float() / self.temperature).log_softmax(-1)[inverse]
            per_token = logp.gather(-1, input_ids[:, -1:])
            entropy = -(logp.exp() * logp).sum(-1, keepdim=True) if compute_entropy else None
            return per_token, entropy, None

        def _shared_prompt_logps(self, model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy):
            """Answers of more than one token (sample mode; exact mode's final lines): each
            distinct row once (exact mode's 32 answers are a few lines; gradients of repeated
            rows add up), and in each chunk of ``batch_size`` rows each distinct prompt
            encoded once (drest.llm.shared_prompt)."""
            from .shared_prompt import token_logprobs

            distinct, inverse = torch.unique(torch.cat([input_ids, attention_mask], dim=1), dim=0,
                                             return_inverse=True)
            width = input_ids.shape[1]
            ids, mask = distinct[:, :width], distinct[:, width:]
            cut = width - logits_to_keep
            size = batch_size or ids.shape[0]
            logps, entropies = [], []
            for lo in range(0, ids.shape[0], size):
                rows = slice(lo, lo + size)
                with self.accelerator.autocast():
                    logp, ent = token_logprobs(model, ids[rows, :cut], mask[rows, :cut], ids[rows, cut:],
                                               mask[rows, cut:], self.temperature, compute_entropy)
                logps.append(logp)
                entropies.append(ent)
            logps = torch.cat(logps)[inverse]
            return logps, torch.cat(entropies)[inverse] if compute_entropy else None, None

    return DReSTRLOOTrainer


def _prompts(records, tokenizer, schedule, mode: str) -> list[dict]:
    """Dataset rows in training order: the chat text (letter layout in exact mode: plus the
    answer prefix; final-line layout: the reply is the whole final line)."""
    rendered = {}
    rows = []
    for idx in schedule:
        if idx not in rendered:
            rec = records[idx]
            if "messages" in rec:
                rendered[idx] = chat_prompt(tokenizer, rec["messages"])
            else:
                text = chat_text(tokenizer, rec["prompt"])
                rendered[idx] = text + ANSWER_PREFIX if mode == "exact" else text
        rows.append({"prompt": rendered[idx], "record_index": idx})
    return rows


def check_settings(config, tokenizer) -> None:
    """Checks that need the tokenizer or the environment, made before the model loads: vLLM
    must be installed when asked for, and in sample mode the token cap must hold the final
    line, or every answer is unreadable."""
    import importlib.util

    if config.vllm != "off" and importlib.util.find_spec("vllm") is None:
        raise DrestError(f"vllm: --vllm {config.vllm} needs the vllm package (pip install vllm); or use --vllm off")
    if config.mode != "sample":
        return
    needed = len(tokenizer(ANSWER_PREFIX + "a]", add_special_tokens=False)["input_ids"])
    if config.max_completion_tokens < needed:
        raise DrestError(f"max completion tokens: {config.max_completion_tokens} cannot hold "
                         f"'{ANSWER_PREFIX}a]' ({needed} tokens with this tokenizer); use at least {needed} "
                         "(the authors' study uses 320)")


def trl_args(config, n_prompts: int, progress: bool = True, exact_tokens: int = 1):
    """TRL's RLOOConfig for a DReST run (one optimiser step = ``prompts_per_step`` whole meta-episodes)."""
    import torch
    from trl import RLOOConfig

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    steps = math.ceil(n_prompts / config.prompts_per_step)
    return RLOOConfig(
        output_dir=config.out, seed=config.seed, data_seed=config.seed,
        per_device_train_batch_size=config.micro_batch,
        gradient_accumulation_steps=config.accumulation_steps(),
        num_generations=config.meta_episode, num_iterations=1,
        # exact mode: one label token, or the longest allowed final line (``exact_tokens``)
        max_completion_length=exact_tokens if config.mode == "exact" else config.max_completion_tokens,
        temperature=config.temperature, top_p=1.0, top_k=0,
        learning_rate=config.lr, lr_scheduler_type="constant_with_warmup", warmup_steps=config.warmup_steps,
        max_grad_norm=config.max_grad_norm, beta=config.kl_coef, normalize_advantages=False,
        # exact mode: the one-token answer is never "truncated"
        mask_truncated_completions=config.mode == "sample" and config.truncated == "mask",
        shuffle_dataset=False, num_train_epochs=1, max_steps=steps,
        save_strategy="steps", save_steps=max(1, config.checkpoint_every // config.prompts_per_step),
        logging_steps=1, report_to=[] if config.report_to == "none" else [config.report_to],
        disable_tqdm=not progress, remove_unused_columns=False, bf16=bf16,
        # TRL's default trades a second forward pass for activation memory; with each prompt
        # encoded once per micro-batch (shared_prompt) the activations are mostly the answers'
        gradient_checkpointing=config.gradient_checkpointing,
        # CPU processes (torchrun) talk over gloo
        use_cpu=not cuda, ddp_backend="gloo" if not cuda and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        use_vllm=config.vllm != "off", vllm_mode="colocate" if config.vllm == "off" else config.vllm,
        chat_template_kwargs={"enable_thinking": False},
    )


def train(config, model, tokenizer, *, resume: bool = False, progress: bool = True, callbacks=()):
    """Fine-tune ``model`` with DReST-RLOO on TRL; write TRL checkpoints, ``log.jsonl``,
    the final ``adapter/`` and ``train_summary.json`` under ``config.out``.
    Returns (peft model, summary)."""
    import time

    from datasets import Dataset
    from peft import LoraConfig
    from transformers.trainer_utils import get_last_checkpoint

    from .loop import _schedule

    config.validate()
    check_settings(config, tokenizer)
    records = check_training_records(datasets.load(config.dataset, config.seed))
    out = Path(config.out)
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    main = int(os.environ.get("RANK", "0")) == 0
    if main:
        rundir.start(config, last is not None, resume)
    elif resume and last is None:
        raise DrestError(f"resume: no checkpoint under {str(out)!r}; run without --resume to start fresh")
    schedule = _schedule(len(records), config)
    exact_tokens = max((len(tokenizer(line, add_special_tokens=False)["input_ids"]) + 2
                        for i in set(schedule) for line in records[i].get("allowed_final_lines", ())), default=1)
    args = trl_args(config, len(schedule), progress, exact_tokens)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = trainer_class()(config, records, model=model, args=args,
                              train_dataset=Dataset.from_list(_prompts(records, tokenizer, schedule, config.mode)),
                              processing_class=tokenizer, peft_config=lora, callbacks=list(callbacks))
    done = 0
    if last is not None and resume:
        done = json.loads((Path(last) / "trainer_state.json").read_text())["global_step"] * config.prompts_per_step
    if main:
        trainer._log = rundir.open_log(out / LOG_NAME, done)
    started = time.time()
    try:
        trainer.train(resume_from_checkpoint=last if resume else None)
    finally:
        if trainer._log is not None:
            trainer._log.close()
    trainer.accelerator.wait_for_everyone()
    peft_model = trainer.accelerator.unwrap_model(trainer.model)
    summary = rundir.summarize_log(out / LOG_NAME)
    summary.update(prompts=len(schedule), steps=trainer.state.global_step, seconds=round(time.time() - started, 1))
    if main:
        rundir.publish_adapter(peft_model, out)
        rundir.write_json_atomic(out / "train_summary.json", summary)
    trainer.accelerator.wait_for_everyone()
    peft_model.eval()
    return peft_model, summary
