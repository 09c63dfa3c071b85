"""Environment throughput: env-steps/s of the JAX environment with random actions.

    python benchmarks/env_throughput.py [--envs 2048] [--steps 2000] [--devices 2]

Steps ``--envs`` environments of the paper-train bank (DReST meta-episodes,
observations built every step) with uniformly random actions inside one jitted
``lax.scan``, sharded over ``--devices`` CPU devices (XLA's CPU backend runs an
elementwise loop on one thread, so two host devices use both cores). Prints
env-steps/s for one device and for ``--devices`` devices, side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--devices", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"

    import jax
    import jax.numpy as jnp

    from drest.env import GridEnv
    from drest.worlds import load_bank

    env = GridEnv()
    params = env.make_params(load_bank("paper-train"))

    def rollout(key, n_envs):
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, n_envs), params)

        def body(carry, k):
            state, checksum = carry
            ka, ks = jax.random.split(k)
            actions = jax.random.randint(ka, (n_envs,), 0, 4)
            obs, state, r, done, _ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(ks, n_envs), state, actions, params)
            # consume the observation so XLA cannot drop its construction
            return (state, checksum + r.sum() + obs.sum(dtype=jnp.float32)), None

        (_, checksum), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(key, args.steps))
        return checksum

    print(f"paper-train bank, {args.envs} envs, {args.steps} steps per run, random actions")
    for devices in sorted({1, min(args.devices, jax.local_device_count())}):
        per = args.envs // devices
        fn = jax.pmap(lambda k: rollout(k, per), devices=jax.local_devices()[:devices])
        keys = jax.random.split(jax.random.PRNGKey(0), devices)
        fn(keys).block_until_ready()  # compile
        best = 0.0
        for r in range(args.repeats):
            t0 = time.perf_counter()
            fn(jax.random.split(jax.random.PRNGKey(r + 1), devices)).block_until_ready()
            best = max(best, per * devices * args.steps / (time.perf_counter() - t0))
        print(f"  {devices} device(s): {best / 1e6:6.2f} M env-steps/s (best of {args.repeats})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
