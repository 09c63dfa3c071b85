"""One prompt, many answers: the prompt encoded in every row (TRL's and
``generate``'s layout) against encoded once and shared (``drest.llm.shared_prompt``),
side by side, on SmolLM2-135M-Instruct (the packaged GGUF, float32, LoRA r16) with
one training prompt of drest's default dataset.

    python benchmarks/shared_prompt.py                 # about 3 minutes, one thread
    python benchmarks/shared_prompt.py --answers 32 --tokens 24 --batch 8
"""

from __future__ import annotations

import argparse
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import GenerationConfig

from drest.llm import datasets, models, shared_prompt
from drest.llm.config import TrainConfig
from drest.llm.models import chat_text


def seconds(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--answers", type=int, default=32, help="answers sampled per prompt")
    p.add_argument("--tokens", type=int, default=24, help="tokens per answer")
    p.add_argument("--batch", type=int, default=8, help="answers per forward/backward pass")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, tokenizer = models.load(models.packaged_smollm2())
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    record = datasets.load(TrainConfig(model="", out="").dataset, 0)[0]
    prompt = tokenizer(chat_text(tokenizer, record["prompt"]), add_special_tokens=False,
                       return_tensors="pt")["input_ids"]
    print(f"SmolLM2-135M, CPU, {a.threads} thread(s), prompt {prompt.shape[1]} tokens, {a.answers} answers of "
          f"{a.tokens} tokens, {a.batch} per forward/backward pass")
    # every answer runs to the cap, so both layouts do the same decoding work
    config = GenerationConfig(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=a.tokens,
                              min_new_tokens=a.tokens, pad_token_id=tokenizer.pad_token_id)
    ids = prompt.repeat(a.answers, 1)
    mask = torch.ones_like(ids)
    model.eval()
    with torch.no_grad():
        plain_gen = seconds(lambda: model.generate(input_ids=ids, attention_mask=mask, generation_config=config))
    answers = []
    shared_gen = seconds(lambda: answers.append(shared_prompt.generate(model, ids, mask, config)))
    comp = answers[0][:a.batch]
    comp_mask = torch.ones_like(comp)
    rows, rows_mask = ids[:a.batch], mask[:a.batch]
    model.train()
    values = {}

    def plain_pass():
        seqs = torch.cat([rows, comp], dim=1)
        logits = model(input_ids=seqs, attention_mask=torch.ones_like(seqs)).logits[:, rows.shape[1] - 1:-1]
        logp = logits.float().log_softmax(-1).gather(-1, comp[..., None]).sum()
        logp.backward()
        values["plain"] = float(logp)

    def shared_pass():
        logp = shared_prompt.token_logprobs(model, rows, rows_mask, comp, comp_mask)[0].sum()
        logp.backward()
        values["shared"] = float(logp)

    plain_bw, shared_bw = seconds(plain_pass), seconds(shared_pass)
    print(f"{'part':34s} {'every row':>10s} {'shared':>10s} {'ratio':>7s}")
    print(f"{f'sample {a.answers} answers':34s} {plain_gen:9.1f}s {shared_gen:9.1f}s {plain_gen / shared_gen:6.1f}x")
    print(f"{f'forward/backward over {a.batch} answers':34s} {plain_bw:9.1f}s {shared_bw:9.1f}s "
          f"{plain_bw / shared_bw:6.1f}x")
    print(f"summed log-probability: every row {values['plain']:.4f}, shared {values['shared']:.4f}")


if __name__ == "__main__":
    main()
