"""Pieces PPO and A2C share: the env over a bank, runner-state init, the rollout, GAE.

Layout of the runner state of a run: every leaf has leading axes [D, S] (devices,
seeds). Each device holds ``num_envs / D`` of every seed's environments and a copy
of every seed's parameters; gradients are averaged over devices (``lax.pmean``),
so the copies stay identical and a run on D devices is one training run, not D.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..env import GridEnv
from ..errors import DrestError
from . import networks
from .config import TrainConfig

AXIS = "dev"


class RunnerState(NamedTuple):
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array  # uint32[2], this device's stream
    update: jax.Array  # int32 updates done


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


def num_devices(config: TrainConfig) -> int:
    avail = jax.local_device_count()
    if config.devices:
        if config.devices > avail:
            raise DrestError(f"devices: asked for {config.devices} but JAX sees {avail} "
                             "(set XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts)")
        if config.num_envs % config.devices:
            raise DrestError(f"devices: {config.devices} does not divide num_envs = {config.num_envs}")
        return config.devices
    for d in range(avail, 0, -1):
        if config.num_envs % d == 0:
            return d
    return 1


def make_optimizer(config: TrainConfig, grad_steps_per_update: int):
    """Adam/RMSprop with global-norm clipping and (optionally) the learning rate annealed
    linearly to 0 over the run (optax counts gradient steps; an update has several)."""
    lr = config.lr
    if config.anneal_lr:
        def lr(count):
            done = jnp.minimum(count // grad_steps_per_update, config.num_updates)
            return config.lr * (1.0 - done / config.num_updates)
    if config.optimizer == "adam":
        opt = optax.adam(lr, eps=1e-5)
    else:
        opt = optax.rmsprop(lr, decay=0.99, eps=1e-5)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), opt)


def make_init(config: TrainConfig, env: GridEnv, env_params, optimizer, envs_per_device: int):
    """``init(seed_key)`` for one seed on one device (call under pmap(vmap), axis ``AXIS``)."""

    def init(seed_key):
        k_net, k_run = jax.random.split(seed_key)
        params = networks.init_actor_critic(k_net, env.obs_size, config.actor_hidden, config.critic_hidden)
        # each device plays its own environments: its own stream
        k_run = jax.random.fold_in(k_run, jax.lax.axis_index(AXIS))
        k_run, k_reset = jax.random.split(k_run)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, envs_per_device), env_params)
        return RunnerState(params, optimizer.init(params), env_state, obs, k_run, jnp.int32(0))

    return init


def make_rollout(config: TrainConfig, env: GridEnv, env_params):
    """``rollout(runner_state) -> (runner_state, Transition[T, N], last_value)``."""
    act = config.activation

    def rollout(rs: RunnerState):
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


def total_loss(pg, value, targets, entropy, config: TrainConfig):
    """Policy loss + value loss - entropy bonus, and its parts (for logging)."""
    v_loss = 0.5 * jnp.square(value - targets).mean()
    return pg + config.vf_coef * v_loss - config.ent_coef * entropy, (pg, v_loss, entropy)


def single_device_train(make_parts, config: TrainConfig, env=None, env_params=None):
    """``train(key) -> (runner_state, metrics[num_updates])`` for one seed, on one device.

    Jit it; ``jax.vmap`` it over keys to train several seeds at once. (Multi-device
    runs with evaluation and checkpoints: ``drest.rl.runs``.)
    """
    init, update = make_parts(config, 1, env, env_params)

    def train(key):
        def single(key):
            rs = init(key)
            return jax.lax.scan(lambda c, _: update(c), rs, None, config.num_updates)

        # a one-device axis so the same code (with its pmean) runs outside pmap
        out = jax.vmap(single, axis_name=AXIS)(key[None])
        return jax.tree.map(lambda x: x[0], out)

    return train


def gae(traj: Transition, last_value, gamma: float, lam: float):
    """Generalised advantage estimates and value targets ([T, N] each); ``done`` ends a meta-episode."""

    def back(carry, t):
        adv, next_value = carry
        nonterminal = 1.0 - t.done.astype(jnp.float32)
        delta = t.reward + gamma * next_value * nonterminal - t.value
        adv = delta + gamma * lam * nonterminal * adv
        return (adv, t.value), adv

    _, advantages = jax.lax.scan(back, (jnp.zeros_like(last_value), last_value), traj, reverse=True)
    return advantages, advantages + traj.value


def wrap_devices(config: TrainConfig, init_one, update_one, chunk_sizes=()):
    """pmap(vmap(...)) wrappers: ``init(keys[D, S, 2])`` and ``chunk(n)(runner_state) -> (state, metrics)``."""
    # seeds initialised one after another: the vmapped init of 2+ seeds with 3x512 networks
    # deadlocked inside XLA's CPU runtime (threads idle in futex waits); init runs once
    init = jax.pmap(lambda keys: jax.lax.map(init_one, keys), axis_name=AXIS)
    chunks = {}

    def chunk(n: int):
        if n not in chunks:
            def run(rs):
                return jax.lax.scan(lambda c, _: update_one(c), rs, None, n)
            chunks[n] = jax.pmap(jax.vmap(run), axis_name=AXIS, donate_argnums=0)
        return chunks[n]

    return init, chunk


def seed_keys(config: TrainConfig, devices: int) -> np.ndarray:
    keys = np.stack([np.asarray(jax.random.PRNGKey(config.seed + i)) for i in range(config.num_seeds)])
    return np.broadcast_to(keys, (devices, *keys.shape)).copy()
