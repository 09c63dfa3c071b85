"""Pictures of worlds. ``render_text`` draws a boxed grid for a terminal (no colour codes,
so it survives pipes and logs), with a legend giving T, the reachable lengths and m(L)."""

from __future__ import annotations

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
