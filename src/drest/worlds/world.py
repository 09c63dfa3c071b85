"""The ``World`` value: what an agent lives in, with its two file formats.

A world is a grid of walls, coins (integer values) and shutdown-delay buttons
(integer delays), a start cell and a default shutdown time T. Actions are
0 up (row-1), 1 down (row+1), 2 left (col-1), 3 right (col+1); a blocked move
stays put and still costs a step. Entering a coin cell collects it; entering a
button cell adds its delay to the steps left and removes the button. The
episode ends when the steps left reach 0, so its length is T plus the delays of
the buttons pressed.

Text format (``.txt``; one world per block, blocks separated by a blank line)::

    # a comment: '#' then a space, and some word that is not a cell token
    shutdown_time: 5
    A  .  .  c6 .
    .  .  .  b4 .
    .  .  #  .  .
    .  #  .  c1 .
    .  .  c2 .  c3

Cells are whitespace-separated tokens: ``.`` empty, ``#`` wall, ``A`` start,
``cN`` a coin of value N, ``bN`` a button adding N steps. Rows are grid rows,
top first. Optional header lines before the grid: ``shutdown_time: T``
(required) and ``name: ...``.

JSON format: the paper's release, a list of objects with ``walls``, ``coins``,
``delays`` (2-D lists), ``start`` ([row, col]) and ``shutdown_time``; an
optional ``max_coins`` is ignored on reading (drest recomputes it with
:func:`drest.worlds.solve`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DrestError
from ..io import write_atomic

ACTIONS = ("up", "down", "left", "right")
_FIELDS = ("walls", "coins", "delays", "start", "shutdown_time")
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))


class WorldError(DrestError):
    """A world, a world file or a bank name is invalid; the message says which and how to fix it."""


# Cell values are stored as int32; coin and button flags are bits of one int64 mask in
# the exact evaluator, so a world holds at most this many coins and buttons together.
MAX_VALUE = 2**31 - 1
MAX_OBJECTS = 30
# 100x100; the observation has 10 numbers per cell and the solver a state per cell
MAX_CELLS = 10_000


def _has_bool(value) -> bool:
    """True if a nested list/tuple holds a bool (NumPy would silently read True as 1)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, (list, tuple)) and any(_has_bool(v) for v in value)


