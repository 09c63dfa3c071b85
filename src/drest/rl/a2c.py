"""A2C (synchronous advantage actor-critic: one gradient step per rollout) in JAX.

Same shape as ``drest.rl.ppo``: ``make_train(config)`` returns a jittable
``train(key)``; ``make_parts`` gives ``init`` + ``update`` for chunked runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .common import (AXIS, RunnerState, env_params_for, gae, loss_terms, make_env, make_init, make_optimizer,
                     make_rollout, normalise, single_device_train, total_loss)
from .config import TrainConfig


def a2c_loss(params, batch, config: TrainConfig, ent_coef):
    obs, action, advantages, targets = batch
    logp, value, entropy = loss_terms(params, obs, action, config)
    pg = -(jax.lax.stop_gradient(normalise(advantages, config)) * logp).mean()
    return total_loss(pg, value, targets, entropy, config, ent_coef)


def make_parts(config: TrainConfig, devices: int = 1, env=None, env_params=None):
    """(init(seed_key), update(runner_state) -> (runner_state, metrics)) for one seed on one device."""
    env = env or make_env(config)
    env_params = env_params if env_params is not None else env_params_for(env, config.train_bank)
    n_env = config.num_envs // devices
    batch_size = n_env * config.num_steps
    optimizer = make_optimizer(config, 1)
    init = make_init(config, env, env_params, optimizer, n_env)
    rollout = make_rollout(config, env, env_params)
    grad_fn = jax.value_and_grad(a2c_loss, has_aux=True)

    def update(rs: RunnerState):
        rs, traj, last_value = rollout(rs)
        advantages, targets = gae(traj, last_value, config.gamma, rs.hyper.gae_lambda)
        flat = lambda x: x.reshape(batch_size, *x.shape[2:])  # noqa: E731
        batch = (flat(traj.obs), flat(traj.action), flat(advantages), flat(targets))
        (loss, (pg, v_loss, entropy)), grads = grad_fn(rs.params, batch, config, rs.hyper.ent_coef)
        grads = jax.lax.pmean(grads, AXIS)
        updates, opt_state = make_optimizer(config, 1, rs.hyper.lr).update(grads, rs.opt_state, rs.params)
        params = jax.tree.map(jnp.add, rs.params, updates)
        metrics = {"loss": jax.lax.pmean(loss, AXIS), "pg_loss": pg, "v_loss": v_loss, "entropy": entropy,
                   "reward": jax.lax.pmean(traj.reward.mean(), AXIS)}
        return rs._replace(params=params, opt_state=opt_state, update=rs.update + 1), metrics

    return init, update


def make_train(config: TrainConfig, env=None, env_params=None):
    """``train(key) -> (runner_state, metrics[num_updates])`` for one seed (jit it; vmap over keys)."""
    return single_device_train(make_parts, config, env, env_params)
