"""Pieces PPO and A2C share: the env over a bank, runner-state init, the rollout, GAE,
and the device mesh a run is laid out on.

Layout of the runner state: every leaf has leading axes [D, R] (env devices, runs;
a run is one seed, or one seed of one sweep point). The state lives on a
``jax.sharding.Mesh`` with axes ``("dev", "run")``, trained by ``jit`` of
``shard_map``. Each of the D devices on the "dev" axis holds ``num_envs / D`` of
every run's environments and a copy of its parameters; gradients are averaged over
that axis (``lax.pmean``), so the copies stay identical and D devices train one
run, not D. The R runs are vmapped and may be split over the "run" axis: runs are
independent, so that split changes no number. With ``jax.distributed`` the mesh
spans the devices of every process.

The settings a sweep varies (``Hyper``: DReST lambda, M, lr, entropy coefficient,
GAE lambda) are traced values in the runner state, so one compiled program trains
every point of a grid.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..env import GridEnv
from ..errors import DrestError
from . import networks
from .config import TrainConfig

AXIS = "dev"  # environments of a run split over devices (gradients averaged)
RUN_AXIS = "run"  # independent runs (seeds, sweep points) split over devices


class Hyper(NamedTuple):
    """Per-run settings, traced (a sweep vmaps over them)."""

    lam: jax.Array  # float32 DReST discount
    meta_episode_size: jax.Array  # int32 M
    lr: jax.Array  # float32 initial learning rate
    ent_coef: jax.Array  # float32
    gae_lambda: jax.Array  # float32


SWEEPABLE = Hyper._fields


def hyper_of(config: TrainConfig, **values) -> Hyper:
    """The per-run settings of ``config`` (``values`` override some), as NumPy scalars."""
    v = {k: getattr(config, k) for k in SWEEPABLE} | values
    return Hyper(np.float32(v["lam"]), np.int32(v["meta_episode_size"]), np.float32(v["lr"]),
                 np.float32(v["ent_coef"]), np.float32(v["gae_lambda"]))


class RunnerState(NamedTuple):
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array  # uint32[2], this device's stream
    update: jax.Array  # int32 updates done
    hyper: Hyper


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    logp: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array


def make_env(config: TrainConfig) -> GridEnv:
    return GridEnv(reward=config.reward, meta_episode_size=config.meta_episode_size, lam=config.lam)


def env_params_for(env: GridEnv, bank: str):
    from ..worlds import load_bank

    return env.make_params(load_bank(bank))


# On CPU, splitting a run's environments over devices pays a gradient all-reduce per
# gradient step, which outweighs the second core unless each device's share of a step is
# large. Measured here, a run on two 1-thread CPU devices against one (PPO, docs/rl.md "Speed"):
# 0.55x at 64 samples per device per step, 0.87x at 256, 1.16x at 1,024 (default network),
# 0.40x at 32 (3x128, SB3's minibatch of 64; results/throughput/throughput_3x128_2026-11-29.txt).
MIN_SPLIT_BATCH = 1024


def num_devices(config: TrainConfig) -> int:
    """Devices a run's environments are split over (``devices``; 0: all that divide num_envs,
    on CPU only while each keeps ``MIN_SPLIT_BATCH`` samples per gradient step; the devices
    left then take whole runs, as seeds or sweep points, see ``make_mesh``)."""
    avail = jax.device_count()
    if config.devices:
        if config.devices > avail:
            raise DrestError(f"devices: asked for {config.devices} but JAX sees {avail} "
                             "(drest train makes one CPU device per core; elsewhere set "
                             "XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts)")
        if config.num_envs % config.devices:
            raise DrestError(f"devices: {config.devices} does not divide num_envs = {config.num_envs}")
        return config.devices
    # one process's CPU devices only: under jax.distributed every process must hold envs
    cpu_local = jax.default_backend() == "cpu" and jax.process_count() == 1
    for d in range(avail, 1, -1):
        if config.num_envs % d == 0 and not (cpu_local and config.gradient_batch // d < MIN_SPLIT_BATCH):
            return d
    return 1


def make_optimizer(config: TrainConfig, grad_steps_per_update: int, lr=None):
    """Adam/RMSprop with global-norm clipping and (optionally) the learning rate annealed
    linearly to 0 over the run (optax counts gradient steps; an update has several).
    ``lr``: the run's rate, may be traced (a sweep varies it); its state's structure does not
    depend on it, so ``init`` can use the config's and ``update`` the run's."""
    base = config.lr if lr is None else lr
    rate = base
    if config.anneal_lr:
        def rate(count):
            done = jnp.minimum(count // grad_steps_per_update, config.num_updates)
            return base * (1.0 - done / config.num_updates)
    if config.optimizer == "adam":
        opt = optax.adam(rate, eps=1e-5)
    else:
        # PyTorch's RMSprop, as Stable-Baselines3's A2C (the paper's) uses it: eps added to
        # sqrt(v), not inside it (optax's default would floor the denominator at 3e-3)
        opt = optax.rmsprop(rate, decay=0.99, eps=1e-5, eps_in_sqrt=False)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), opt)


def make_init(config: TrainConfig, env: GridEnv, env_params, optimizer, envs_per_device: int):
    """``init(seed_key, hyper)`` for one run on one device (call with axis ``AXIS`` bound)."""

    def init(seed_key, hyper: Hyper):
        k_net, k_run = jax.random.split(seed_key)
        params = networks.init_actor_critic(k_net, env.obs_size, config.actor_hidden, config.critic_hidden)
        # each device plays its own environments: its own stream
        k_run = jax.random.fold_in(k_run, jax.lax.axis_index(AXIS))
        k_run, k_reset = jax.random.split(k_run)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, envs_per_device), env_params)
        return RunnerState(params, optimizer.init(params), env_state, obs, k_run, jnp.int32(0),
                           jax.tree.map(jnp.asarray, hyper))

    return init


def make_rollout(config: TrainConfig, base_env: GridEnv, env_params):
    """``rollout(runner_state) -> (runner_state, Transition[T, N], last_value)``; the env plays
    with the run's own (traced) DReST lambda and M."""
    act = config.activation

    def rollout(rs: RunnerState):
        env = dataclasses.replace(base_env, lam=rs.hyper.lam, meta_episode_size=rs.hyper.meta_episode_size)

        def step(carry, _):
            env_state, obs, key = carry
            key, k_act, k_env = jax.random.split(key, 3)
            logits, value = networks.actor_critic(rs.params, obs, act)
            action = jax.random.categorical(k_act, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
            keys = jax.random.split(k_env, obs.shape[0])
            obs2, env_state, reward, done, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                keys, env_state, action, env_params)
            return (env_state, obs2, key), Transition(obs, action, logp, value, reward, done)

        (env_state, obs, key), traj = jax.lax.scan(step, (rs.env_state, rs.obs, rs.key), None, config.num_steps)
        _, last_value = networks.actor_critic(rs.params, obs, act)
        return rs._replace(env_state=env_state, obs=obs, key=key), traj, last_value

    return rollout


