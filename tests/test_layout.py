"""The NumPy layer: named observation offsets, and NumPy users that load no JAX."""

import subprocess
import sys

import numpy as np
import pytest

from drest.errors import DrestError
from drest.layout import (AGENT, CLOCK, COINS, DELAYS, N_ACTIONS, WALLS, bank_arrays, channel_slice, obs_index,
                          obs_size)
from drest.worlds import World

WORLD = World.from_text("shutdown_time: 3\nc2 # .\nA b1 .\n")  # 2 x 3


def test_obs_index_against_the_flat_observation_by_hand():
    init = bank_arrays([WORLD])["init_obs"][0]  # the initial half: 5 channels of 6 cells
    assert obs_size(WORLD.shape) == 60 and init.shape == (30,)
    assert obs_index(WORLD.shape, WALLS, (0, 1), current=False) == 1 and init[1] == 1
    assert obs_index(WORLD.shape, COINS, (0, 0), current=False) == 6 and init[6] == 2
    assert obs_index(WORLD.shape, DELAYS, (1, 1), current=False) == 16 and init[16] == 1
    assert obs_index(WORLD.shape, AGENT, (1, 0), current=False) == 21 and init[21] == 1
    # the clock sits at the centre cell (H//2, W//2) = (1, 1) and starts at T
    assert obs_index(WORLD.shape, CLOCK, current=False) == 28 and init[28] == 3
    assert obs_index(WORLD.shape, CLOCK) == 58 and N_ACTIONS == 4
    assert init.sum() == 1 + 2 + 1 + 1 + 3
    with pytest.raises(DrestError, match="outside the 2 x 3 layout"):
        obs_index(WORLD.shape, COINS, (2, 0))


@pytest.mark.parametrize("module", ["drest.metrics", "drest.gym", "drest.layout"])
def test_numpy_users_do_not_import_jax(module):
    code = f"import sys, {module}; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_env_observes_the_layout():
    import jax

    from drest.env import GridEnv

    env = GridEnv(grid_shape=WORLD.shape)
    obs, _ = env.reset(jax.random.PRNGKey(0), env.make_params([WORLD]))
    obs = np.asarray(obs)
    assert obs.shape == (obs_size(WORLD.shape),)
    np.testing.assert_array_equal(obs[:30], bank_arrays([WORLD])["init_obs"][0])
    assert obs[obs_index(WORLD.shape, CLOCK)] == 3 and obs[obs_index(WORLD.shape, AGENT, (1, 0))] == 1


def test_channel_slice_is_the_channel_by_hand():
    init = bank_arrays([WORLD])["init_obs"][0]
    assert channel_slice(WORLD.shape, COINS, current=False) == slice(6, 12)
    assert init[channel_slice(WORLD.shape, COINS, current=False)].tolist() == [2, 0, 0, 0, 0, 0]
    assert init[channel_slice(WORLD.shape, AGENT, current=False)].tolist() == [0, 0, 0, 1, 0, 0]
    assert channel_slice(WORLD.shape, WALLS) == slice(30, 36)  # the current half follows the initial one
