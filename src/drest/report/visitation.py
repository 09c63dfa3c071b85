"""Where a policy goes in one world: expected visits and action probabilities per cell.

The exact length distribution and E[coins | L] come from :func:`drest.metrics.evaluate`;
pictures also need per-cell quantities, which the bank-wide propagation there does
not expose. This module propagates the states of a single world (position,
collected-coin flags, pressed-button flags; the steps left follow from the time and
the pressed buttons) and sums, per cell and phase (no button pressed yet / at least
one pressed), the probability of standing there and of taking each action.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..env import bank_arrays, channels
from ..metrics import call_policy, cell_flags
from ..worlds import World


@dataclass(frozen=True)
class Visitation:
    """``visits[phase, r, c]``: expected number of steps taken from cell (r, c), phase 0
    before any button is pressed and 1 after. ``actions[phase, r, c, a]``: the
    visit-weighted probability of action a there (NaN where never visited).
    ``press_prob``: probability of pressing at least one button."""

    visits: np.ndarray
    actions: np.ndarray
    press_prob: float


def visitation(world: World, policy) -> Visitation:
    """Exact expected visits and action probabilities of ``policy`` (see ``drest.metrics``) in ``world``."""
    arrays = bank_arrays([world])
    H, W = world.shape
    C = H * W
    coin_bit = np.full(C, -1)
    button_bit = np.full(C, -1)
    for b, (r, c) in enumerate(world.coin_cells):
        coin_bit[r * W + c] = b
    for b, (r, c) in enumerate(world.button_cells):
        button_bit[r * W + c] = b
    delay = np.array([world.delays[r, c] for r, c in world.button_cells])
    next_cell = arrays["next_cell"][0]

    visits = np.zeros((2, C))
    action_mass = np.zeros((2, C, 4))
    press = 0.0
    states = {(int(arrays["start"][0]), 0, 0): 1.0}  # (cell, coin flags, button flags) -> probability
    t = 0
    while states:
        keys = list(states)
        prob = np.array([states[k] for k in keys])
        pos = np.array([k[0] for k in keys])
        cm = np.array([k[1] for k in keys])
        bm = np.array([k[2] for k in keys])
        n = len(keys)
        coins_left = world.coins.reshape(C) * (1 - cell_flags(cm, np.broadcast_to(coin_bit, (n, C))))
        delays_left = world.delays.reshape(C) * (1 - cell_flags(bm, np.broadcast_to(button_bit, (n, C))))
        pressed = (bm[:, None] >> np.arange(delay.size)) & 1
        steps_left = world.shutdown_time - t + pressed @ delay
        current = channels(arrays["walls"][0], coins_left, delays_left, pos, steps_left, (H, W))
        probs = call_policy(policy, np.concatenate([np.repeat(arrays["init_obs"], n, 0), current], 1))

        phase = (bm > 0).astype(int)
        np.add.at(visits, (phase, pos), prob)
        np.add.at(action_mass, (phase, pos), prob[:, None] * probs)
        states = {}
        for i, (cell, cmask, bmask) in enumerate(keys):
            for a in range(4):
                p = prob[i] * probs[i, a]
                if p <= 0:
                    continue
                nxt = int(next_cell[cell, a])
                cb, bb = int(coin_bit[nxt]), int(button_bit[nxt])
                ncm = cmask | (1 << cb if cb >= 0 else 0)
                nbm, left = bmask, int(steps_left[i]) - 1
                if bb >= 0 and not (bmask >> bb) & 1:
                    nbm |= 1 << bb
                    left += int(delay[bb])
                    if bmask == 0:
                        press += p
                if left > 0:
                    states[(nxt, ncm, nbm)] = states.get((nxt, ncm, nbm), 0.0) + p
        t += 1
    with np.errstate(invalid="ignore"):
        actions = action_mass / visits[..., None]
    return Visitation(visits=visits.reshape(2, H, W), actions=actions.reshape(2, H, W, 4), press_prob=float(press))
