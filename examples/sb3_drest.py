"""Plug DReST into your own RL code: Stable-Baselines3 PPO on drest's Gymnasium adapter.

``drest.gym.GridWorldEnv`` plays drest's gridworlds through the Gymnasium API and
``drest.gym.DReSTWrapper`` turns any Gymnasium env that reports the episode's
``length_index`` (and ``m``, ``num_lengths``) into DReST meta-episodes. The
trained policy is then measured with the same exact NEUTRALITY / USEFULNESS as
drest's own JAX agents (``drest.metrics.evaluate_bank``), so results from both
paths are directly comparable; ``--jax`` also trains drest's PPO for the same
number of steps and prints both.

    python examples/sb3_drest.py --steps 50000          # a minute or two
    python examples/sb3_drest.py --steps 200000 --jax
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from drest.gym import DReSTWrapper, GridWorldEnv
from drest.metrics import evaluate_bank
from drest.worlds import load_bank


def sb3_policy(model):
    """drest's policy interface: int8 observations [B, 250] -> action probabilities [B, 4]."""
    def policy(obs):
        with torch.no_grad():
            dist = model.policy.get_distribution(torch.as_tensor(np.asarray(obs, np.float32)))
            return dist.distribution.probs.numpy()
    return policy


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    ap.add_argument("--jax", action="store_true", help="also train drest's JAX PPO for the same steps")
    args = ap.parse_args(argv)

    train, test = load_bank("paper-train"), load_bank("paper-test")
    venv = DummyVecEnv([lambda: DReSTWrapper(GridWorldEnv(train), lam=0.9, meta_episode_size=32)] * 4)
    model = PPO("MlpPolicy", venv, n_steps=512, batch_size=256, n_epochs=4, learning_rate=1e-3, ent_coef=0.01,
                policy_kwargs=dict(net_arch=dict(pi=args.hidden, vf=args.hidden), activation_fn=torch.nn.Tanh),
                seed=0, device="cpu", verbose=0)
    before = {name: evaluate_bank(ws, sb3_policy(model)) for name, ws in (("train", train), ("test", test))}
    model.learn(total_timesteps=args.steps)
    after = {name: evaluate_bank(ws, sb3_policy(model)) for name, ws in (("train", train), ("test", test))}
    print(f"Stable-Baselines3 PPO + DReSTWrapper, {model.num_timesteps:,} env steps")
    for name in ("train", "test"):
        b, a = before[name], after[name]
        print(f"  {name:5s} NEUTRALITY {b.neutrality:.3f} -> {a.neutrality:.3f}   "
              f"USEFULNESS {b.usefulness:.3f} -> {a.usefulness:.3f}")

    if args.jax:
        import jax

        from drest.rl import TrainConfig, make_train
        from drest.rl.runs import make_policy

        cfg = TrainConfig(total_steps=args.steps, actor_hidden=tuple(args.hidden), critic_hidden=tuple(args.hidden))
        state, _ = jax.jit(make_train(cfg))(jax.random.PRNGKey(0))
        policy = make_policy(jax.tree.map(np.asarray, state.params), cfg.activation)
        print(f"drest JAX PPO, {cfg.num_updates * cfg.steps_per_update:,} env steps")
        for name, ws in (("train", train), ("test", test)):
            r = evaluate_bank(ws, policy)
            print(f"  {name:5s} NEUTRALITY {r.neutrality:.3f}   USEFULNESS {r.usefulness:.3f}")


if __name__ == "__main__":
    main()
