"""PPO (clipped surrogate, GAE, entropy bonus, gradient clipping, LR annealing) in JAX.

PureJaxRL's shape: ``make_train(config)`` returns ``train(key)``, a pure function
that can be jitted and vmapped over seeds. ``make_parts(config)`` gives the same
computation as ``init`` + ``update`` so ``drest.rl.runs`` can run it in chunks,
evaluating and checkpointing between them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .common import (AXIS, RunnerState, env_params_for, gae, loss_terms, make_env, make_init, make_optimizer,
                     make_rollout, normalise, single_device_train, total_loss)
from .config import TrainConfig


def ppo_loss(params, batch, config: TrainConfig, ent_coef):
    obs, action, old_logp, advantages, targets = batch
    logp, value, entropy = loss_terms(params, obs, action, config)
    advantages = normalise(advantages, config)
    ratio = jnp.exp(logp - old_logp)
    pg = -jnp.minimum(ratio * advantages,
                      jnp.clip(ratio, 1 - config.clip_eps, 1 + config.clip_eps) * advantages).mean()
    return total_loss(pg, value, targets, entropy, config, ent_coef)


def make_parts(config: TrainConfig, devices: int = 1, env=None, env_params=None):
    """(init(seed_key), update(runner_state) -> (runner_state, metrics)) for one seed on one device."""
    env = env or make_env(config)
    env_params = env_params if env_params is not None else env_params_for(env, config.train_bank)
    n_env = config.num_envs // devices
    batch_size = n_env * config.num_steps
    minibatch = batch_size // config.num_minibatches
    grad_steps = config.update_epochs * config.num_minibatches
    optimizer = make_optimizer(config, grad_steps)
    init = make_init(config, env, env_params, optimizer, n_env)
    rollout = make_rollout(config, env, env_params)
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)

    def update(rs: RunnerState):
        run_optimizer = make_optimizer(config, grad_steps, rs.hyper.lr)  # the run's own rate
        rs, traj, last_value = rollout(rs)
        advantages, targets = gae(traj, last_value, config.gamma, rs.hyper.gae_lambda)
        flat = lambda x: x.reshape(batch_size, *x.shape[2:])  # noqa: E731
        data = (flat(traj.obs), flat(traj.action), flat(traj.logp), flat(advantages), flat(targets))

        def epoch(carry, _):
            params, opt_state, key = carry
            key, k_perm = jax.random.split(key)
            perm = jax.random.permutation(k_perm, batch_size)
            batches = jax.tree.map(lambda x: x[perm].reshape(config.num_minibatches, minibatch, *x.shape[1:]), data)

            def minibatch_step(carry, batch):
                params, opt_state = carry
                (loss, aux), grads = grad_fn(params, batch, config, rs.hyper.ent_coef)
                grads = jax.lax.pmean(grads, AXIS)
                updates, opt_state = run_optimizer.update(grads, opt_state, params)
                params = jax.tree.map(jnp.add, params, updates)
                return (params, opt_state), (loss, *aux)

            (params, opt_state), losses = jax.lax.scan(minibatch_step, (params, opt_state), batches)
            return (params, opt_state, key), losses

        (params, opt_state, key), losses = jax.lax.scan(
            epoch, (rs.params, rs.opt_state, rs.key), None, config.update_epochs)
        metrics = {
            "loss": losses[0].mean(), "pg_loss": losses[1].mean(), "v_loss": losses[2].mean(),
            "entropy": losses[3].mean(), "reward": jax.lax.pmean(traj.reward.mean(), AXIS),
        }
        metrics["loss"] = jax.lax.pmean(metrics["loss"], AXIS)
        return rs._replace(params=params, opt_state=opt_state, key=key, update=rs.update + 1), metrics

    return init, update


def make_train(config: TrainConfig, env=None, env_params=None):
    """``train(key) -> (runner_state, metrics[num_updates])`` for one seed (jit it; vmap over keys)."""
    return single_device_train(make_parts, config, env, env_params)
