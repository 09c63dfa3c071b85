"""Sampled answers: N answers per prompt, batched generation with transformers (CPU or
GPU) or, when installed, vLLM. The same seed and batch size give the same answers
with transformers on one device; vLLM seeds each request but GPU kernels are not
bit-reproducible."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ..errors import DrestError
from .models import chat_prompt, context_length

BACKENDS = ("transformers", "vllm")


@dataclass(frozen=True)
class SampleSettings:
    answers: int = 8  # per prompt
    temperature: float = 1.0
    max_new_tokens: int = 320  # the cap; an answer that reaches it is "cut off"
    batch_size: int = 4  # prompts per generate call (each with ``answers`` sequences)
    seed: int = 0

    def validate(self) -> "SampleSettings":
        for name in ("answers", "max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise DrestError(f"{name.replace('_', '-')}: must be at least 1, got {getattr(self, name)}")
        if not self.temperature > 0:
            raise DrestError(f"temperature: must be positive, got {self.temperature}")
        return self


def encode_prompts(tokenizer, displays: list[dict]) -> list[list[int]]:
    return [tokenizer(chat_prompt(tokenizer, d["messages"]), add_special_tokens=False)["input_ids"] for d in displays]


def check_context(displays: list[dict], prompt_ids: list[list[int]], reply_tokens: int, limit: int | None) -> None:
    """Refuse a prompt that, with ``reply_tokens`` more, exceeds the model's context."""
    if not limit:
        return
    for d, ids in zip(displays, prompt_ids):
        if len(ids) + reply_tokens > limit:
            raise DrestError(f"prompt {d['display_id']}: {len(ids)} tokens plus {reply_tokens} for the answer exceed "
                             f"the model's context of {limit} tokens; shorten the prompt or lower --max-new-tokens")


def _stop_ids(model, tokenizer) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None) or tokenizer.eos_token_id
    return set(eos if isinstance(eos, list) else [eos])


def generate_transformers(model, tokenizer, displays: list[dict], settings: SampleSettings,
                          progress: bool = True) -> list[list[tuple[str, bool]]]:
    """Per display, ``answers`` pairs (text, cut off by the cap)."""
    import torch
    from tqdm import tqdm
    from transformers import GenerationConfig

    from .shared_prompt import generate

    prompt_ids = encode_prompts(tokenizer, displays)
    check_context(displays, prompt_ids, settings.max_new_tokens, context_length(model))
    stop = _stop_ids(model, tokenizer)
    config = GenerationConfig(do_sample=True, temperature=settings.temperature, top_k=0, top_p=1.0,
                              max_new_tokens=settings.max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=sorted(stop))
    device = next(model.parameters()).device
    out: list[list[tuple[str, bool]]] = []
    with torch.no_grad(), tqdm(total=len(displays) * settings.answers, desc="sampling", unit="answer",
                               disable=not progress) as bar:
        for start in range(0, len(displays), settings.batch_size):
            batch = prompt_ids[start:start + settings.batch_size]
            width = max(map(len, batch))
            ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, p in enumerate(batch):
                ids[i, width - len(p):] = torch.tensor(p)
                mask[i, width - len(p):] = 1
            # seeded per batch, so a batch's answers do not depend on earlier batches
            torch.manual_seed(settings.seed * 1_000_003 + start)
            # each prompt encoded once for its answers (shared_prompt)
            gen = generate(model, ids.repeat_interleave(settings.answers, 0).to(device),
                           mask.repeat_interleave(settings.answers, 0).to(device), config).tolist()
            for i in range(len(batch)):
                answers = []
                for seq in gen[i * settings.answers:(i + 1) * settings.answers]:
                    end = next((j for j, t in enumerate(seq) if t in stop), None)
                    body = seq if end is None else seq[:end]
                    answers.append((tokenizer.decode(body, skip_special_tokens=True), end is None))
                out.append(answers)
            bar.update(len(batch) * settings.answers)
    return out


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def generate_vllm(model_path: str, tokenizer, displays: list[dict], settings: SampleSettings,
                  adapter: str | None = None, progress: bool = True) -> list[list[tuple[str, bool]]]:
    """The same answers' layout as :func:`generate_transformers`, sampled by vLLM."""
    if not vllm_available():
        raise DrestError("backend: vllm is not installed; pip install vllm, or use --backend transformers")
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    llm = LLM(model=model_path, seed=settings.seed, enable_lora=adapter is not None)
    prompt_ids = encode_prompts(tokenizer, displays)
    check_context(displays, prompt_ids, settings.max_new_tokens, llm.llm_engine.model_config.max_model_len)
    params = SamplingParams(n=settings.answers, temperature=settings.temperature, top_p=1.0,
                            max_tokens=settings.max_new_tokens, seed=settings.seed)
    lora = None
    if adapter is not None:
        from vllm.lora.request import LoRARequest

        lora = LoRARequest("drest", 1, adapter)
    results = llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids], params,
                           lora_request=lora, use_tqdm=progress)
    return [[(c.text, c.finish_reason == "length") for c in r.outputs] for r in results]
