"""A short DReST run on the TRL trainer (SmolLM2-135M unless ``--model``), started as a separate
process by tests/llm/test_trl_trainer.py (alone, or under ``torchrun
--nproc_per_node 2`` with gloo on CPU). Each rank then saves its LoRA weights to
OUT/rank<r>.pt. ``--kill-at N`` SIGKILLs the process as optimiser step N begins."""

import argparse
import os
import signal

import torch
from transformers import TrainerCallback

from drest.llm import models
from drest.llm.config import TrainConfig
from drest.llm.trl_trainer import train


class KillAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--mode", default="exact")
    p.add_argument("--model", help="model directory (default: the packaged SmolLM2)")
    p.add_argument("--dataset", default="post-train")
    p.add_argument("--max-prompts", type=int, default=2)
    p.add_argument("--micro-batch", type=int, default=2)
    p.add_argument("--kill-at", type=int)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig(model=a.model or models.packaged_smollm2(), out=a.out, dataset=a.dataset, mode=a.mode,
                         meta_episode=8, micro_batch=a.micro_batch, max_prompts=a.max_prompts, lr=2e-3, warmup_steps=0, kl_coef=0.0,
                         lora_r=4, lora_alpha=8, lora_dropout=0.0, max_completion_tokens=24, checkpoint_every=2,
                         health_window=0, quantize="none", seed=3)
    model, tokenizer = models.load(config.model)
    callbacks = [KillAt(a.kill_at)] if a.kill_at else []
    peft_model, _ = train(config, model, tokenizer, resume=a.resume, progress=False, callbacks=callbacks)
    lora = {k: v.detach().cpu().clone() for k, v in peft_model.state_dict().items() if "lora_" in k}
    torch.save(lora, os.path.join(a.out, f"rank{os.environ.get('RANK', '0')}.pt"))


if __name__ == "__main__":
    main()
