"""Where the default agents' test NEUTRALITY comes from, per seed (results/table1/README.md).

    .venv/bin/python results/table1/default_per_world.py
"""

from pathlib import Path

import numpy as np

from drest.metrics import evaluate_bank
from drest.rl.rundir import RunDir
from drest.worlds import load_bank
from drest.worlds.solve import solve

test = load_bank("paper-test")
indifferent = np.array([len(set(solve(w).values())) == 1 for w in test])
runs = [RunDir(p) for p in sorted((Path(__file__).parent / "run").iterdir()) if p.is_dir()]
for run in runs:
    if run.agent[1] != "default":
        continue
    for seed in range(run.config.num_seeds):
        policy, _ = run.policy(seed)
        n = np.array([w.neutrality for w in evaluate_bank(test, policy).per_world])
        print(f"{run.agent} seed {seed}: mean N {n.mean():.3f}; worlds above 0.5 bits {(n > 0.5).sum()}, "
              f"above 0.1 {(n > 0.1).sum()}; share of N from the top 20 worlds {np.sort(n)[-20:].sum() / n.sum():.2f}; "
              f"indifferent worlds {indifferent.sum()}")
