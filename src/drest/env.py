"""The functional JAX environment: a bank of gridworlds played in DReST meta-episodes.

gymnax style: the environment object holds only static settings; the bank of
worlds lives in an explicit ``EnvParams`` pytree and the state in an ``EnvState``
pytree, so ``reset`` and ``step`` are pure and can be jitted and vmapped::

    env = GridEnv(reward="drest", meta_episode_size=32, lam=0.9)
    params = env.make_params(load_bank("paper-train"))
    obs, state = env.reset(key, params)
    obs, state, reward, done, info = env.step(key, state, action, params)

A meta-episode is M mini-episodes in one world (drawn uniformly from the bank at
the meta-episode's start). The DReST reward of a mini-episode (``drest.reward``)
is paid at its last step, 0 before, as in the reference implementation. ``done``
marks the end of a meta-episode; ``info["mini_done"]`` the end of a mini-episode.
Resets are automatic and cheap (the next world's arrays are gathered from the
pre-built bank), so a vmapped batch of environments never stops.

Observation: the layout of :mod:`drest.layout` (the initial state then the current
state, five H x W channels each, int8, flattened).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import DrestError
from .layout import N_ACTIONS, bank_arrays, channels, obs_size
from .reward import drest_reward
from .worlds import World


class EnvParams(NamedTuple):
    """A bank of worlds as stacked arrays (N worlds, C = H*W cells, K = most lengths)."""

    coins: jax.Array  # [N, C] int8 initial coin values
    delays: jax.Array  # [N, C] int8 initial button delays
    start: jax.Array  # [N] int32 start cell
    shutdown_time: jax.Array  # [N] int32
    next_cell: jax.Array  # [N, C, 4] int32 cell after each action
    lengths: jax.Array  # [N, K] int32 reachable lengths, ascending, padded with a large value
    m: jax.Array  # [N, K] float32 m(L), padded with 1
    k: jax.Array  # [N] int32 number of reachable lengths
    init_obs: jax.Array  # [N, 5*C] int8 the initial-state half of the observation


class EnvState(NamedTuple):
    world: jax.Array  # int32 index into the bank
    pos: jax.Array  # int32 cell
    coins_left: jax.Array  # [C] int8
    delays_left: jax.Array  # [C] int8
    steps_left: jax.Array  # int32
    t: jax.Array  # int32 steps taken in this mini-episode
    collected: jax.Array  # float32 coin value collected in this mini-episode
    episode: jax.Array  # int32 1-based mini-episode index in the meta-episode
    counts: jax.Array  # [K] int32 lengths chosen so far in this meta-episode


@dataclass(frozen=True)
class GridEnv:
    """DReST meta-episodes over a bank of gridworlds (static settings only; see module doc).

    reward: "drest" (lam, normalised by m(L)) or "default" (raw coins, lam = 1).
    meta_episode_size: M, mini-episodes per meta-episode (the default agent of the
        paper uses M = 1).
    lam: the DReST discount, strictly between 0 and 1.
    lam and meta_episode_size may be traced values: one program then plays several settings.
    """

    reward: str = "drest"
    meta_episode_size: int = 32
    lam: float = 0.9
    grid_shape: tuple[int, int] = (5, 5)

    def __post_init__(self):
        if self.reward not in ("drest", "default"):
            raise DrestError(f"reward: unknown reward {self.reward!r}; use 'drest' or 'default'")
        if isinstance(self.lam, jax.core.Tracer) or isinstance(self.meta_episode_size, jax.core.Tracer):
            return  # traced per-run values (``drest sweep`` vmaps over lam and M); checked where they were made
        if isinstance(self.meta_episode_size, bool) or not isinstance(self.meta_episode_size, (int, np.integer)) \
                or self.meta_episode_size < 1:
            raise DrestError(f"meta_episode_size: must be an integer >= 1, got {self.meta_episode_size!r}")
        if self.reward == "drest" and not 0.0 < float(self.lam) < 1.0:
            raise DrestError(f"lam: the DReST discount must be strictly between 0 and 1, got {self.lam!r}")

    @property
    def obs_size(self) -> int:
        return obs_size(self.grid_shape)

    def make_params(self, worlds: list[World]) -> EnvParams:
        if worlds and worlds[0].shape != tuple(self.grid_shape):
            raise DrestError(f"grid_shape: the env is set for {self.grid_shape} but the worlds are {worlds[0].shape}; "
                             f"pass GridEnv(grid_shape={worlds[0].shape})")
        arrays = bank_arrays(worlds)
        # the walls are read from the initial half of the observation, so EnvParams has no copy
        return EnvParams(**{k: jnp.asarray(arrays[k]) for k in EnvParams._fields})

    # -- pure functions --------------------------------------------------
    def observe(self, state: EnvState, params: EnvParams) -> jax.Array:
        init = params.init_obs[state.world]
        walls = init[..., : state.coins_left.shape[-1]]  # walls never change: reuse the initial channel
        current = channels(walls, state.coins_left, state.delays_left, state.pos, state.steps_left, self.grid_shape,
                           xp=jnp)
        return jnp.concatenate([init, current], axis=-1)

    def _start_world(self, world, params: EnvParams, episode, counts) -> EnvState:
        return EnvState(
            world=world, pos=params.start[world], coins_left=params.coins[world],
            delays_left=params.delays[world], steps_left=params.shutdown_time[world],
            t=jnp.int32(0), collected=jnp.float32(0), episode=episode, counts=counts,
        )

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        world = jax.random.randint(key, (), 0, params.start.shape[0])
        state = self._start_world(world, params, jnp.int32(1), jnp.zeros(params.lengths.shape[1], jnp.int32))
        return self.observe(state, params), state

    def step(self, key: jax.Array, state: EnvState, action, params: EnvParams):
        """One step; returns (obs, state, reward, done, info). Resets automatically."""
        if not isinstance(action, jax.core.Tracer):
            a = np.asarray(action)
            if a.shape != () or not np.issubdtype(a.dtype, np.integer) or not 0 <= int(a) < N_ACTIONS:
                raise DrestError(f"action: must be an integer in 0-3 (up, down, left, right), got {action!r}")
        w = state.world
        pos = params.next_cell[w, state.pos, action]
        # one-hot masks instead of scatter/gather: they fuse into one loop on the CPU
        here = jnp.arange(state.coins_left.shape[-1]) == pos
        coin = jnp.sum(jnp.where(here, state.coins_left, 0), dtype=jnp.int32)
        delay = jnp.sum(jnp.where(here, state.delays_left, 0), dtype=jnp.int32)
        steps_left = state.steps_left - 1 + delay
        t = state.t + 1
        collected = state.collected + coin
        mini_done = steps_left <= 0

        # the length is known only now; its index among the world's reachable lengths
        li = jnp.argmax(params.lengths[w] == t)
        if self.reward == "drest":
            r = drest_reward(collected, params.m[w, li], state.counts[li], state.episode, params.k[w], self.lam)
        else:
            r = collected
        reward = jnp.where(mini_done, r, 0.0).astype(jnp.float32)
        counts = state.counts + (mini_done & (jnp.arange(state.counts.shape[-1]) == li)).astype(jnp.int32)
        meta_done = mini_done & (state.episode >= self.meta_episode_size)

        stepped = EnvState(
            world=w, pos=pos, coins_left=jnp.where(here, jnp.int8(0), state.coins_left),
            delays_left=jnp.where(here, jnp.int8(0), state.delays_left), steps_left=steps_left, t=t,
            collected=collected, episode=state.episode, counts=counts,
        )
        # A step key is a threefry output, so its bits are already uniform: use them
        # directly for the next world instead of paying for another hash per step.
        draw = jax.random.key_data(key)[..., -1] if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key[..., -1]
        new_world = jnp.where(meta_done, (draw % params.start.shape[0]).astype(jnp.int32), w)
        restarted = self._start_world(
            new_world, params,
            jnp.where(meta_done, 1, state.episode + 1).astype(jnp.int32),
            jnp.where(meta_done, 0, counts).astype(jnp.int32),
        )
        state = jax.tree.map(lambda a, b: jnp.where(mini_done, a, b), restarted, stepped)
        info = {"mini_done": mini_done, "length": t, "coins": collected, "length_index": li}
        return self.observe(state, params), state, reward, meta_done, info
