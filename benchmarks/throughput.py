"""Training throughput: drest's JAX PPO against Stable-Baselines3 PPO, in one run.

Same worlds (paper-train; SB3 through ``drest.gym``'s Gymnasium adapter and DReST
wrapper), same network (separate actor and critic MLPs), at the paper's 3 x 512
and its sweep's 3 x 128, plus drest's default network. SB3 runs with its/the
paper's settings (n_steps 8192, batch 64, 10 epochs, 3 envs, DummyVecEnv). drest
runs twice per network: with SB3's update settings (10 epochs of minibatch-64
gradient steps over each 8,192-step rollout) and with drest's defaults (1 epoch,
4 minibatches). Also prints achieved matmul GFLOP/s of
drest's training (rollout forward + update forward/backward, matmuls only) as a
fraction of this machine's measured matmul peak (a large jnp.dot, same run).
drest's default-settings measurements are made three times: in this process (XLA on all
cores, one device), as ``--workers`` single-threaded processes training at once, summed —
the way ``drest reproduce table1`` uses the machine — and as one run whose environments
are split over one CPU device per core on the device mesh, the way ``drest train`` runs.

    python benchmarks/throughput.py                # a few minutes
    python benchmarks/throughput.py --sb3-steps 100000 --drest-steps 2000000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import drest.rl  # noqa: F401  (XLA flags before JAX starts)

import jax
import jax.numpy as jnp

from drest import _xla
from drest.rl import networks
from drest.rl.common import seed_keys, wrap_devices
from drest.rl.config import from_dict


def matmul_peak(n=2048, reps=10) -> float:
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    t = time.perf_counter()
    for _ in range(reps):
        out = f(a)
    out.block_until_ready()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def train_flops_per_step(cfg, obs_size=250) -> float:
    """Matmul FLOPs per env step: rollout forward + update epochs x (forward + backward).
    Backward = 2 x forward, minus the (unneeded) input gradient of the first layer."""
    fa = networks.matmul_flops(obs_size, cfg.actor_hidden, 4)
    fc = networks.matmul_flops(obs_size, cfg.critic_hidden, 1)
    first = 2 * obs_size * (cfg.actor_hidden[0] + cfg.critic_hidden[0])
    epochs = cfg.update_epochs if cfg.algo == "ppo" else 1
    return (fa + fc) + epochs * (3 * (fa + fc) - first)


def drest_steps_per_sec(cfg, steps: int, barrier=None) -> float:
    from drest.rl import ppo

    D = cfg.devices or 1
    init1, upd1 = ppo.make_parts(cfg, D)
    init, chunk = wrap_devices(cfg, init1, upd1)
    state = init(seed_keys(cfg, D))
    n = max(1, steps // cfg.steps_per_update)
    f = chunk(n)
    state, _ = f(state)  # compile + warm up
    jax.block_until_ready(state)
    if barrier is not None:  # all workers time the same interval
        barrier.wait()
    t = time.perf_counter()
    state, _ = f(state)
    jax.block_until_ready(state)
    return n * cfg.steps_per_update * cfg.num_seeds / (time.perf_counter() - t)


def _worker(cfg_dict, steps, barrier, results):
    results.put(drest_steps_per_sec(from_dict(cfg_dict), steps, barrier))


def drest_workers_steps_per_sec(cfg_dict, steps: int, workers: int, mesh_devices: int = 0) -> float:
    """Summed steps/s of ``workers`` single-threaded processes training the same config at once;
    or (``mesh_devices``) of one process whose run is split over that many CPU devices."""
    ctx = multiprocessing.get_context("spawn")
    old = os.environ.get("XLA_FLAGS", "")
    if mesh_devices:
        workers, cfg_dict = 1, {**cfg_dict, "devices": mesh_devices}
        os.environ["XLA_FLAGS"] = _xla.mesh_flags(mesh_devices)
    else:
        os.environ["XLA_FLAGS"] = _xla.single_thread_flags()
    try:
        barrier, results = ctx.Barrier(workers), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(cfg_dict, steps, barrier, results)) for _ in range(workers)]
        for p in procs:
            p.start()
    finally:
        os.environ["XLA_FLAGS"] = old
    total = sum(results.get() for _ in procs)
    for p in procs:
        p.join()
    return total


def sb3_steps_per_sec(hidden, steps: int) -> float:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from drest.gym import DReSTWrapper, GridWorldEnv

    torch.set_num_threads(1)  # the JAX measurements share the machine; SB3 is not faster with more here
    venv = DummyVecEnv([lambda: DReSTWrapper(GridWorldEnv("paper-train"), lam=0.9, meta_episode_size=32)] * 3)
    model = PPO("MlpPolicy", venv, n_steps=8192, batch_size=64, n_epochs=10, learning_rate=1e-6, seed=0,
                policy_kwargs=dict(net_arch=dict(pi=list(hidden), vf=list(hidden)),
                                   activation_fn=torch.nn.Tanh), device="cpu", verbose=0)
    t = time.perf_counter()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sb3-steps", type=int, default=3 * 8192, help="SB3 env steps per network (one rollout+update)")
    ap.add_argument("--drest-steps", type=int, default=500_000, help="drest env steps per measurement (3x512: a quarter of it)")
    ap.add_argument("--seeds", type=int, default=1, help="drest seeds trained together (vmap)")
    ap.add_argument("--sizes", default="3x128,3x512", help="paper network sizes to compare")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="single-threaded drest processes measured together (default: one per core)")
    ap.add_argument("--skip-sb3", action="store_true")
    args = ap.parse_args(argv)

    peak = matmul_peak()
    print(f"matmul peak (2048x2048 jnp.dot, float32): {peak:.1f} GFLOP/s   devices: {jax.devices()}")
    rows = []
    sb3 = {}

    def measure(size, label, overrides, steps, parallel=True):
        cfg_dict = {"num_seeds": args.seeds, "total_steps": "100M", "devices": 1, **overrides}
        cfg = from_dict(cfg_dict)
        for procs in (1, args.workers, "mesh") if parallel and args.workers > 1 else (1,):
            if procs == "mesh":
                what = f"1 process, run split over {args.workers} CPU devices (mesh; drest train)"
                sps = drest_workers_steps_per_sec(cfg_dict, steps, 1, mesh_devices=args.workers)
            elif procs == 1:
                what = "1 process (all cores)"
                sps = drest_steps_per_sec(cfg, steps)
            else:
                what = f"{procs} single-threaded processes"
                sps = drest_workers_steps_per_sec(cfg_dict, steps, procs)
            rows.append((size, label, what, sps, train_flops_per_step(cfg) * sps / 1e9))
            print(f"drest PPO {size} {label}, {what}: {sps:,.0f} steps/s", flush=True)

    for size in args.sizes.split(","):
        n, w = (int(v) for v in size.split("x"))
        hidden = [w] * n
        steps = args.drest_steps * 128 // max(w, 128)  # wider networks: fewer steps, about the same time
        if not args.skip_sb3:
            sb3[size] = sb3_steps_per_sec(hidden, args.sb3_steps)
            print(f"SB3 PPO {size}: {sb3[size]:,.0f} steps/s", flush=True)
        net = {"actor_hidden": hidden, "critic_hidden": hidden}
        # drest's program with SB3's update: what the algorithm's settings alone cost (one process)
        measure(size, "SB3 update settings (10 epochs, minibatch 64)",
                {**net, "update_epochs": 10, "num_minibatches": 128}, steps // 20, parallel=False)
        measure(size, "drest defaults (1 epoch, 4 minibatches)", net, steps)
    default = from_dict({})
    measure(f"{len(default.actor_hidden)}x{default.actor_hidden[0]} (drest default)",
            "drest defaults (1 epoch, 4 minibatches)", {}, args.drest_steps)

    print()
    print("| network | drest settings | processes | drest steps/s | SB3 3x128 ratio | SB3 same-net ratio "
          "| matmul GFLOP/s | of peak |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, label, procs, sps, gf in rows:
        same = sb3.get(size.split(" ")[0])
        r128 = sb3.get("3x128")
        print(f"| {size} | {label} | {procs} | {sps:,.0f} | {f'{sps / r128:.0f}x' if r128 else 'n/a'} "
              f"| {f'{sps / same:.0f}x' if same else 'n/a'} | {gf:.1f} | {gf / peak:.0%} |")
    for size, v in sb3.items():
        print(f"SB3 PPO {size}: {v:,.0f} steps/s")


if __name__ == "__main__":
    main()
