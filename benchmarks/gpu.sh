#!/usr/bin/env bash
# Table 1's PPO DReST row at the paper's 3 x 512 networks on one GPU, printing env steps/s.
#
#   bash benchmarks/gpu.sh                 # 10M steps x 5 seeds (the speed settles after the first chunk)
#   STEPS=100M bash benchmarks/gpu.sh      # the full row (5 seeds x 100M), evaluated every 5M
#
# Needs JAX with CUDA on the machine (pip install -U "jax[cuda12]" in drest's environment).
# Not run yet: no GPU was available when it was written (2026-11-28); the CPU figures are in
# docs/rl.md (Speed). Prints the training speed (env steps/s of all seeds, evaluation excluded)
# and the overall rate (wall time of the whole command: compile and evaluation included).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
STEPS=${STEPS:-10M}
SEEDS=${SEEDS:-5}
OUT=${OUT:-runs/gpu-bench-$(date +%Y%m%d-%H%M%S)}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$PY" - <<'PY'
import sys
import jax
gpus = [d for d in jax.devices() if d.platform == "gpu"]
print(f"JAX {jax.__version__}, devices: {jax.devices()}")
if not gpus:
    sys.exit("gpu.sh: JAX sees no GPU; install jax[cuda12] (pip install -U 'jax[cuda12]') and rerun")
PY
start=$(date +%s.%N)
# Table 1's PPO DReST settings (drest's defaults) at the paper's network size; evaluation every STEPS/20
"$PY" -m drest.cli train --algo ppo --reward drest --steps "$STEPS" --seeds "$SEEDS" --no-progress \
  --set actor_hidden=3x512 --set critic_hidden=3x512 --set eval_every="$("$PY" -c "
from drest.rl.config import parse_steps; print(max(parse_steps('$STEPS') // 20, 1))")" --out "$OUT"
end=$(date +%s.%N)
"$PY" - "$OUT" "$start" "$end" <<'PY'
import sys
from drest.rl.runs import read_meta, read_run_config
out, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
cfg, meta = read_run_config(out), read_meta(out)
total = meta["env_steps"] * cfg.num_seeds
print(f"PPO DReST 3x512, {cfg.num_seeds} seeds x {meta['env_steps']:,} steps: "
      f"{total / (end - start):,.0f} env steps/s overall ({end - start:.0f} s, compile and evaluation included)")
PY
