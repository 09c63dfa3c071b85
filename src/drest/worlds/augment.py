"""Symmetry and translation augmentation of worlds (how the paper built its training bank)."""

from __future__ import annotations

import numpy as np

from .world import World


def _transform(world: World, fn) -> World:
    """Apply a grid transform ``fn`` (array -> array) to every layer and to the start cell."""
    marker = np.zeros(world.shape, int)
    marker[world.start] = 1
    new_marker = fn(marker)
    start = tuple(int(v) for v in np.argwhere(new_marker)[0])
    return World(fn(world.walls), fn(world.coins), fn(world.delays), start, world.shutdown_time, name=world.name)


def symmetries(world: World) -> list[World]:
    """The 8 symmetries of the square (4 rotations, each optionally transposed),
    in a fixed order; the first is the world itself. Non-square grids get the 4
    that keep their shape."""
    out = []
    for k in range(4):
        for flip in (False, True):
            def fn(a, k=k, flip=flip):
                b = np.rot90(a, k)
                return b.T if flip else b
            if fn(world.walls).shape == world.shape:
                out.append(_transform(world, fn))
    return out


def fits_central_block(world: World) -> bool:
    """True if every wall, coin, button and the start lie in the central 3x3 block."""
    H, W = world.shape
    r0, c0 = (H - 3) // 2, (W - 3) // 2
    occupied = (world.walls > 0) | (world.coins > 0) | (world.delays > 0)
    occupied = occupied.copy()
    occupied[world.start] = True
    inside = np.zeros_like(occupied)
    inside[r0:r0 + 3, c0:c0 + 3] = True
    return not np.any(occupied & ~inside)


def translations(world: World) -> list[World]:
    """For a world whose contents fit the central 3x3 block, the copies with that
    block slid to each other position of the grid (the world itself excluded);
    an empty list otherwise."""
    if not fits_central_block(world):
        return []
    H, W = world.shape
    r0, c0 = (H - 3) // 2, (W - 3) // 2
    out = []
    for dr in range(-r0, H - 3 - r0 + 1):
        for dc in range(-c0, W - 3 - c0 + 1):
            if dr == dc == 0:
                continue
            out.append(_transform(world, lambda a, dr=dr, dc=dc: np.roll(np.roll(a, dr, 0), dc, 1)))
    return out