def loss_terms(params, obs, action, config: TrainConfig):
    """log pi(action | obs), V(obs) and the mean policy entropy: what PPO's and A2C's losses share."""
    logits, value = networks.actor_critic(params, obs, config.activation)
    logp_all = jax.nn.log_softmax(logits)
    logp = jnp.take_along_axis(logp_all, action[:, None], -1)[:, 0]
    entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
    return logp, value, entropy


def normalise(advantages, config: TrainConfig):
    if not config.norm_adv:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def total_loss(pg, value, targets, entropy, config: TrainConfig, ent_coef):
    """Policy loss + value loss - entropy bonus, and its parts (for logging)."""
    v_loss = 0.5 * jnp.square(value - targets).mean()
    return pg + config.vf_coef * v_loss - ent_coef * entropy, (pg, v_loss, entropy)


def single_device_train(make_parts, config: TrainConfig, env=None, env_params=None):
    """``train(key) -> (runner_state, metrics[num_updates])`` for one seed, on one device.

    Jit it; ``jax.vmap`` it over keys to train several seeds at once. (Multi-device
    runs with evaluation and checkpoints: ``drest.rl.runs``.)
    """
    init, update = make_parts(config, 1, env, env_params)
    hyper = hyper_of(config)

    def train(key):
        def single(key):
            rs = init(key, hyper)
            return jax.lax.scan(lambda c, _: update(c), rs, None, config.num_updates)

        # a one-device axis so the same code (with its pmean) runs outside pmap
        out = jax.vmap(single, axis_name=AXIS)(key[None])
        return jax.tree.map(lambda x: x[0], out)

    return train


def gae(traj: Transition, last_value, gamma: float, gae_lambda: float):
    """Generalised advantage estimates and value targets ([T, N] each); ``done`` ends a meta-episode."""

    def back(carry, t):
        adv, next_value = carry
        nonterminal = 1.0 - t.done.astype(jnp.float32)
        delta = t.reward + gamma * next_value * nonterminal - t.value
        adv = delta + gamma * gae_lambda * nonterminal * adv
        return (adv, t.value), adv

    _, advantages = jax.lax.scan(back, (jnp.zeros_like(last_value), last_value), traj, reverse=True)
    return advantages, advantages + traj.value


