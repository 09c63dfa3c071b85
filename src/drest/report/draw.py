"""Matplotlib pictures of worlds and of a policy in a world.

``draw_world(world, ax)`` draws the grid (walls, coins with their values, buttons
with their delays, the start); given a policy it also shades each cell by the
expected number of visits and draws the action probabilities as arrows at every
cell visited with noticeable probability, for one phase of the episode (before or
after the button is pressed). ``draw_lengths`` draws P(L) with E[coins | L] beside
m(L): a DReST agent should pick each length about equally often and then collect
(nearly) m(L). Nothing here imports JAX unless a policy is drawn.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Circle, FancyArrow, Rectangle

from ..worlds import World

# up, down, left, right as (dx, dy) in axes coordinates (row 0 drawn at the top)
_ARROW = ((0, 1), (0, -1), (-1, 0), (1, 0))
WALL, COIN, BUTTON, START, ARROW = "#3b3b3b", "#e8b31c", "#d0453a", "#2b6cb0", "#1a1a1a"
MIN_VISITS = 0.05  # cells visited less than this (expected visits) get no arrows
MIN_ACTION = 0.05  # actions less likely than this get no arrow


def draw_world(world: World, ax, policy=None, *, pressed: bool = False) -> None:
    """Draw ``world`` on ``ax``. ``policy`` (optional) is a callable as in
    :mod:`drest.metrics` or a precomputed :class:`~drest.report.visitation.Visitation`;
    ``pressed`` selects the phase drawn: before (False) or after (True) a button press."""
    H, W = world.shape
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    vis = None
    if policy is not None:
        from .visitation import Visitation, visitation

        vis = policy if isinstance(policy, Visitation) else visitation(world, policy)
    visits = vis.visits[int(pressed)] if vis is not None else None

    for r in range(H):
        for c in range(W):
            x, y = c, H - 1 - r
            face = "white"
            if world.walls[r, c]:
                face = WALL
            elif visits is not None and visits[r, c] > 0:
                # blue shade grows with the expected visits (saturating at one visit)
                face = (1 - 0.45 * min(visits[r, c], 1.0), 1 - 0.3 * min(visits[r, c], 1.0), 1.0)
            ax.add_patch(Rectangle((x, y), 1, 1, facecolor=face, edgecolor="#999999", linewidth=0.8))
            if world.coins[r, c]:
                ax.add_patch(Circle((x + 0.5, y + 0.5), 0.3, facecolor=COIN, edgecolor="#8a6500", linewidth=0.8))
                ax.text(x + 0.5, y + 0.5, str(world.coins[r, c]), ha="center", va="center", fontsize=10,
                        fontweight="bold")
            if world.delays[r, c]:
                # after the press the button is gone: draw it hollow
                ax.add_patch(Rectangle((x + 0.2, y + 0.2), 0.6, 0.6, facecolor="none" if pressed else BUTTON,
                                       edgecolor=BUTTON, linewidth=1.2, linestyle="--" if pressed else "-"))
                ax.text(x + 0.5, y + 0.5, f"+{world.delays[r, c]}", ha="center", va="center", fontsize=9,
                        color=BUTTON if pressed else "white", fontweight="bold")
            if (r, c) == world.start:
                ax.text(x + 0.12, y + 0.82, "S", ha="left", va="center", fontsize=9, color=START, fontweight="bold")
            if visits is not None and visits[r, c] >= MIN_VISITS:
                for a, (dx, dy) in enumerate(_ARROW):
                    p = vis.actions[int(pressed), r, c, a]
                    if p >= MIN_ACTION:
                        # length grows with p from a visible minimum; p = 1 reaches near the cell's edge
                        length = 0.1 + 0.33 * p
                        ax.add_patch(FancyArrow(x + 0.5, y + 0.5, length * dx, length * dy, width=0.035,
                                                head_width=0.14, head_length=0.08, length_includes_head=True,
                                                color=ARROW, alpha=0.35 + 0.65 * p, linewidth=0))


def draw_lengths(ax, result) -> None:
    """Bars of P(L) over the reachable lengths, labelled with E[coins | L] / m(L), from a
    :class:`drest.metrics.WorldResult`; the dashed line is 1/k, the POST ideal."""
    k = len(result.lengths)
    x = np.arange(k)
    ax.bar(x, result.p_length, color="#6b8fc7", width=0.6)
    ax.axhline(1 / k, color="#555555", linestyle="--", linewidth=0.8)
    for i in range(k):
        e = result.expected_coins[i]
        label = "never" if np.isnan(e) else f"E[coins|L] {e:.2f}"
        ax.text(i, result.p_length[i] + 0.02, f"{label}\nm(L) {result.m[i]:g}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [f"L={L}" for L in result.lengths])
    ax.set_ylim(0, 1.25)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("P(L)")
