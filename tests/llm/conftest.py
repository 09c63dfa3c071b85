"""Shared language-model fixtures: the real SmolLM2-135M (loaded once per session) and a
tiny random Llama that shares its tokenizer, for fast training and CLI tests."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    # other jobs share the machine; two threads keep runs modest and reproducible
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def smollm2():
    """(model, tokenizer) of the packaged SmolLM2-135M-Instruct GGUF."""
    from drest.llm import models

    try:
        path = models.packaged_smollm2()
    except Exception as exc:  # the package is optional outside CI
        pytest.skip(f"SmolLM2 not available: {exc}")
    return models.load(path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2):
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
