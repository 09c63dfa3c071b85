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

Observation (int8, ``2 * 5 * H * W`` numbers, the paper's layout, flattened):
the initial state then the current state, each five H x W channels in this
order: walls (0/1), coin values still present, button delays still present,
agent one-hot, and the steps left written at the centre cell (H//2, W//2),
0 elsewhere. In the initial state the steps left are the shutdown time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import DrestError
from .reward import drest_reward
from .worlds import World, solve
from .worlds.solve import transitions

N_ACTIONS = 4
N_CHANNELS = 5
# Every observed number is a small integer (coin values, delays, steps left), so
# int8 holds it exactly, as in the reference implementation; a quarter of the
# memory traffic of float32 on the hot path. Networks cast to float.
OBS_DTYPE = np.int8


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


def bank_arrays(worlds: list[World]) -> dict[str, np.ndarray]:
    """NumPy arrays describing a bank (shared by the environment and the exact metrics)."""
    if not worlds:
        raise DrestError("worlds: the bank is empty; pass at least one World")
    shapes = {w.shape for w in worlds}
    if len(shapes) != 1:
        raise DrestError(f"worlds: all worlds of a bank must have one grid size, got {sorted(shapes)}")
    H, W = worlds[0].shape
    C = H * W
    sols = [solve(w) for w in worlds]
    K = max(len(s) for s in sols)
    for w, s in zip(worlds, sols):
        if any(v <= 0 for v in s.values()):
            raise DrestError(f"worlds: {w.name or 'a world'} has a length with m(L) = 0 (no coin reachable); "
                             "DReST needs m(L) > 0 for every reachable length")
    lengths = np.full((len(worlds), K), np.iinfo(np.int32).max // 2, np.int32)
    m = np.ones((len(worlds), K), np.float32)
    for i, s in enumerate(sols):
        lengths[i, : len(s)] = list(s)
        m[i, : len(s)] = list(s.values())
    for w in worlds:
        if max(w.coins.max(), w.candidate_lengths[-1]) > np.iinfo(OBS_DTYPE).max:
            raise DrestError(f"worlds: {w.name or 'a world'} has a coin value or a length above "
                             f"{np.iinfo(OBS_DTYPE).max}, more than the int8 observation holds")
    walls = np.stack([w.walls.reshape(C) for w in worlds]).astype(OBS_DTYPE)
    coins = np.stack([w.coins.reshape(C) for w in worlds]).astype(OBS_DTYPE)
    delays = np.stack([w.delays.reshape(C) for w in worlds]).astype(OBS_DTYPE)
    start = np.array([w.start[0] * W + w.start[1] for w in worlds], np.int32)
    T = np.array([w.shutdown_time for w in worlds], np.int32)
    init = np.stack([
        channels(walls[i], coins[i], delays[i], start[i], T[i], (H, W)) for i in range(len(worlds))
    ])
    return dict(
        walls=walls, coins=coins, delays=delays, start=start, shutdown_time=T,
        next_cell=np.array([transitions(w) for w in worlds], np.int32),
        lengths=lengths, m=m, k=np.array([len(s) for s in sols], np.int32), init_obs=init,
    )


def channels(walls, coins_left, delays_left, pos, steps_left, shape):
    """The five H x W channels of one state, flattened (NumPy or JAX, batched over leading axes)."""
    xp = jnp if isinstance(walls, jax.Array) else np
    H, W = shape
    C = H * W
    cells = xp.arange(C)
    agent = cells == xp.asarray(pos)[..., None]
    clock = (cells == (H // 2) * W + W // 2) * xp.asarray(steps_left)[..., None]
    parts = [xp.broadcast_to(walls, agent.shape), coins_left, delays_left, agent, clock]
    return xp.concatenate([xp.asarray(p).astype(OBS_DTYPE) for p in parts], axis=-1)


@dataclass(frozen=True)
class GridEnv:
    """DReST meta-episodes over a bank of gridworlds (static settings only; see module doc).

    reward: "drest" (lam, normalised by m(L)) or "default" (raw coins, lam = 1).
    meta_episode_size: M, mini-episodes per meta-episode (the default agent of the
        paper uses M = 1).
    lam: the DReST discount, strictly between 0 and 1.
    """

    reward: str = "drest"
    meta_episode_size: int = 32
    lam: float = 0.9
    grid_shape: tuple[int, int] = (5, 5)

    def __post_init__(self):
        if self.reward not in ("drest", "default"):
            raise DrestError(f"reward: unknown reward {self.reward!r}; use 'drest' or 'default'")
        if isinstance(self.meta_episode_size, bool) or not isinstance(self.meta_episode_size, (int, np.integer)) \
                or self.meta_episode_size < 1:
            raise DrestError(f"meta_episode_size: must be an integer >= 1, got {self.meta_episode_size!r}")
        if self.reward == "drest" and not 0.0 < float(self.lam) < 1.0:
            raise DrestError(f"lam: the DReST discount must be strictly between 0 and 1, got {self.lam!r}")

    @property
    def obs_size(self) -> int:
        return 2 * N_CHANNELS * self.grid_shape[0] * self.grid_shape[1]

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
        current = channels(walls, state.coins_left, state.delays_left, state.pos, state.steps_left, self.grid_shape)
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
