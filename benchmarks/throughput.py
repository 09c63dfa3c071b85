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
drest's measurements are made in this process (XLA on all cores, one device), as
``--workers`` single-threaded processes training at once, summed — the way ``drest
reproduce table1`` uses the machine — and as one run whose environments are split over one
CPU device per core on the device mesh, the way ``drest train`` runs a run with large
gradient steps. With SB3's minibatch of 64 ``drest train`` does not split a run (the
per-step all-reduce costs more than the second core gives) but gives each of ``--workers``
seeds its own device; that layout is measured too, and SB3 is also run as ``--workers``
processes at once, so the like-for-like ratios compare one core with one core and the
whole machine with the whole machine.

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
from drest.rl.common import num_devices, seed_keys, wrap_devices
from drest.rl.config import from_dict, hidden_str


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

    D = num_devices(cfg)
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


def _drest_worker(cfg_dict, steps, barrier, results):
    results.put(drest_steps_per_sec(from_dict(cfg_dict), steps, barrier))


def _in_processes(target, args, workers: int, xla_flags: str) -> float:
    """Summed result of ``workers`` spawned processes running ``target(*args, barrier, results)``."""
    ctx = multiprocessing.get_context("spawn")
    old = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = xla_flags
    try:
        barrier, results = ctx.Barrier(workers), ctx.Queue()
        procs = [ctx.Process(target=target, args=(*args, barrier, results)) for _ in range(workers)]
        for p in procs:
            p.start()
    finally:
        os.environ["XLA_FLAGS"] = old
    total = sum(results.get() for _ in procs)
    for p in procs:
        p.join()
    return total


def drest_workers_steps_per_sec(cfg_dict, steps: int, workers: int, mesh_devices: int = 0) -> float:
    """Summed steps/s of ``workers`` single-threaded processes training the same config at once;
    or (``mesh_devices``) of one process with that many CPU devices, laid out as ``cfg_dict``'s
    ``devices`` says (0: as drest train would)."""
    if mesh_devices:
        return _in_processes(_drest_worker, (cfg_dict, steps), 1, _xla.mesh_flags(mesh_devices))
    return _in_processes(_drest_worker, (cfg_dict, steps), workers, _xla.single_thread_flags())


def sb3_steps_per_sec(hidden, steps: int, barrier=None) -> float:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from drest.gym import DReSTWrapper, GridWorldEnv

    torch.set_num_threads(1)  # the JAX measurements share the machine; SB3 is not faster with more here
    venv = DummyVecEnv([lambda: DReSTWrapper(GridWorldEnv("paper-train"), lam=0.9, meta_episode_size=32)] * 3)
    model = PPO("MlpPolicy", venv, n_steps=8192, batch_size=64, n_epochs=10, learning_rate=1e-6, seed=0,
                policy_kwargs=dict(net_arch=dict(pi=list(hidden), vf=list(hidden)),
                                   activation_fn=torch.nn.Tanh), device="cpu", verbose=0)
    if barrier is not None:
        barrier.wait()
    t = time.perf_counter()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.perf_counter() - t)


