"""Settings of a DReST fine-tuning run, shared by the TRL trainer (default) and
drest's own loop. Defaults are the authors' current study (docs/llm.md, "DReST-RLOO
fine-tuning"): LoRA r32/alpha32 on all linear layers, lr 2e-5 constant after 16
warm-up steps, KL coefficient 0.04, gradient clipping 10, answers <= 320 tokens, temperature 1,
truncated answers masked out of the loss, one meta-episode of 32 answers per
prompt, unreadable answers -1.5."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

from ..errors import DrestError

TRAINERS = ("trl", "loop")
MODES = ("exact", "sample")
REWARDS = ("drest", "default")
COUNTINGS = ("order-averaged", "sequential")
BASELINES = ("exclusion", "leave-one-out")
TRUNCATED = ("mask", "penalise")
REPORT_TO = ("none", "tensorboard", "wandb")
VLLM = ("off", "colocate", "server")
QUANTIZE = ("auto", "4bit", "none")
CHOICES = {"trainer": TRAINERS, "mode": MODES, "reward": REWARDS, "counting": COUNTINGS, "baseline": BASELINES,
           "truncated": TRUNCATED, "report_to": REPORT_TO, "vllm": VLLM, "quantize": QUANTIZE}

HELP = {
    "dataset": "training prompts: a name or JSONL path (POST records)",
    "trainer": "trl: TRL's RLOOTrainer (accelerate, DDP/DeepSpeed/FSDP, vLLM); loop: drest's one-process loop",
    "mode": "exact: one-token answers after 'Final Answer: [' (no text generation); sample: free-form answers",
    "reward": "drest: DReST (lambda, score/m(L)); default: score x 0.1 (the comparison arm)",
    "counting": "order-averaged (DReST factor averaged over counting orders) or sequential (sampling order)",
    "baseline": "exclusion: others' mean reward recomputed without the answer (unbiased); leave-one-out: TRL's",
    "lam": "DReST discount lambda, strictly between 0 and 1",
    "meta_episode": "answers per prompt: one meta-episode = one RLOO group",
    "group_size": "loop, sequential counting only: optimiser step per group of this many answers (the v3 paper's 4)",
    "prompts_per_step": "meta-episodes per optimiser step",
    "micro_batch": "answers per forward/backward pass (TRL: per process; gradient accumulation covers the rest; "
                   "the loop: sample mode)",
    "lr": "learning rate (constant after the warm-up)",
    "warmup_steps": "optimiser steps of linear warm-up",
    "max_grad_norm": "gradient clipping (global norm)",
    "kl_coef": "KL penalty coefficient against the base model (TRL trainer; the loop needs 0)",
    "max_prompts": "stop after this many prompts",
    "invalid_penalty": "reward of an unreadable answer",
    "max_completion_tokens": "sample mode: most tokens per answer",
    "truncated": "sample mode: answers cut off at the token cap are masked out of the loss, or paid the penalty",
    "quantize": "auto: 4-bit NF4 QLoRA on a CUDA GPU with bitsandbytes, else full precision",
    "checkpoint_every": "prompts between checkpoints",
    "report_to": "metrics logger for the TRL trainer",
    "vllm": "TRL trainer: generate with vLLM (colocate, or server started by `trl vllm-serve`)",
    "health_window": "meta-episodes the health check looks back over (0: off)",
    "max_unreadable": "stop when the unreadable share over the health window exceeds this",
    "gradient_checkpointing": "TRL trainer: recompute activations in the backward pass (less memory, more compute; "
                              "each answer then re-encodes its prompt instead of sharing it)",
}


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a DReST-RLOO run; defaults are the authors' current study."""

    model: str
    out: str
    dataset: str = "post-train"
    trainer: str = "trl"
    mode: str = "exact"
    reward: str = "drest"
    counting: str = "order-averaged"
    baseline: str = "exclusion"
    lam: float = 0.9
    meta_episode: int = 32
    group_size: int | None = None
    prompts_per_step: int = 1
    micro_batch: int = 8
    lr: float = 2e-5
    warmup_steps: int = 16
    max_grad_norm: float = 10.0
    kl_coef: float = 0.04
    epochs: int = 1
    max_prompts: int | None = None
    lora_r: int = 32
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    quantize: str = "auto"
    invalid_penalty: float = -1.5
    temperature: float = 1.0
    max_completion_tokens: int = 320
    truncated: str = "mask"
    checkpoint_every: int = 64
    report_to: str = "none"
    vllm: str = "off"
    health_window: int = 16
    max_unreadable: float = 0.5
    gradient_checkpointing: bool = False
    seed: int = 0

    @property
    def group(self) -> int:
        """Answers per RLOO group: the whole meta-episode unless the loop's sequential groups are asked for."""
        return self.group_size or self.meta_episode

    def validate(self, world_size: int | None = None) -> "TrainConfig":
        """Raise DrestError naming the first bad setting; return self. ``world_size``
        (default: the launcher's WORLD_SIZE) is checked against the batch layout."""
        for f in fields(self):  # every number must be finite before any range check
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise DrestError(f"{f.name.replace('_', ' ')}: must be a finite number, got {value}")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise DrestError(f"{name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        checks = [
            (0.0 < self.lam < 1.0, f"lam: must be strictly between 0 and 1, got {self.lam}"),
            (self.meta_episode >= 2, f"meta-episode: needs at least 2 answers for a baseline, got {self.meta_episode}"),
            (self.group_size is None or self.group_size >= 2,
             f"group size: needs at least 2 answers for a leave-one-out baseline, got {self.group_size}"),
            (self.group_size is None or self.group_size < 2 or self.meta_episode % self.group_size == 0,
             f"meta-episode: {self.meta_episode} must be a multiple of the group size {self.group_size}"),
            (self.group_size is None or (self.trainer == "loop" and self.counting == "sequential"),
             "group size: only the loop's sequential counting splits a meta-episode into groups; "
             "drop --group-size (the TRL trainer makes each meta-episode one RLOO group)"),
            (self.baseline == "leave-one-out" or self.counting == "order-averaged",
             "baseline: exclusion needs --counting order-averaged; use --baseline leave-one-out with sequential"),
            (self.prompts_per_step >= 1, f"prompts per step: must be at least 1, got {self.prompts_per_step}"),
            (self.micro_batch >= 1, f"micro batch: must be at least 1, got {self.micro_batch}"),
            (self.lr > 0, f"lr: must be positive, got {self.lr}"),
            (self.warmup_steps >= 0, f"warmup steps: must be 0 or more, got {self.warmup_steps}"),
            (self.max_grad_norm > 0, f"max grad norm: must be positive, got {self.max_grad_norm}"),
            (self.kl_coef >= 0, f"kl coef: must be 0 or more, got {self.kl_coef}"),
            (self.trainer == "trl" or self.kl_coef == 0,
             "kl coef: the loop trainer has no KL term; pass --kl-coef 0 or use --trainer trl"),
            (self.trainer == "trl" or self.vllm == "off", "vllm: only the TRL trainer generates with vLLM"),
            (self.mode == "sample" or self.vllm == "off", "vllm: exact mode generates no text; use --vllm off"),
            (self.epochs >= 1, f"epochs: must be at least 1, got {self.epochs}"),
            (self.max_prompts is None or self.max_prompts >= 1, f"max prompts: must be at least 1, got {self.max_prompts}"),
            (self.lora_r >= 1 and self.lora_alpha > 0,
             f"lora: rank and alpha must be positive, got r={self.lora_r} alpha={self.lora_alpha}"),
            (0.0 <= self.lora_dropout < 1.0, f"lora dropout: must be in [0, 1), got {self.lora_dropout}"),
            (-100.0 <= self.invalid_penalty <= 0.0,
             f"invalid penalty: must be between -100 and 0 (an unreadable answer must not pay), got {self.invalid_penalty}"),
            (0.0 < self.temperature <= 10.0, f"temperature: must be in (0, 10], got {self.temperature}"),
            (self.max_completion_tokens >= 1, f"max completion tokens: must be at least 1, got {self.max_completion_tokens}"),
            (self.checkpoint_every >= 1, f"checkpoint every: must be at least 1, got {self.checkpoint_every}"),
            (self.health_window >= 0, f"health window: must be 0 (off) or more, got {self.health_window}"),
            (0.0 < self.max_unreadable <= 1.0, f"max unreadable: must be in (0, 1], got {self.max_unreadable}"),
        ]
        for ok, message in checks:
            if not ok:
                raise DrestError(message)
        if self.trainer == "trl":
            self.accumulation_steps(world_size)
        return self

    def accumulation_steps(self, world_size: int | None = None) -> int:
        """Micro-batches per process per optimiser step so that one step holds exactly
        ``prompts_per_step`` whole meta-episodes; DrestError when the layout cannot."""
        world = world_size or int(os.environ.get("WORLD_SIZE", "1"))
        answers = self.prompts_per_step * self.meta_episode
        per_pass = self.micro_batch * world
        if answers % per_pass:
            raise DrestError(f"micro batch: {self.prompts_per_step} meta-episode(s) of {self.meta_episode} answers "
                             f"cannot be split into passes of {self.micro_batch} answers on each of {world} "
                             f"process(es); choose --micro-batch so that {self.micro_batch} x {world} divides {answers}")
        return answers // per_pass
