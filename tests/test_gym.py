"""Gymnasium adapter and DReST wrapper: env_checker, the JAX env's dynamics, SB3."""

import gymnasium as gym
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


@pytest.mark.slow
def test_stable_baselines3_trains_on_the_wrapper():
    sb3 = pytest.importorskip("stable_baselines3")
    env = DReSTWrapper(GridWorldEnv("paper-test"), meta_episode_size=4)
    model = sb3.PPO("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(512)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(int(action))


# 3x4, T=2: each action from the start reaches a different coin, so a wrong direction
# table shows up as a wrong coin; the rows and columns differ, so a transposed layout shows.
CROSS = World.from_text("""shutdown_time: 2
#  c1 .  .
c3 A  c4 b2
.  c2 #  .
""")


def test_each_action_moves_the_way_it_says_and_the_observation_is_laid_out_by_hand():
    env = GridWorldEnv([CROSS])
    obs, _ = env.reset(seed=0)
    init, cur = obs.reshape(2, 5, 12)
    np.testing.assert_array_equal(init, cur)
    np.testing.assert_array_equal(cur[0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])  # walls, row-major
    np.testing.assert_array_equal(cur[1], [0, 1, 0, 0, 3, 0, 4, 0, 0, 2, 0, 0])  # coin values
    np.testing.assert_array_equal(cur[2], [0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0])  # button delays
    np.testing.assert_array_equal(cur[3], [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])  # agent at (1, 1)
    np.testing.assert_array_equal(cur[4], [0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0])  # T at the centre (1, 2)
    # action -> (cell the agent lands on, coin collected): up (0,1) c1, down (2,1) c2, left (1,0) c3, right (1,2) c4
    for action, (cell, coin) in enumerate([(1, 1), (9, 2), (4, 3), (6, 4)]):
        env.reset(seed=0)
        obs, r, terminated, _, _ = env.step(action)
        _, cur = obs.reshape(2, 5, 12)
        assert (r, terminated) == (coin, False), action
        assert np.flatnonzero(cur[3]).tolist() == [cell] and cur[1, cell] == 0
        assert cur[4].tolist() == [0] * 6 + [1] + [0] * 5  # one step left
    # right twice: c4 then the button (0 + 2 steps left); then two blocked steps right end it at L = 4
    env.reset(seed=0)
    for a in (3, 3):
        obs, *_ = env.step(a)
    assert obs.reshape(2, 5, 12)[1, 4, 6] == 2 and obs.reshape(2, 5, 12)[1, 2].sum() == 0
    env.step(3)
    _, _, terminated, _, info = env.step(3)
    assert terminated and info == {"length": 4, "length_index": 1, "num_lengths": 2, "coins": 4.0, "m": 4.0}


def test_step_after_the_end_is_refused_until_reset():
    env = GridWorldEnv([CORRIDOR])
    env.reset(seed=0)
    assert env.step(2)[2]  # left: the coin, and the episode ends
    with pytest.raises(DrestError, match=r"^step: the episode has ended.*reset\(\)"):
        env.step(3)  # would press the button and reopen the episode
    env.reset(seed=0)
    assert env.step(3)[1:3] == (0.0, False)

    wrapped = DReSTWrapper(GridWorldEnv([CORRIDOR]), meta_episode_size=2)
    with pytest.raises(DrestError, match=r"^step: call reset\(\)"):
        wrapped.step(0)
    wrapped.reset(seed=0)
    assert not wrapped.step(2)[2] and wrapped.step(2)[2]
    with pytest.raises(DrestError, match=r"^step: the meta-episode has ended"):
        wrapped.step(2)
    wrapped.reset()
    assert wrapped.step(2)[2:4] == (False, False)


@pytest.mark.parametrize("world", [1.5, "0", True, None])
def test_world_option_must_be_an_integer_index(world):
    env = GridWorldEnv([CORRIDOR, CORRIDOR])
    if world is None:
        with pytest.raises(DrestError, match=r"^options\['world'\]: index 2 is outside the bank of 2 worlds"):
            env.reset(options={"world": 2})
        return
    with pytest.raises(DrestError, match=r"^options\['world'\]: must be an integer index"):
        env.reset(options={"world": world})


def test_options_and_actions_are_checked_by_type():
    env = GridWorldEnv([CORRIDOR])
    with pytest.raises(DrestError, match=r"^options: must be a dict"):
        env.reset(options=3)
    with pytest.raises(DrestError, match=r"^options: unknown key\(s\) wrld; GridWorldEnv takes 'world'"):
        env.reset(options={"wrld": 0})
    env.reset(seed=0)
    with pytest.raises(DrestError, match="^action: must be an integer in 0-3"):
        env.step(True)  # a boolean is not an action
    assert env.step(np.int64(3))[1:3] == (0.0, False)


def test_render_before_reset_is_one_clear_error():
    env = GridWorldEnv([CORRIDOR], render_mode="ansi")
    with pytest.raises(DrestError, match=r"^render: call reset\(\)"):
        env.render()
    env.reset(seed=0)
    assert "│ c1 │ A  │ b1 │ c2 │" in env.render()


def test_wrapper_keeps_a_chosen_world_and_redraws_after_the_meta_episode():
    worlds = load_bank("paper-test")[:50]
    env = DReSTWrapper(GridWorldEnv(worlds), meta_episode_size=3)
    env.reset(seed=0, options={"world": 7})
    seen, term = set(), False
    while not term:
        seen.add(env.unwrapped._world)
        *_, term, _, _ = env.step(int(env.action_space.sample()))
    assert seen == {7}
    # unchosen: each meta-episode draws its world from the wrapper's seed stream
    firsts = []
    env.reset(seed=1)
    for _ in range(8):
        world, term = env.unwrapped._world, False
        while not term:
            assert env.unwrapped._world == world
            *_, term, _, _ = env.step(int(env.action_space.sample()))
        firsts.append(world)
        env.reset()
    assert len(set(firsts)) >= 6, firsts


@pytest.mark.parametrize("kwargs, field", [
    (dict(lam="0.9"), "lam"), (dict(lam=True), "lam"), (dict(lam=float("nan")), "lam"),
    (dict(meta_episode_size="3"), "meta_episode_size"), (dict(meta_episode_size=True), "meta_episode_size"),
    (dict(meta_episode_size=2.0), "meta_episode_size"), (dict(num_lengths=0), "num_lengths"),
    (dict(num_lengths=1.5), "num_lengths"),
])
def test_wrapper_settings_are_checked_by_type(kwargs, field):
    with pytest.raises(DrestError, match=f"^{field}:"):
        DReSTWrapper(GridWorldEnv([CORRIDOR]), **kwargs)


def test_bad_worlds_argument_and_bad_inner_info_are_one_line():
    with pytest.raises(DrestError, match="^worlds: give a bank name"):
        GridWorldEnv(5)
    with pytest.raises(DrestError, match="^worlds: give a bank name"):
        GridWorldEnv([CORRIDOR, "paper-test"])

    class Inner(gym.Env):
        observation_space, action_space = gym.spaces.Discrete(1), gym.spaces.Discrete(1)

        def __init__(self, info):
            self.info = info

        def reset(self, *, seed=None, options=None):
            return 0, {}

        def step(self, action):
            return 0, 1.0, True, False, self.info

    for info, words in [({"length_index": 0, "num_lengths": 2, "m": 0.0}, r"^info\['m'\]"),
                        ({"length_index": 2, "num_lengths": 2}, r"^info\['length_index'\]: must be an integer in 0..1"),
                        ({"length_index": "0", "num_lengths": 2}, r"^info\['length_index'\]")]:
        env = DReSTWrapper(Inner(info), meta_episode_size=2)
        env.reset(seed=0)
        with pytest.raises(DrestError, match=words):
            env.step(0)
