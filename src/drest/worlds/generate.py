"""Random worlds for training and testing beyond the paper's banks.

Every generated world is usable with the DReST reward: it has at least two
reachable trajectory lengths (else there is no choice to be neutral about) and
m(L) > 0 for every reachable length (else c / m(L) is undefined). Draws that
fail are resampled from the same random stream, so a seed fixes the output.
"""

from __future__ import annotations

import numpy as np

from ..errors import DrestError
from .solve import solve
from .world import MAX_CELLS, World

# draws per world before giving up; valid settings usually need a handful
MAX_TRIES = 1000


def _int_range(name: str, value, low: int) -> tuple[int, int]:
    """An int (fixed) or an inclusive (lo, hi) pair of ints, both >= low."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        lo = hi = int(value)
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        lo, hi = (int(v) for v in value)
    else:
        raise DrestError(f"{name}: expected an int or an inclusive (low, high) pair of ints, got {value!r}")
    if lo > hi:
        raise DrestError(f"{name}: low {lo} is above high {hi}")
    if lo < low:
        raise DrestError(f"{name}: values must be >= {low}, got {value!r}")
    return lo, hi


def _shape(size) -> tuple[int, int]:
    """``size`` is the grid shape (rows, cols), or an int for a square grid."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    if not (isinstance(size, (tuple, list)) and len(size) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in size)):
        raise DrestError(f"size: expected (rows, cols) of positive ints or one int, got {size!r}")
    if size[0] * size[1] > MAX_CELLS:
        raise DrestError(f"size: a {size[0]}x{size[1]} grid has more than the {MAX_CELLS:,} cells a world may have")
    return int(size[0]), int(size[1])


def generate_worlds(n: int, seed: int = 0, size=(5, 5), n_coins=(1, 4), coin_values=(1, 9), n_buttons=1,
                    delays=(1, 7), shutdown_time=(1, 7), wall_density: float = 0.2) -> list[World]:
    """``n`` random worlds, the same for the same arguments.

    ``size`` is the grid shape (rows, cols) or an int for a square grid. The
    other counts and values are an int (fixed) or an inclusive (low, high)
    range drawn uniformly per world (``n_coins``, ``n_buttons``,
    ``shutdown_time``) or per object (``coin_values``, ``delays``). Each free
    cell other than the start, coins and buttons is a wall with probability
    ``wall_density``. Raises :class:`DrestError` naming a bad parameter, or if
    no valid world turns up in ``MAX_TRIES`` draws.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise DrestError(f"n: the number of worlds must be a positive int, got {n!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise DrestError(f"seed: must be a non-negative int, got {seed!r}")
    H, W = _shape(size)
    # at least one coin and one button: the guarantee below needs both
    coin_lo, coin_hi = _int_range("n_coins", n_coins, 1)
    value_lo, value_hi = _int_range("coin_values", coin_values, 1)
    button_lo, button_hi = _int_range("n_buttons", n_buttons, 1)
    delay_lo, delay_hi = _int_range("delays", delays, 1)
    t_lo, t_hi = _int_range("shutdown_time", shutdown_time, 1)
    if isinstance(wall_density, bool) or not isinstance(wall_density, (int, float)) or not 0 <= wall_density < 1:
        raise DrestError(f"wall_density: must be a number in [0, 1), got {wall_density!r}")
    if 1 + coin_hi + button_hi > H * W:
        raise DrestError(f"size: a {H}x{W} grid has no room for the start, {coin_hi} coins and {button_hi} buttons; "
                         "use a bigger grid or fewer objects")

    rng = np.random.default_rng(seed)
    worlds = []
    for i in range(n):
        for _ in range(MAX_TRIES):
            n_c = int(rng.integers(coin_lo, coin_hi + 1))
            n_b = int(rng.integers(button_lo, button_hi + 1))
            cells = rng.permutation(H * W)
            walls = (rng.random(H * W) < wall_density).astype(int)
            coins, buttons = np.zeros(H * W, int), np.zeros(H * W, int)
            start = cells[0]
            coins[cells[1:1 + n_c]] = rng.integers(value_lo, value_hi + 1, n_c)
            buttons[cells[1 + n_c:1 + n_c + n_b]] = rng.integers(delay_lo, delay_hi + 1, n_b)
            walls[cells[:1 + n_c + n_b]] = 0
            world = World(walls.reshape(H, W), coins.reshape(H, W), buttons.reshape(H, W), divmod(int(start), W),
                          int(rng.integers(t_lo, t_hi + 1)), name=f"generated-seed{seed}[{i}]")
            sol = solve(world)
            if len(sol) >= 2 and min(sol.values()) > 0:
                worlds.append(world)
                break
        else:
            raise DrestError(f"no world with two reachable lengths and a coin reachable at every length in {MAX_TRIES} "
                             "draws; raise shutdown_time, lower wall_density or use a smaller grid")
    return worlds