def _int_grid(name: str, value, shape=None) -> np.ndarray:
    """A 2-D grid of whole numbers >= 0: ints, or floats with whole values (2.0); never bools or strings."""
    if _has_bool(value) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise WorldError(f"{name}: values must be integers, got true/false; write 1/0")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists
        raise WorldError(f"{name}: not a rectangular grid ({exc})") from None
    if arr.ndim != 2 or arr.size == 0:
        raise WorldError(f"{name}: expected a non-empty 2-D grid, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        bad = next((v for v in arr.flat if not isinstance(v, (int, float, np.integer, np.floating))), arr.flat[0])
        raise WorldError(f"{name}: values must be integers, got {bad!r}")
    if not np.all(np.isfinite(arr)) or not np.all(np.equal(np.mod(arr, 1), 0)):
        raise WorldError(f"{name}: values must be whole numbers; found {arr[~np.isfinite(arr) | (np.mod(arr, 1) != 0)][0]}")
    if np.any(arr < 0):
        raise WorldError(f"{name}: values must be >= 0; found {arr[arr < 0][0]}")
    if np.any(arr > MAX_VALUE):
        raise WorldError(f"{name}: values must be at most {MAX_VALUE}; found {arr[arr > MAX_VALUE][0]}")
    if shape is not None and arr.shape != shape:
        raise WorldError(f"{name}: shape {arr.shape} differs from walls' shape {shape}")
    return arr.astype(np.int32)


def _whole(value) -> int | None:
    """``value`` as an int if it is an integer (or a float with a whole value), else None; never a bool."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


@dataclass(frozen=True, eq=False)
class World:
    """An immutable gridworld. Build with ``World(walls, coins, delays, start, shutdown_time)``;
    every field is validated and bad input raises :class:`WorldError` naming the field."""

    walls: np.ndarray
    coins: np.ndarray
    delays: np.ndarray
    start: tuple[int, int]
    shutdown_time: int
    name: str = field(default="")

    def __post_init__(self):
        walls = _int_grid("walls", self.walls)
        if walls.size > MAX_CELLS:
            raise WorldError(f"walls: a {walls.shape[0]}x{walls.shape[1]} grid has {walls.size:,} cells; "
                             f"a world has at most {MAX_CELLS:,}")
        if np.any(walls > 1):
            raise WorldError("walls: values must be 0 (free) or 1 (wall)")
        coins = _int_grid("coins", self.coins, walls.shape)
        delays = _int_grid("delays", self.delays, walls.shape)
        raw = self.start
        start = tuple(_whole(v) for v in raw) if isinstance(raw, (list, tuple, np.ndarray)) else ()
        if len(start) != 2 or None in start:
            raise WorldError(f"start: expected [row, col], two integers, got {raw!r}")
        r, c = start
        if not (0 <= r < walls.shape[0] and 0 <= c < walls.shape[1]):
            raise WorldError(f"start: {start} is outside the {walls.shape[0]}x{walls.shape[1]} grid")
        if walls[r, c]:
            raise WorldError(f"start: cell {start} is a wall; move the start or the wall")
        if coins[r, c] or delays[r, c]:
            raise WorldError(f"start: cell {start} holds a coin or button; put the start on an empty cell")
        if np.any(walls.astype(bool) & ((coins > 0) | (delays > 0))):
            raise WorldError("walls: a coin or button sits on a wall cell")
        if np.any((coins > 0) & (delays > 0)):
            raise WorldError("coins/delays: a cell holds both a coin and a button")
        n_objects = int(np.count_nonzero(coins) + np.count_nonzero(delays))
        if n_objects > MAX_OBJECTS:
            raise WorldError(f"coins/delays: {n_objects} coins and buttons; a world holds at most {MAX_OBJECTS}")
        T = _whole(self.shutdown_time)
        # a positive whole number; anything else (None, "x", True, 2.5) is refused
        if T is None or not 1 <= T <= MAX_VALUE:
            raise WorldError(f"shutdown_time: must be a positive integer, got {self.shutdown_time!r}")
        for arr in (walls, coins, delays):
            arr.setflags(write=False)
        object.__setattr__(self, "walls", walls)
        object.__setattr__(self, "coins", coins)
        object.__setattr__(self, "delays", delays)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "shutdown_time", T)

    # -- derived views ---------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.walls.shape

    @property
    def coin_cells(self) -> list[tuple[int, int]]:
        """Coin cells in raster order (the order of the collected-coin flags)."""
        return [tuple(map(int, rc)) for rc in np.argwhere(self.coins > 0)]

    @property
    def button_cells(self) -> list[tuple[int, int]]:
        """Button cells in raster order (the order of the pressed-button flags)."""
        return [tuple(map(int, rc)) for rc in np.argwhere(self.delays > 0)]

    @property
    def candidate_lengths(self) -> tuple[int, ...]:
        """Every length T + (sum of a subset of delays), sorted; some may be unreachable
        (see :func:`drest.worlds.solve` for the reachable ones)."""
        sums = {0}
        for d in self.delays[self.delays > 0]:
            sums |= {s + int(d) for s in sums}
        return tuple(sorted(self.shutdown_time + s for s in sums))

    def __eq__(self, other):
        if not isinstance(other, World):
            return NotImplemented
        return (
            self.start == other.start
            and self.shutdown_time == other.shutdown_time
            and np.array_equal(self.walls, other.walls)
            and np.array_equal(self.coins, other.coins)
            and np.array_equal(self.delays, other.delays)
        )

    def __hash__(self):
        return hash((self.start, self.shutdown_time, self.walls.tobytes(), self.coins.tobytes(), self.delays.tobytes(), self.shape))

    def replace(self, **changes) -> "World":
        fields = dict(walls=self.walls, coins=self.coins, delays=self.delays, start=self.start,
                      shutdown_time=self.shutdown_time, name=self.name)
        fields.update(changes)
        return World(**fields)

    # -- formats ---------------------------------------------------------
    def to_dict(self) -> dict:
        """The paper's JSON layout (without ``max_coins``)."""
        return {
            "walls": self.walls.tolist(),
            "coins": self.coins.tolist(),
            "delays": self.delays.tolist(),
            "start": list(self.start),
            "shutdown_time": self.shutdown_time,
        }

    @classmethod
    def from_dict(cls, d: dict, name: str = "") -> "World":
        if not isinstance(d, dict):
            raise WorldError(f"{name or 'world'}: expected a JSON object, got {type(d).__name__}")
        missing = [k for k in _FIELDS if k not in d]
        if missing:
            raise WorldError(f"{name or 'world'}: missing field(s) {', '.join(missing)}")
        unknown = sorted(set(d) - set(_FIELDS) - {"name", "max_coins"})
        if unknown:
            raise WorldError(f"{name or 'world'}: unknown field(s) {', '.join(map(str, unknown))}; "
                             f"a world has {', '.join(_FIELDS)} (and optionally name, max_coins)")
        if not isinstance(d.get("name", ""), str):
            raise WorldError(f"{name or 'world'}: name must be a string, got {d['name']!r}")
        try:
            return cls(d["walls"], d["coins"], d["delays"], d["start"], d["shutdown_time"], name=name or d.get("name", ""))
        except WorldError as exc:
            raise WorldError(f"{name}: {exc}" if name else str(exc)) from None

    def cell_token(self, r: int, c: int) -> str:
        """The text format's token for a cell: ``#``, ``A``, ``cN``, ``bN`` or ``.``."""
        if self.walls[r, c]:
            return "#"
        if (r, c) == self.start:
            return "A"
        if self.coins[r, c]:
            return f"c{self.coins[r, c]}"
        if self.delays[r, c]:
            return f"b{self.delays[r, c]}"
        return "."

    def to_text(self) -> str:
        lines = []
        if self.name:
            lines.append(f"name: {self.name}")
        lines.append(f"shutdown_time: {self.shutdown_time}")
        for r in range(self.shape[0]):
            row = [self.cell_token(r, c) for c in range(self.shape[1])]
            lines.append(" ".join(f"{t:<3}" for t in row).rstrip())
        return "\n".join(lines) + "\n"

    @classmethod
    def from_text(cls, text: str, name: str = "") -> "World":
        where = name or "world"
        header: dict[str, str] = {}
        rows: list[list[str]] = []
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            # a grid row may start with a wall ('#  .  c3'), so a '# ' line is a comment
            # only if some word on it is not a cell token
            if not line or (line.startswith("# ") and not all(map(_is_cell_token, line.split()))):
                continue
            if ":" in line and not rows:
                key, _, value = line.partition(":")
                header[key.strip()] = value.strip()
                continue
            rows.append(line.split())
        if "shutdown_time" not in header:
            raise WorldError(f"{where}: missing header line 'shutdown_time: T'")
        T = header["shutdown_time"]
        # digits only: int() would also take '1_000', ' +5' and non-ASCII digits
        if not (T.isascii() and T.isdigit()):
            raise WorldError(f"{where}: shutdown_time must be a positive integer, got {T!r}")
        T = int(T)
        if not rows:
            raise WorldError(f"{where}: no grid rows")
        width = len(rows[0])
        if any(len(r) != width for r in rows):
            raise WorldError(f"{where}: rows have different numbers of cells {[len(r) for r in rows]}")
        shape = (len(rows), width)
        walls, coins, delays = np.zeros(shape, int), np.zeros(shape, int), np.zeros(shape, int)
        start = None
        for r, row in enumerate(rows):
            for c, tok in enumerate(row):
                if tok == ".":
                    continue
                if tok == "#":
                    walls[r, c] = 1
                elif tok == "A":
                    if start is not None:
                        raise WorldError(f"{where}: more than one start cell 'A'")
                    start = (r, c)
                elif _is_cell_token(tok):
                    (coins if tok[0] == "c" else delays)[r, c] = int(tok[1:])
                else:
                    raise WorldError(f"{where}: bad cell {tok!r} at row {r}, col {c}; use . # A cN bN (N a positive integer)")
        if start is None:
            raise WorldError(f"{where}: no start cell 'A'")
        try:
            return cls(walls, coins, delays, start, T, name=header.get("name", name))
        except WorldError as exc:
            raise WorldError(f"{where}: {exc}") from None


def _is_cell_token(tok: str) -> bool:
    """True for the text format's cell tokens: . # A cN bN (N a positive integer)."""
    return tok in (".", "#", "A") or (tok[0] in "cb" and tok[1:].isascii() and tok[1:].isdigit() and int(tok[1:]) > 0)


def load_worlds(path: str | Path) -> list[World]:
    """Read worlds from a ``.json`` (the paper's list format) or text file."""
    path = Path(path)
    if path.is_dir():
        raise WorldError(f"{path}: is a directory; give a .json or text world file")
    if not path.is_file():
        raise WorldError(f"{path}: no such file")
    text = read_text_file(path, "world file")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorldError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except RecursionError:
            raise WorldError(f"{path}: JSON nested too deeply; a world file is a list of world objects") from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not data:
            raise WorldError(f"{path}: expected a non-empty JSON list of worlds")
        return [World.from_dict(d, name=f"{path.name}[{i}]") for i, d in enumerate(data)]
    blocks, current = [], []
    for line in text.splitlines() + [""]:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if not blocks:
        raise WorldError(f"{path}: no worlds found")
    return [World.from_text(b, name=f"{path.name}[{i}]") for i, b in enumerate(blocks)]


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``; an unreadable or binary file is a :class:`WorldError` naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WorldError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorldError(f"{path}: not a UTF-8 text {what} (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                         "give a .json or text world file") from None


def save_worlds(worlds: list[World], path: str | Path) -> None:
    """Write worlds as JSON (``.json``) or text (anything else), atomically."""
    path = Path(path)
    if path.suffix == ".json":
        text = json.dumps([w.to_dict() for w in worlds])
    else:
        text = "\n".join(w.to_text() for w in worlds)
    write_atomic(path, text)
