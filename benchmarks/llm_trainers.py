"""DReST fine-tuning throughput on CPU: the TRL trainer (``--trainer trl``, the
default) against drest's previous loop (``--trainer loop``), in one run, in exact
and sample mode, on SmolLM2-135M-Instruct (the packaged GGUF, float32).

Meta-episodes per second are measured by difference: each trainer is timed on a
short and a longer run (fresh model each time), and the rate is the extra
meta-episodes over the extra seconds, so model loading and trainer set-up cancel.
Both trainers use the same settings: meta-episode 32, one meta-episode per
optimiser step, LoRA r16, no KL term (the loop has none), one CPU thread.

    python benchmarks/llm_trainers.py                  # about 10 minutes
    python benchmarks/llm_trainers.py --exact 2 8 --sample 1 3 --sample-tokens 24
    python benchmarks/llm_trainers.py --modes sample
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from drest.llm import models
from drest.llm.config import TrainConfig


def timed_run(trainer: str, mode: str, prompts: int, tokens: int, model_path: str) -> float:
    from drest.llm.loop import train as loop_train
    from drest.llm.trl_trainer import train as trl_train

    model, tokenizer = models.load(model_path)
    with tempfile.TemporaryDirectory() as out:
        # sample mode: 8 answers per forward/backward pass in both trainers; 32 full answers at
        # once (activations of ~10k tokens in float32) took 22-24 GB and were killed for memory
        # on this 24 GB machine
        config = TrainConfig(model=model_path, out=out, trainer=trainer, mode=mode, meta_episode=32,
                             micro_batch=32 if mode == "exact" else 8,
                             max_prompts=prompts, lr=1e-4, warmup_steps=0, kl_coef=0.0, lora_r=16, lora_alpha=16,
                             lora_dropout=0.1, max_completion_tokens=tokens, checkpoint_every=10_000,
                             health_window=0, quantize="none")
        started = time.perf_counter()
        (trl_train if trainer == "trl" else loop_train)(config, model, tokenizer, progress=False)
        return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exact", nargs=2, type=int, default=(2, 10), metavar=("SHORT", "LONG"),
                   help="meta-episodes of the short and the long exact-mode run")
    p.add_argument("--sample", nargs=2, type=int, default=(1, 3), metavar=("SHORT", "LONG"))
    p.add_argument("--sample-tokens", type=int, default=24, help="answer token cap in sample mode")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--modes", default="exact,sample", help="which modes to measure (comma-separated)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    path = models.packaged_smollm2()
    print(f"SmolLM2-135M, CPU, {a.threads} thread(s), meta-episode 32, sample-mode cap {a.sample_tokens} tokens")
    print(f"{'mode':7s} {'trainer':8s} {'meta-episodes/s':>16s}   (runs of {a.exact} exact / {a.sample} sample)")
    modes = a.modes.split(",")
    for mode, (short, long) in (("exact", a.exact), ("sample", a.sample)):
        if mode not in modes:
            continue
        rates = {}
        for trainer in ("loop", "trl"):
            t_short = timed_run(trainer, mode, short, a.sample_tokens, path)
            t_long = timed_run(trainer, mode, long, a.sample_tokens, path)
            rates[trainer] = (long - short) / (t_long - t_short)
            print(f"{mode:7s} {trainer:8s} {rates[trainer]:16.3f}   ({t_short:.1f} s / {t_long:.1f} s)", flush=True)
        print(f"{mode:7s} TRL is {rates['loop'] / rates['trl']:.2f}x slower than the loop (target: at most 1.5x)")


if __name__ == "__main__":
    main()
