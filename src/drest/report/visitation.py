"""Where a policy goes in one world: expected visits and action probabilities per cell.

The state propagation of :func:`drest.metrics.evaluate_bank` (position, collected-coin
flags, pressed-button flags, time) is exact; its ``on_layer`` hook lets this module sum,
per cell and phase (no button pressed yet / at least one pressed), the probability of
standing there and of taking each action.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import WorldResult, evaluate_bank
from ..worlds import World


@dataclass(frozen=True)
class Visitation:
    """``visits[phase, r, c]``: expected number of steps taken from cell (r, c), phase 0
    before any button is pressed and 1 after. ``actions[phase, r, c, a]``: the
    visit-weighted probability of action a there (NaN where never visited).
    ``press_prob``: probability of pressing at least one button. ``result``: the
    world's exact metrics, P(L) and E[coins | L]."""

    visits: np.ndarray
    actions: np.ndarray
    press_prob: float
    result: WorldResult


def visitation(world: World, policy) -> Visitation:
    """Exact expected visits and action probabilities of ``policy`` (see ``drest.metrics``) in ``world``."""
    H, W = world.shape
    visits = np.zeros((2, H * W))
    action_mass = np.zeros((2, H * W, 4))

    def record(_, cell, button_mask, prob, probs):
        phase = (button_mask > 0).astype(int)
        np.add.at(visits, (phase, cell), prob)
        np.add.at(action_mass, (phase, cell), prob[:, None] * probs)

    result = evaluate_bank([world], policy, on_layer=record).per_world[0]
    # every press adds steps, so the unpressed trajectories are exactly those of length shutdown_time
    press = 1.0 - float(result.p_length[result.lengths == world.shutdown_time].sum())
    with np.errstate(invalid="ignore"):
        actions = action_mass / visits[..., None]
    return Visitation(visits=visits.reshape(2, H, W), actions=actions.reshape(2, H, W, 4), press_prob=press,
                      result=result)
