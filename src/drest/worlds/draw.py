"""Pictures of worlds, all in one place (like Jumanji's ``viewer.py`` beside its env).

``render_text`` draws a boxed grid for a terminal (no colour codes, so it survives
pipes and logs), with a legend giving T, the reachable lengths and m(L).
``draw_world(world, ax)`` draws the grid on a matplotlib axes (walls, coins with
their values, buttons with their delays, the start); given a policy's
:class:`~drest.report.visitation.Visitation` it also shades each cell by the
expected number of visits and draws the action probabilities as arrows at every
cell visited with noticeable probability, for one phase of the episode (before or
after the button is pressed). ``draw_lengths`` draws P(L) with E[coins | L] beside
m(L): a DReST agent should pick each length about equally often and then collect
(nearly) m(L). Matplotlib is imported only by the functions that draw with it.
"""

from __future__ import annotations

import numpy as np

from .solve import solve
from .world import World

# (top, middle, bottom) rows of box corners/junctions, the vertical bar, the horizontal bar and a wall fill
_BOX = {
    True: (("┌", "┬", "┐"), ("├", "┼", "┤"), ("└", "┴", "┘"), "│", "─", "█"),
    False: (("+", "+", "+"), ("+", "+", "+"), ("+", "+", "+"), "|", "-", "#"),
}


def _cell_label(world: World, r: int, c: int, wall_fill: str, width: int) -> str:
    tok = world.cell_token(r, c)
    if tok == "#":
        return wall_fill * width
    return ("" if tok == "." else tok).center(width)


def render_text(world: World, unicode: bool = True) -> str:
    """A boxed picture of ``world`` plus legend lines; ``unicode=False`` uses ASCII only.

    Cells show ``A`` (start), ``cN`` (coin of value N), ``bN`` (button adding N
    steps) and a filled block (wall), as in the text file format.
    """
    top, mid, bot, vbar, hbar, fill = _BOX[bool(unicode)]
    H, W = world.shape
    tokens = [f"c{v}" for v in world.coins.flat if v] + [f"b{v}" for v in world.delays.flat if v]
    width = max([2] + [len(t) for t in tokens]) + 2

    def rule(corners):
        left, join, right = corners
        return left + join.join([hbar * width] * W) + right

    lines = [rule(top)]
    for r in range(H):
        lines.append(vbar + vbar.join(_cell_label(world, r, c, fill, width) for c in range(W)) + vbar)
        lines.append(rule(mid if r < H - 1 else bot))
    sol = solve(world)
    arrow = "→" if unicode else "->"
    lines.append(f"T = {world.shutdown_time}   lengths: {', '.join(map(str, sol))}   "
                 f"m(L): {', '.join(f'{L}{arrow}{m}' for L, m in sol.items())}")
    lines.append(f"A start   cN coin worth N   bN button adding N steps   {fill * 2} wall")
    if world.name:
        lines.insert(0, world.name)
    return "\n".join(lines) + "\n"


# up, down, left, right as (dx, dy) in axes coordinates (row 0 drawn at the top)
_ARROW = ((0, 1), (0, -1), (-1, 0), (1, 0))
WALL, COIN, BUTTON, START, ARROW = "#3b3b3b", "#e8b31c", "#d0453a", "#2b6cb0", "#1a1a1a"
MIN_VISITS = 0.05  # cells visited less than this (expected visits) get no arrows
MIN_ACTION = 0.05  # actions less likely than this get no arrow


def draw_world(world: World, ax, visits=None, *, pressed: bool = False) -> None:
    """Draw ``world`` on ``ax``. ``visits`` (optional): where a policy goes, a
    :class:`~drest.report.visitation.Visitation` (``visitation(world, policy)``);
    ``pressed`` selects the phase drawn: before (False) or after (True) a button press."""
    from matplotlib.patches import Circle, FancyArrow, Rectangle

    vis = visits
    H, W = world.shape
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
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
