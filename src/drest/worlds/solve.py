"""Exact per-length optimum m(L): the most coin value collectable in a trajectory of length L.

Exhaustive search over (position, collected-coin flags, pressed-button flags,
steps left). The state space is small for the paper's worlds (cells x 2^coins x
2^buttons per time step), so a forward sweep over the set of reachable states,
one time step at a time, is exact and fast. It grows exponentially with the
coins and buttons and linearly with the longest length, so :func:`state_bound`
is checked first and a world above :data:`MAX_STATES` is refused at once rather
than searched for minutes.
"""

from __future__ import annotations

from functools import lru_cache
from math import comb

from .world import MOVES, World, WorldError

# A few seconds of search at most on one core; the paper's worlds need < 7,000.
MAX_STATES = 1_000_000


def transitions(world: World) -> list[list[int]]:
    """next_cell[cell][action] with cells numbered row-major; blocked moves stay put."""
    H, W = world.shape
    table = []
    for r in range(H):
        for c in range(W):
            row = []
            for dr, dc in MOVES:
                nr, nc = r + dr, c + dc
                ok = 0 <= nr < H and 0 <= nc < W and not world.walls[nr, nc]
                row.append(nr * W + nc if ok else r * W + c)
            table.append(row)
    return table


def state_bound(world: World) -> int:
    """An upper bound on the states the solver visits: summed over time steps t, the cells
    within t moves of the start x the coin subsets of size <= t x the button subsets of size <= t."""
    H, W = world.shape
    nc, nb = len(world.coin_cells), len(world.button_cells)
    longest = world.shutdown_time + int(world.delays.sum())
    full = H * W * 2 ** (nc + nb)
    subsets_c = [sum(comb(nc, j) for j in range(i + 1)) for i in range(nc + 1)]  # subsets of size <= i
    subsets_b = [sum(comb(nb, j) for j in range(i + 1)) for i in range(nb + 1)]
    total, t = 0, 0
    while t < longest:
        layer = min(H * W, 2 * t * t + 2 * t + 1) * subsets_c[min(t, nc)] * subsets_b[min(t, nb)]
        if layer == full:  # every later layer is as big: count them at once
            return total + (longest - t) * full
        total += layer
        t += 1
    return total


def solve(world: World) -> dict[int, int]:
    """{length: m(length)} for every trajectory length the agent can actually reach.

    Raises :class:`WorldError` if :func:`state_bound` exceeds :data:`MAX_STATES`."""
    return dict(_solve_cached(world))


@lru_cache(maxsize=4096)
def _solve_cached(world: World) -> tuple[tuple[int, int], ...]:
    bound = state_bound(world)
    if bound > MAX_STATES:
        raise WorldError(
            f"{world.name or 'world'}: too big for the exact solver (up to {bound:,} states to search, the limit is "
            f"{MAX_STATES:,}); use fewer coins and buttons or a shorter shutdown time and delays")
    H, W = world.shape
    nxt = transitions(world)
    coin_bit = {r * W + c: i for i, (r, c) in enumerate(world.coin_cells)}
    coin_val = [int(world.coins[r, c]) for r, c in world.coin_cells]
    button_bit = {r * W + c: i for i, (r, c) in enumerate(world.button_cells)}
    delay_val = [int(world.delays[r, c]) for r, c in world.button_cells]

    best: dict[int, int] = {}
    # state: (cell, coin mask, button mask) -> steps left; keep a set per sweep
    frontier = {(world.start[0] * W + world.start[1], 0, 0, world.shutdown_time)}
    while frontier:
        new = set()
        for cell, cm, bm, left in frontier:
            for a in range(4):
                n = nxt[cell][a]
                ncm, nbm, nleft = cm, bm, left - 1
                if n in coin_bit:
                    ncm |= 1 << coin_bit[n]
                if n in button_bit and not bm >> button_bit[n] & 1:
                    nbm |= 1 << button_bit[n]
                    nleft += delay_val[button_bit[n]]
                if nleft == 0:
                    length = world.shutdown_time + sum(d for i, d in enumerate(delay_val) if nbm >> i & 1)
                    value = sum(v for i, v in enumerate(coin_val) if ncm >> i & 1)
                    best[length] = max(best.get(length, 0), value)
                else:
                    new.add((n, ncm, nbm, nleft))
        frontier = new
    return tuple(sorted(best.items()))


def max_coins(world: World) -> tuple[list[int], list[int]]:
    """(lengths, m) as sorted parallel lists, for the reachable lengths."""
    sol = solve(world)
    return list(sol), list(sol.values())
