#!/usr/bin/env bash
# Table 1's runs at 3 x 256 networks (drest's defaults otherwise), one after another: each is
# skipped when done, resumed in place when started, started otherwise. Re-run it after a stop
# (SIGTERM checkpoints the running one). Run from the repository root:
#   nohup bash results/table1/train_3x256.sh > /tmp/train_3x256.log 2>&1 &
set -euo pipefail
DREST=${DREST:-.venv/bin/drest}
PY=${PY:-.venv/bin/python}
for run in a2c-3x256-in-progress/a2c-drest a2c-3x256-in-progress/a2c-default \
           ppo-3x256-in-progress/ppo-drest ppo-3x256-in-progress/ppo-default; do
  dir=results/table1/$run
  name=${run##*/}
  if [ -f "$dir/config.yaml" ]; then
    if "$PY" -c "import sys; from drest.rl.rundir import RunDir; sys.exit(0 if (RunDir(sys.argv[1]).meta or {}).get('done') else 1)" "$dir"; then
      echo "$name: done"
      continue
    fi
    "$DREST" train --resume "$dir"
  else
    "$DREST" train --algo "${name%%-*}" --reward "${name#*-}" --steps 100M --seeds 5 --set actor_hidden=3x256 \
      --set critic_hidden=3x256 --set eval_every=2.5M --out "$dir"
  fi
done