def make_mesh(env_devices: int, runs: int) -> Mesh:
    """``env_devices`` x (the most devices left that divide ``runs``), axes ("dev", "run")."""
    devices = jax.devices()
    run_devices = max(d for d in range(1, len(devices) // env_devices + 1) if runs % d == 0)
    grid = np.array(devices[: env_devices * run_devices]).reshape(run_devices, env_devices).T
    return Mesh(grid, (AXIS, RUN_AXIS))


def place(tree, mesh: Mesh):
    """NumPy leaves [D, R, ...] onto the mesh (every process builds its own shards: multi-host safe)."""
    sharding = NamedSharding(mesh, P(AXIS, RUN_AXIS))

    def one(x):
        if isinstance(x, (jax.Array, jax.core.Tracer)):
            return x
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    return jax.tree.map(one, tree)


def to_host(tree):
    """A mesh-sharded pytree as NumPy (gathered from every process under jax.distributed)."""
    if all(getattr(x, "is_fully_addressable", True) for x in jax.tree.leaves(tree)):
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def wrap_devices(config: TrainConfig, init_one, update_one, runs: int | None = None):
    """``init(keys[D, R, 2], hyper=None)`` and ``chunk(n)(state) -> (state, metrics[D, R, 1])``
    (n updates, metrics their mean):
    ``jit`` of ``shard_map`` over the mesh, runs vmapped inside. ``hyper`` (a ``Hyper`` of
    [R] arrays) defaults to the config's settings for every run. ``devices: 0`` resolves as
    everywhere else (``num_devices``), so it matches ``make_parts(config,
    num_devices(config))``; a mesh of one device would silently train one device's share."""
    D = num_devices(config)
    R = runs or config.num_seeds
    mesh = make_mesh(D, R)
    spec = P(AXIS, RUN_AXIS)

    def blockwise(f):
        # a device's block has leading axes [1, R / run devices]: drop the device axis inside
        def g(*args):
            out = f(*jax.tree.map(lambda x: x[0], args))
            return jax.tree.map(lambda x: x[None], out)

        return jax.shard_map(g, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)

    # runs initialised one after another: jaxlib's batched QR (orthogonal init) under vmap
    # deadlocks XLA's CPU thread pool (docs/rl.md, "Two host devices"); init runs once
    init_jit = jax.jit(blockwise(lambda keys, hyper: jax.lax.map(lambda kh: init_one(*kh), (keys, hyper))))

    def init(keys, hyper: Hyper | None = None):
        if hyper is None:
            hyper = jax.tree.map(lambda v: np.full((R,), v), hyper_of(config))
        hyper = jax.tree.map(lambda v: jnp.broadcast_to(v, (D, *v.shape)) if isinstance(v, jax.core.Tracer)
                             else np.broadcast_to(np.asarray(v), (D, *np.shape(v))).copy(), hyper)
        return init_jit(place(keys, mesh), place(hyper, mesh))

    def run_n(rs, n):
        # the update count is traced, so every chunk length (the last, shorter one too)
        # runs one compiled program; metrics come back as their mean over the chunk
        rs = jax.tree.map(lambda x: x[0], rs)
        step = jax.vmap(update_one)
        zeros = jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), jax.eval_shape(step, rs)[1])

        def body(_, carry):
            rs, total = carry
            rs, m = step(rs)
            return rs, jax.tree.map(jnp.add, total, m)

        rs, total = jax.lax.fori_loop(0, n, body, (rs, zeros))
        mean = jax.tree.map(lambda t: (t / n)[..., None], total)
        return jax.tree.map(lambda x: x[None], (rs, mean))

    run_jit = jax.jit(jax.shard_map(run_n, mesh=mesh, in_specs=(spec, P()), out_specs=spec, check_vma=False),
                      donate_argnums=0)

    def chunk(n: int):
        return lambda state: run_jit(place(state, mesh), jnp.int32(n))

    return init, chunk


def seed_keys(config: TrainConfig, devices: int, points: int = 1) -> np.ndarray:
    """PRNG keys [devices, points * seeds, 2]: run p * seeds + s uses seed ``config.seed + s``,
    so a sweep point's seed trains exactly as a single run of that point and seed."""
    keys = np.stack([np.asarray(jax.random.PRNGKey(config.seed + i)) for i in range(config.num_seeds)])
    keys = np.tile(keys, (points, 1))
    return np.broadcast_to(keys, (devices, *keys.shape)).copy()
