"""The bank as NumPy arrays and the observation's layout: what the JAX env, the Gymnasium
adapter and the exact metrics share. NumPy only, so the NumPy users load no JAX.

Observation (int8, ``2 * 5 * H * W`` numbers, the paper's layout, flattened):
the initial state then the current state, each five H x W channels in the order
of :data:`CHANNELS`: walls (0/1), coin values still present, button delays still
present, agent one-hot, and the steps left written at the centre cell
(H//2, W//2), 0 elsewhere. In the initial state the steps left are the shutdown
time. :func:`obs_index` names a position in it::

    obs[:, obs_index((5, 5), CLOCK)]           # steps left, current half
    obs[:, obs_index((5, 5), COINS, (0, 1))]   # the coin still at row 0, column 1
    obs[:, channel_slice((5, 5), AGENT)]       # the agent one-hot over the 25 cells
"""

from __future__ import annotations

import numpy as np

from .errors import DrestError
from .worlds import World, solve
from .worlds.solve import transitions

N_ACTIONS = 4  # up, down, left, right
CHANNELS = ("walls", "coins", "delays", "agent", "clock")
WALLS, COINS, DELAYS, AGENT, CLOCK = range(len(CHANNELS))
N_CHANNELS = len(CHANNELS)
# Every observed number is a small integer (coin values, delays, steps left), so
# int8 holds it exactly, as in the reference implementation; a quarter of the
# memory traffic of float32 on the hot path. Networks cast to float.
OBS_DTYPE = np.int8


def obs_size(shape: tuple[int, int]) -> int:
    return 2 * N_CHANNELS * shape[0] * shape[1]


def clock_cell(shape: tuple[int, int]) -> tuple[int, int]:
    """The cell whose clock channel holds the steps left."""
    return shape[0] // 2, shape[1] // 2


def obs_index(shape: tuple[int, int], channel: int, cell: tuple[int, int] | None = None, *,
              current: bool = True) -> int:
    """Position in the flat observation of ``channel`` at ``cell`` (default: the clock cell)
    in the current half (``current=False``: the initial half)."""
    H, W = shape
    r, c = clock_cell(shape) if cell is None else cell
    if not (0 <= channel < N_CHANNELS and 0 <= r < H and 0 <= c < W):
        raise DrestError(f"obs_index: channel {channel} / cell {(r, c)} is outside the {H} x {W} layout")
    return (N_CHANNELS * H * W if current else 0) + channel * H * W + r * W + c


def channel_slice(shape: tuple[int, int], channel: int, *, current: bool = True) -> slice:
    """The H*W positions of ``channel`` in the flat observation (row-major cells)."""
    start = obs_index(shape, channel, (0, 0), current=current)
    return slice(start, start + shape[0] * shape[1])


def channels(walls, coins_left, delays_left, pos, steps_left, shape, xp=np):
    """The five H x W channels of one state, flattened (``xp``: numpy, or jax.numpy for
    the env; batched over leading axes)."""
    H, W = shape
    cells = xp.arange(H * W)
    agent = cells == xp.asarray(pos)[..., None]
    r, c = clock_cell(shape)
    clock = (cells == r * W + c) * xp.asarray(steps_left)[..., None]
    parts = [xp.broadcast_to(walls, agent.shape), coins_left, delays_left, agent, clock]
    return xp.concatenate([xp.asarray(p).astype(OBS_DTYPE) for p in parts], axis=-1)


def bank_arrays(worlds: list[World]) -> dict[str, np.ndarray]:
    """NumPy arrays describing a bank (N worlds, C = H*W cells, K = most lengths): walls,
    coins, delays [N, C]; start, shutdown_time [N]; next_cell [N, C, 4]; lengths [N, K]
    (ascending, padded with a large value); m [N, K] (padded with 1); k [N]; init_obs
    [N, 5*C] (the initial half of the observation)."""
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


def flag_tables(worlds: list[World]):
    """Per world and cell: the bit of its coin / button in a flag mask (-1 if none), and
    each bit's coin value / delay. Bits follow raster order (coins and buttons apart)."""
    N, (H, W) = len(worlds), worlds[0].shape
    nc = max(1, max(len(w.coin_cells) for w in worlds))
    nb = max(1, max(len(w.button_cells) for w in worlds))
    coin_bit = np.full((N, H * W), -1, np.int64)
    button_bit = np.full((N, H * W), -1, np.int64)
    coin_val = np.zeros((N, nc), np.float64)
    delay_val = np.zeros((N, nb), np.int64)
    for i, w in enumerate(worlds):
        for b, (r, c) in enumerate(w.coin_cells):
            coin_bit[i, r * W + c] = b
            coin_val[i, b] = w.coins[r, c]
        for b, (r, c) in enumerate(w.button_cells):
            button_bit[i, r * W + c] = b
            delay_val[i, b] = w.delays[r, c]
    return coin_bit, button_bit, coin_val, delay_val


def cell_flags(masks: np.ndarray, cell_bit: np.ndarray) -> np.ndarray:
    """[n, C] 0/1: is the flag of each cell's coin/button set in ``masks``."""
    return np.where(cell_bit >= 0, (masks[:, None] >> np.maximum(cell_bit, 0)) & 1, 0)