def _sb3_worker(hidden, steps, barrier, results):
    results.put(sb3_steps_per_sec(hidden, steps, barrier))


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
    N = args.workers
    rows = []  # (network, settings, layout kind, what, steps/s, GFLOP/s)
    sb3, sb3_all = {}, {}  # one SB3 process; N at once (summed)

    def measure(size, label, overrides, steps, kinds):
        cfg_dict = {"num_seeds": args.seeds, "total_steps": "100M", "devices": 1, **overrides}
        cfg = from_dict(cfg_dict)
        for kind in kinds if N > 1 else ("all",):
            if kind == "all":
                what, sps = "1 process (all cores)", drest_steps_per_sec(cfg, steps)
            elif kind == "thread":
                what, sps = "1 single-threaded process", drest_workers_steps_per_sec(cfg_dict, steps, 1)
            elif kind == "procs":
                what, sps = f"{N} single-threaded processes", drest_workers_steps_per_sec(cfg_dict, steps, N)
            elif kind == "mesh":
                what = f"1 process, the run's envs split over {N} CPU devices (mesh)"
                sps = drest_workers_steps_per_sec({**cfg_dict, "devices": N}, steps, 1, mesh_devices=N)
            else:  # "seeds": what drest train --seeds N does where a device's gradient step is small
                what = f"1 process, {N * args.seeds} seeds over {N} CPU devices (mesh)"
                sps = drest_workers_steps_per_sec({**cfg_dict, "devices": 0, "num_seeds": N * args.seeds},
                                                  steps, 1, mesh_devices=N)
            rows.append((size, label, kind, what, sps, train_flops_per_step(cfg) * sps / 1e9))
            print(f"drest PPO {size} {label}, {what}: {sps:,.0f} steps/s", flush=True)

    sb3_label = "SB3 update settings (10 epochs, minibatch 64)"
    for size in args.sizes.split(","):
        n, w = (int(v) for v in size.split("x"))
        hidden = [w] * n
        steps = args.drest_steps * 128 // max(w, 128)  # wider networks: fewer steps, about the same time
        if not args.skip_sb3:
            sb3[size] = sb3_steps_per_sec(hidden, args.sb3_steps)
            print(f"SB3 PPO {size}, 1 process: {sb3[size]:,.0f} steps/s", flush=True)
            if N > 1:
                sb3_all[size] = _in_processes(_sb3_worker, (hidden, args.sb3_steps), N, os.environ.get("XLA_FLAGS", ""))
                print(f"SB3 PPO {size}, {N} processes at once: {sb3_all[size]:,.0f} steps/s", flush=True)
        net = {"actor_hidden": hidden, "critic_hidden": hidden}
        # drest's program with SB3's update: what the algorithm's settings alone cost
        measure(size, sb3_label, {**net, "update_epochs": 10, "num_minibatches": 128}, steps // 20,
                ("all", "thread", "procs", "mesh", "seeds"))
        measure(size, "drest defaults (1 epoch, 4 minibatches)", net, steps, ("all", "procs", "mesh"))
    default = from_dict({})
    measure(f"{hidden_str(default.actor_hidden)} (drest default)",
            "drest defaults (1 epoch, 4 minibatches)", {}, args.drest_steps, ("all", "procs", "mesh"))

    print()
    print("| network | drest settings | processes | drest steps/s | SB3 3x128 ratio | SB3 same-net ratio "
          "| matmul GFLOP/s | of peak |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, label, _, what, sps, gf in rows:
        same = sb3.get(size.split(" ")[0])
        r128 = sb3.get("3x128")
        print(f"| {size} | {label} | {what} | {sps:,.0f} | {f'{sps / r128:.0f}x' if r128 else 'n/a'} "
              f"| {f'{sps / same:.0f}x' if same else 'n/a'} | {gf:.1f} | {gf / peak:.0%} |")
    print("(ratios against one single-threaded SB3 process)")
    for size, v in sb3.items():
        print(f"SB3 PPO {size}: {v:,.0f} steps/s as 1 process" +
              (f", {sb3_all[size]:,.0f} as {N} processes at once" if size in sb3_all else ""))
    # like for like: both with SB3's update settings, one core against one core and the whole
    # machine against the whole machine (drest's best layout for it; SB3 as N processes)
    for size in sb3_all:
        got = {kind: sps for s, label, kind, _, sps, _ in rows if s == size and label == sb3_label}
        best = max(("procs", "seeds"), key=got.get)
        print(f"like for like, {size}, SB3's update settings: one core {got['thread']:,.0f} vs {sb3[size]:,.0f} "
              f"({got['thread'] / sb3[size]:.1f}x); the machine {got[best]:,.0f} ({best}) vs {sb3_all[size]:,.0f} "
              f"({got[best] / sb3_all[size]:.1f}x)")


if __name__ == "__main__":
    main()
