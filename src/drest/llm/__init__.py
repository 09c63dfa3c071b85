"""Language-model experiments: POST/Neutrality prompt datasets, option-probability
scoring and DReST-RLOO fine-tuning with LoRA. Needs the ``llm`` extra (torch,
transformers, peft, gguf, accelerate); nothing here imports torch at import time."""
