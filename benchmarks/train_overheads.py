"""What `drest train` spends beside training, measured side by side in one process.

Runs the training program of a config (default: `drest train`'s own, one seed, its
1M-step chunks on one CPU device per core) chunk after chunk, alternating: a chunk
alone, then a chunk with what `drest train` does while it runs (evaluating the
previous state on both banks in NumPy, writing checkpoints). Alternating within one
process is the only comparison this machine allows: its speed moves by more than
these costs from one run to the next.

    python benchmarks/train_overheads.py                 # about 2 minutes
    python benchmarks/train_overheads.py --chunks 20 --set actor_hidden=3x128
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from drest.rl.cli import _use_all_cores


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=12, help="chunks timed per kind (alternated)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = ap.parse_args(argv)
    _use_all_cores()

    import jax

    from drest.rl.common import num_devices, seed_keys, to_host, wrap_devices
    from drest.rl.config import from_dict, parse_set
    from drest.rl.rundir import save_checkpoint, seed_params
    from drest.rl.runs import algo_module, evaluate_params
    from drest.worlds import load_bank

    cfg = from_dict({"total_steps": "20M", **parse_set(args.set)})
    D = num_devices(cfg)
    init, chunk = wrap_devices(cfg, *algo_module(cfg.algo).make_parts(cfg, D))
    n = max(1, cfg.eval_every // cfg.steps_per_update)
    run = chunk(n)
    banks = [load_bank(b) for b in (cfg.train_bank, cfg.test_bank)]
    state, _ = run(init(seed_keys(cfg, D)))  # compile and warm up
    host = to_host(state)
    with tempfile.TemporaryDirectory() as tmp:
        kinds = {"alone": lambda: None,
                 "with evaluation": lambda: [evaluate_params(seed_params(host, 0), cfg.activation, b) for b in banks],
                 "with 2 checkpoints": lambda: [save_checkpoint(Path(tmp), host, {"update": 0}) for _ in range(2)]}
        times = {k: [] for k in kinds}
        for i in range(args.chunks * len(kinds)):
            kind = list(kinds)[i % len(kinds)]
            t = time.perf_counter()
            state, _ = run(state)  # asynchronous, as in drest train
            kinds[kind]()
            jax.block_until_ready(state)
            times[kind].append(time.perf_counter() - t)
            host = to_host(state)
    steps = n * cfg.steps_per_update * cfg.num_seeds
    base = np.median(times["alone"])
    print(f"{cfg.algo} {cfg.reward}, {'x'.join(map(str, cfg.actor_hidden))} networks, {D} devices, "
          f"chunks of {steps:,} env steps, {args.chunks} of each kind, alternated")
    print("| chunk | median s | env steps/s | vs alone |")
    print("| --- | --- | --- | --- |")
    for kind, ts in times.items():
        m = np.median(ts)
        print(f"| {kind} | {m:.3f} | {steps / m:,.0f} | {m / base - 1:+.1%} |")


if __name__ == "__main__":
    main()
