"""`drest worlds ...`: look at, solve, generate and list banks of worlds.

BANK arguments are a packaged bank name (``drest worlds list``) or a path to a
``.json``/text world file. Value errors (ranges, sizes) are parsed in the
handlers, not by argparse, so every bad input ends as one ``drest: error:`` line.
"""

from __future__ import annotations

import argparse
import json

from ..errors import DrestError
from .banks import BANKS, load_bank
from .draw import draw_world, render_text
from .generate import generate_worlds
from .solve import solve
from .world import World, save_worlds

_BANK_HELP = f"a packaged bank ({', '.join(BANKS)}) or a .json/text world file"


def add_commands(sub) -> None:
    worlds = sub.add_parser("worlds", help="look at, solve, generate and list gridworld banks",
                            description="Look at, solve, generate and list gridworld banks.")
    wsub = worlds.add_subparsers(dest="worlds_command", metavar="SUBCOMMAND", required=True)

    show = wsub.add_parser("show", help="draw one world of a bank in the terminal")
    show.add_argument("bank", metavar="BANK", help=_BANK_HELP)
    show.add_argument("--index", type=int, default=0, help="which world of the bank (default 0)")
    show.add_argument("--ascii", action="store_true", help="ASCII box drawing instead of Unicode")
    show.add_argument("--png", metavar="PATH", help="also write the picture of drest report to this PNG file")
    show.set_defaults(func=_show)

    solve_p = wsub.add_parser("solve", help="reachable lengths and m(L) of every world of a bank")
    solve_p.add_argument("bank", metavar="BANK", help=_BANK_HELP)
    solve_p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    solve_p.set_defaults(func=_solve)

    # options mirror generate_worlds' parameters, so its error messages name the option
    gen = wsub.add_parser("generate", help="write random worlds (each with >= 2 lengths and m(L) > 0)",
                          description="Write random worlds; ranges are N or LOW-HIGH (inclusive).")
    gen.add_argument("--n", required=True, help="number of worlds")
    gen.add_argument("--seed", default="0", help="random seed (default 0); same seed, same worlds")
    gen.add_argument("--out", required=True, help="output file: .json (the paper's format) or text (any other suffix)")
    gen.add_argument("--size", default="5x5", help="grid ROWSxCOLS or N for NxN (default 5x5)")
    gen.add_argument("--n-coins", default="1-4", help="coins per world (default 1-4)")
    gen.add_argument("--coin-values", default="1-9", help="value of each coin (default 1-9)")
    gen.add_argument("--n-buttons", default="1", help="shutdown-delay buttons per world (default 1)")
    gen.add_argument("--delays", default="1-7", help="steps each button adds (default 1-7)")
    gen.add_argument("--shutdown-time", default="1-7", help="default shutdown time T (default 1-7)")
    gen.add_argument("--wall-density", default="0.2", help="chance a free cell is a wall (default 0.2)")
    gen.set_defaults(func=_generate)

    lst = wsub.add_parser("list", help="the packaged banks and their sizes")
    lst.set_defaults(func=_list)


def _pick(bank: str, index: int) -> World:
    worlds = load_bank(bank)
    if not 0 <= index < len(worlds):
        raise DrestError(f"--index {index} is out of range: {bank} has {len(worlds)} worlds (0..{len(worlds) - 1})")
    return worlds[index]


def _show(args: argparse.Namespace) -> int:
    # picking and drawing stay separate so other picture formats can reuse _pick
    world = _pick(args.bank, args.index)
    print(render_text(world, unicode=not args.ascii), end="")
    if args.png:
        _write_png(world, args.png)
        print(f"wrote {args.png}")
    return 0


def _write_png(world: World, path: str) -> None:
    from matplotlib.figure import Figure

    H, W = world.shape
    fig = Figure(figsize=(0.8 * W + 0.4, 0.8 * H + 0.7))
    ax = fig.subplots()
    draw_world(world, ax)
    sol = solve(world)
    ax.set_title(f"{world.name}\nT = {world.shutdown_time}   "
                 + "   ".join(f"m({L}) = {m}" for L, m in sol.items()), fontsize=9)
    try:
        fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    except OSError as exc:
        raise DrestError(f"--png: cannot write {path} ({exc.strerror})") from None


def _solve(args: argparse.Namespace) -> int:
    rows = [(i, solve(w)) for i, w in enumerate(load_bank(args.bank))]
    if args.json:
        print(json.dumps([{"index": i, "lengths": list(s), "max_coins": list(s.values())} for i, s in rows]))
        return 0
    table = [("index", "lengths", "m(L)")] + [
        (str(i), " ".join(map(str, s)), " ".join(map(str, s.values()))) for i, s in rows]
    widths = [max(len(r[j]) for r in table) for j in range(3)]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return 0


def _int(option: str, text: str) -> int:
    # ASCII digits only: int() would also take '1_000', '+5' and non-ASCII digits
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise DrestError(f"{option}: expected an integer, got {text!r}")
    return int(text)


def _range(option: str, text: str) -> int | tuple[int, int]:
    """'N' -> N, 'LOW-HIGH' -> (LOW, HIGH)."""
    low, sep, high = text.partition("-")
    if not sep:
        return _int(option, text)
    return _int(option, low), _int(option, high)


def _size(text: str) -> int | tuple[int, int]:
    rows, sep, cols = text.lower().partition("x")
    return (_int("--size", rows), _int("--size", cols)) if sep else _int("--size", text)


def _generate(args: argparse.Namespace) -> int:
    try:
        density = float(args.wall_density)
    except ValueError:
        raise DrestError(f"--wall-density: expected a number, got {args.wall_density!r}") from None
    worlds = generate_worlds(
        _int("--n", args.n), seed=_int("--seed", args.seed), size=_size(args.size),
        n_coins=_range("--n-coins", args.n_coins), coin_values=_range("--coin-values", args.coin_values),
        n_buttons=_range("--n-buttons", args.n_buttons), delays=_range("--delays", args.delays),
        shutdown_time=_range("--shutdown-time", args.shutdown_time), wall_density=density,
    )
    try:
        save_worlds(worlds, args.out)
    except DrestError as exc:  # name the flag the path came from
        raise DrestError(f"--out: {exc}") from None
    print(f"wrote {len(worlds)} worlds to {args.out}")
    return 0


def _list(args: argparse.Namespace) -> int:
    for name in BANKS:
        print(f"{name:<12} {len(load_bank(name)):>5} worlds")
    return 0
