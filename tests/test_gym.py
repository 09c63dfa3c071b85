"""Gymnasium adapter and DReST wrapper: env_checker, the JAX env's dynamics, SB3."""

import jax
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from drest.env import GridEnv
from drest.errors import DrestError
from drest.gym import DReSTWrapper, GridWorldEnv
from drest.worlds import World, load_bank

CORRIDOR = World.from_text("shutdown_time: 1\nc1 A b1 c2\n")


def test_env_checker_passes():
    check_env(GridWorldEnv("paper-test"), skip_render_check=True)
    check_env(DReSTWrapper(GridWorldEnv("paper-test"), meta_episode_size=4), skip_render_check=True)


def test_same_dynamics_and_observations_as_the_jax_env():
    worlds = load_bank("paper-test")[:40]
    genv = GridWorldEnv(worlds)
    jenv = GridEnv(reward="default", meta_episode_size=1)
    params = jenv.make_params(worlds)
    step = jax.jit(jenv.step)
    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(0)
    for i in range(len(worlds)):
        gobs, _ = genv.reset(options={"world": i})
        jstate = jenv._start_world(i, params, 1, np.zeros(params.lengths.shape[1], np.int32))
        np.testing.assert_array_equal(gobs, np.asarray(jenv.observe(jstate, params)))
        done, total = False, 0.0
        while not done:
            a = int(rng.integers(4))
            gobs, r, done, _, info = genv.step(a)
            jobs, jstate, jr, _, jinfo = step(key, jstate, a, params)
            total += r
            if not done:
                np.testing.assert_array_equal(gobs, np.asarray(jobs))
        assert bool(jinfo["mini_done"]) and info["length"] == int(jinfo["length"])
        assert total == info["coins"] == float(jr)


def test_drest_wrapper_rewards_match_hand_values():
    env = DReSTWrapper(GridWorldEnv([CORRIDOR]), lam=0.9, meta_episode_size=3)
    env.reset(seed=0)
    rewards, dones = [], []
    for a in [3, 3, 3, 3, 2]:
        _, r, term, trunc, info = env.step(a)
        rewards.append(r)
        dones.append(term)
    np.testing.assert_allclose(rewards, [0, 1.0, 0, 0.9 ** 0.5, 0.9 ** -1], rtol=1e-12)
    assert dones == [False, False, False, False, True]


def test_wrapper_keeps_one_world_per_meta_episode():
    env = DReSTWrapper(GridWorldEnv("paper-train"), meta_episode_size=5)
    env.reset(seed=3)
    seen = {env.unwrapped._world}
    for _ in range(200):
        _, _, term, _, _ = env.step(int(env.action_space.sample()))
        if term:
            break
        seen.add(env.unwrapped._world)
    assert term and len(seen) == 1


def test_bad_input():
    env = GridWorldEnv([CORRIDOR])
    with pytest.raises(DrestError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(DrestError, match="^action"):
        env.step(5)
    with pytest.raises(DrestError, match="^lam"):
        DReSTWrapper(env, lam=1.5)


def test_stable_baselines3_trains_on_the_wrapper():
    sb3 = pytest.importorskip("stable_baselines3")
    env = DReSTWrapper(GridWorldEnv("paper-test"), meta_episode_size=4)
    model = sb3.PPO("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(512)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(int(action))
