"""The functional JAX environment: DReST inside, automatic resets, jit/vmap, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from drest.env import GridEnv
from drest.errors import DrestError
from drest.worlds import World, load_bank

# 1x4 corridor "c1 A b1 c2", T = 1: left ends with L=1 and 1 coin (m(1) = 1);
# right, right presses the button and ends with L=2 and 2 coins (m(2) = 2).
CORRIDOR = World.from_text("shutdown_time: 1\nc1 A b1 c2\n")
KEY = jax.random.PRNGKey(0)


def play(env, params, actions):
    obs, state = env.reset(KEY, params)
    out = []
    for a in actions:
        obs, state, r, done, info = env.step(KEY, state, a, params)
        out.append((float(r), bool(done), bool(info["mini_done"]), int(info["length"])))
    return out, state


def test_drest_rewards_inside_a_meta_episode_match_hand_values():
    env = GridEnv(reward="drest", meta_episode_size=3, lam=0.9, grid_shape=(1, 4))
    params = env.make_params([CORRIDOR])
    out, state = play(env, params, [3, 3, 3, 3, 2])
    rewards = [r for r, *_ in out]
    # E=1: L=2, n=0: 0.9**0 * 2/2 = 1;  E=2: L=2, n=1: 0.9**(1 - 1/2) * 1
    # E=3: L=1, n=0: 0.9**(0 - 2/2) * 1/1
    np.testing.assert_allclose(rewards, [0, 1.0, 0, 0.9 ** 0.5, 0.9 ** -1], rtol=1e-6)
    assert [d for _, d, _, _ in out] == [False, False, False, False, True]
    assert [m for _, _, m, _ in out] == [False, True, False, True, True]
    # a fresh meta-episode starts: counts cleared, episode 1, agent at the start
    assert state.counts.tolist() == [0, 0] and int(state.episode) == 1 and int(state.pos) == 1


def test_default_reward_is_raw_coins_at_the_end():
    env = GridEnv(reward="default", meta_episode_size=1, grid_shape=(1, 4))
    params = env.make_params([CORRIDOR])
    out, _ = play(env, params, [3, 3, 2])
    assert [r for r, *_ in out] == [0.0, 2.0, 1.0]
    assert [d for _, d, _, _ in out] == [False, True, True]


def test_observation_layout():
    env = GridEnv(grid_shape=(1, 4))
    params = env.make_params([CORRIDOR])
    obs, state = env.reset(KEY, params)
    assert obs.dtype == jnp.int8 and obs.shape == (env.obs_size,) == (40,)
    init, cur = np.asarray(obs).reshape(2, 5, 4)
    np.testing.assert_array_equal(init, cur)
    np.testing.assert_array_equal(cur[1], [1, 0, 0, 2])  # coins
    np.testing.assert_array_equal(cur[2], [0, 0, 1, 0])  # delays
    np.testing.assert_array_equal(cur[3], [0, 1, 0, 0])  # agent
    np.testing.assert_array_equal(cur[4], [0, 0, 1, 0])  # steps left at the centre cell
    obs, *_ = env.step(KEY, state, 3, params)
    init, cur = np.asarray(obs).reshape(2, 5, 4)
    np.testing.assert_array_equal(cur[2], [0, 0, 0, 0])  # button pressed and gone
    np.testing.assert_array_equal(cur[4], [0, 0, 1, 0])  # 1 - 1 + 1 steps left
    np.testing.assert_array_equal(init[2], [0, 0, 1, 0])  # the initial half never changes


def test_jit_vmap_batch_over_paper_bank():
    env = GridEnv()
    params = env.make_params(load_bank("paper-test"))
    B = 64
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(KEY, B), params)

    @jax.jit
    def run(state, key):
        def body(state, k):
            ka, ks = jax.random.split(k)
            a = jax.random.randint(ka, (B,), 0, 4)
            obs, state, r, d, info = jax.vmap(env.step, (0, 0, 0, None))(jax.random.split(ks, B), state, a, params)
            return state, (r, d, info["mini_done"])
        return jax.lax.scan(body, state, jax.random.split(key, 400))

    state, (r, d, mini) = run(state, KEY)
    assert obs.shape == (B, 250)
    # rewards only at mini-episode ends; meta-episodes end after 32 mini-episodes
    assert float(jnp.abs(jnp.where(mini, 0.0, r)).max()) == 0.0
    assert int(d.sum()) * 32 <= int(mini.sum())
    assert bool(jnp.all(state.episode >= 1)) and bool(jnp.all(state.episode <= 32))


@pytest.mark.parametrize("kwargs, field", [
    (dict(reward="shaped"), "reward"),
    (dict(lam=1.0), "lam"),
    (dict(lam=0.0), "lam"),
    (dict(meta_episode_size=0), "meta_episode_size"),
    (dict(meta_episode_size=2.5), "meta_episode_size"),
])
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(DrestError, match=f"^{field}:"):
        GridEnv(**kwargs)


@pytest.mark.parametrize("action", [4, -1, 1.5])
def test_action_outside_0_3_is_one_clear_error(action):
    env = GridEnv(grid_shape=(1, 4))
    params = env.make_params([CORRIDOR])
    _, state = env.reset(KEY, params)
    with pytest.raises(DrestError, match="^action: must be an integer in 0-3"):
        env.step(KEY, state, action, params)


def test_grid_shape_mismatch_is_explained():
    with pytest.raises(DrestError, match="grid_shape"):
        GridEnv().make_params([CORRIDOR])


# 3x4, T=2: each action from the start A (1, 1) reaches a different coin (up c1, down c2,
# left c3, right c4), so a wrong direction table shows up as a wrong coin.
CROSS = World.from_text("""shutdown_time: 2
#  c1 .  .
c3 A  c4 b2
.  c2 #  .
""")


@pytest.mark.parametrize("action, cell, coin", [(0, 1, 1), (1, 9, 2), (2, 4, 3), (3, 6, 4)])
def test_each_action_moves_the_way_it_says_in_a_2d_world(action, cell, coin):
    env = GridEnv(reward="default", meta_episode_size=1, grid_shape=(3, 4))
    params = env.make_params([CROSS])
    obs, state = env.reset(KEY, params)
    init, cur = np.asarray(obs).reshape(2, 5, 12)
    np.testing.assert_array_equal(cur[0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])  # walls, row-major
    np.testing.assert_array_equal(cur[1], [0, 1, 0, 0, 3, 0, 4, 0, 0, 2, 0, 0])  # coin values
    np.testing.assert_array_equal(cur[2], [0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0])  # button delays
    np.testing.assert_array_equal(cur[3], [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])  # agent at (1, 1)
    np.testing.assert_array_equal(cur[4], [0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0])  # T at the centre (1, 2)
    obs, state, r, done, info = env.step(KEY, state, action, params)
    init2, cur = np.asarray(obs).reshape(2, 5, 12)
    np.testing.assert_array_equal(init2, init)
    assert int(state.pos) == cell and np.flatnonzero(cur[3]).tolist() == [cell]
    assert cur[1, cell] == 0 and cur[1].sum() == 10 - coin and cur[4, 6] == 1
    # a second step the same way is blocked (edge or wall) except right, which presses b2
    obs, state, r, done, info = env.step(KEY, state, action, params)
    if action == 3:
        assert not bool(done) and int(state.steps_left) == 2 and int(state.pos) == 7
    else:
        assert bool(done) and float(r) == coin and int(info["length"]) == 2


def test_the_world_is_fixed_within_a_meta_episode_and_redrawn_after_it():
    env = GridEnv(reward="drest", meta_episode_size=4)
    params = env.make_params(load_bank("paper-test"))
    _, state = env.reset(KEY, params)

    @jax.jit
    def run(state, key):
        def body(state, k):
            ka, ks = jax.random.split(k)
            _, nxt, _, done, info = env.step(ks, state, jax.random.randint(ka, (), 0, 4), params)
            return nxt, (state.world, nxt.world, done, info["mini_done"])
        return jax.lax.scan(body, state, jax.random.split(key, 3000))

    _, (before, after, done, mini) = run(state, KEY)
    before, after, done, mini = map(np.asarray, (before, after, done, mini))
    assert done.sum() >= 100 and 4 * done.sum() <= mini.sum() < 4 * (done.sum() + 1)
    # no step that does not end a meta-episode changes the world, mini-episode ends included
    assert np.all(before[~done] == after[~done])
    # the world after each meta-episode is a fresh uniform draw from 200: n draws give about
    # 200 (1 - (199/200)^n) distinct worlds (121 for n = 186), rarely the same one twice in a row
    assert len(set(after[done].tolist())) >= 0.5 * done.sum()
    assert np.mean(before[done] == after[done]) < 0.1
