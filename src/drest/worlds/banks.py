"""Named banks of worlds shipped with drest, and loading banks from files.

Packaged banks (data from the paper's MIT-licensed release, see ``data/NOTICE``):

- ``paper-train``: the paper's 976-world training bank, rebuilt from its 272
  symmetry-augmented designs plus, for each of the 11 base designs that fit the
  central 3x3 block, that block slid to the 8 other positions, each in its 8
  symmetries (272 + 11 x 8 x 8 = 976).
- ``paper-val``: 96 validation worlds.
- ``paper-test``: 200 held-out test worlds of disjoint designs.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from .augment import symmetries, translations
from .world import World, WorldError, load_worlds

BANKS = ("paper-train", "paper-val", "paper-test")
_FILES = {"paper-val": "val.json", "paper-test": "test.json", "paper-train-base": "train_no_translations.json"}


def _packaged(file: str, label: str) -> list[World]:
    with resources.as_file(resources.files("drest.worlds") / "data" / file) as p:
        worlds = load_worlds(p)
    return [w.replace(name=f"{label}[{i}]") for i, w in enumerate(worlds)]


@lru_cache(maxsize=None)
def _bank(name: str) -> tuple[World, ...]:
    if name == "paper-train":
        base = _packaged(_FILES["paper-train-base"], "paper-train")
        # the base file holds each design's 8 symmetries consecutively; the first is the design
        designs = base[::8]
        extra = [s for d in designs for t in translations(d) for s in symmetries(t)]
        worlds = base + extra
        return tuple(w.replace(name=f"paper-train[{i}]") for i, w in enumerate(worlds))
    return tuple(_packaged(_FILES[name], name))


def load_bank(name_or_path: str | Path) -> list[World]:
    """A list of worlds: a packaged bank name (see ``BANKS``) or a ``.json``/text file path."""
    key = str(name_or_path)
    if key in BANKS:
        return list(_bank(key))
    if Path(key).exists():
        return load_worlds(key)
    raise WorldError(f"unknown bank {key!r}: use one of {', '.join(BANKS)} or a path to a .json/.txt world file")
