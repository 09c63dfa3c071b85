"""World values, their file formats, banks, augmentation and the generator."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drest.errors import DrestError
from drest.worlds import (BANKS, World, generate_worlds, load_bank, load_worlds, save_worlds, solve, symmetries,
                          translations)
from drest.worlds.draw import render_text

EXAMPLE = """# the docstring's example
shutdown_time: 5
A  .  .  c6 .
.  .  .  b4 .
.  .  #  .  .
.  #  .  c1 .
.  .  c2 .  c3
"""


def example() -> World:
    return World.from_text(EXAMPLE)


# -- formats ---------------------------------------------------------------

def test_text_example_parses():
    w = example()
    assert w.shape == (5, 5) and w.start == (0, 0) and w.shutdown_time == 5
    assert w.coins[0, 3] == 6 and w.delays[1, 3] == 4 and w.walls[2, 2] == 1
    assert solve(w) == {5: 6, 9: 10}  # paper-test[0], whose release max_coins is [6, 10]


@pytest.mark.parametrize("bank", BANKS)
def test_text_round_trip_of_every_packaged_world(bank):
    # rows starting with a wall ('#  .  c3') must not be read as comments
    for w in load_bank(bank):
        assert World.from_text(w.to_text()) == w, w.name


@pytest.mark.parametrize("suffix", [".json", ".txt"])
def test_file_round_trip(tmp_path, suffix):
    worlds = load_bank("paper-test")[:20] + generate_worlds(5, seed=3, size=(3, 6), n_buttons=(1, 2))
    path = tmp_path / f"worlds{suffix}"
    save_worlds(worlds, path)
    assert load_worlds(path) == worlds
    assert load_bank(str(path)) == worlds


def test_json_ignores_max_coins_and_loads_a_single_object(tmp_path):
    path = tmp_path / "one.json"
    path.write_text('{"walls": [[0, 0]], "coins": [[0, 3]], "delays": [[0, 0]], "start": [0, 0], '
                    '"shutdown_time": 2, "max_coins": [99]}')
    (w,) = load_worlds(path)
    assert solve(w) == {2: 3}


def test_comment_lines():
    # '# . A' is all cell tokens, so it is a grid row whose first cell is a wall
    w = World.from_text("# a comment\n# also . a comment\nshutdown_time: 2\n# . A\nc1 . b1\n")
    assert w.walls[0, 0] == 1 and w.start == (0, 2)


# -- banks -----------------------------------------------------------------

def test_bank_sizes():
    assert {b: len(load_bank(b)) for b in BANKS} == {"paper-train": 976, "paper-val": 96, "paper-test": 200}
    assert load_bank("paper-test")[3].name == "paper-test[3]"


def test_every_packaged_world_has_two_lengths_and_coins():
    for bank in BANKS:
        for w in load_bank(bank):
            sol = solve(w)
            assert len(sol) == 2 and min(sol.values()) > 0, w.name


# -- augmentation ------------------------------------------------------------

def test_symmetries_of_a_5x5():
    w = load_bank("paper-test")[3]
    syms = symmetries(w)
    assert len(syms) == 8 and syms[0] == w and len(set(syms)) == 8
    assert all(s.start in {(0, 4), (4, 4), (4, 0), (0, 0)} for s in syms)  # a corner start stays a corner


def test_symmetries_of_a_non_square_grid_keep_the_shape():
    w = generate_worlds(1, seed=0, size=(3, 5))[0]
    assert len(symmetries(w)) == 4 and all(s.shape == (3, 5) for s in symmetries(w))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_buttons=st.integers(1, 2))
def test_symmetries_preserve_m(seed, n_buttons):
    w = generate_worlds(1, seed=seed, n_buttons=n_buttons)[0]
    assert all(solve(s) == solve(w) for s in symmetries(w))


def test_translations_slide_the_central_block():
    w = World.from_text("shutdown_time: 3\n. . . . .\n. A c2 . .\n. # b1 . .\n. . c5 . .\n. . . . .\n")
    moved = translations(w)
    assert len(moved) == 8
    assert sorted(t.start for t in moved) == sorted((r, c) for r in range(3) for c in range(3) if (r, c) != (1, 1))
    for t in moved:  # the block moves whole: c5 and b1 keep their offsets from the start
        r, c = t.start
        assert t.coins[r + 2, c + 1] == 5 and t.delays[r + 1, c + 1] == 1 and t.walls[r + 1, c] == 1
        assert solve(t) == solve(w) == {3: 2, 4: 7}  # the best paths stay inside the block
    assert translations(example()) == []  # contents outside the central block


# -- bad input ---------------------------------------------------------------

GOOD = dict(walls=[[0, 0], [0, 0]], coins=[[0, 1], [0, 0]], delays=[[0, 0], [2, 0]], start=[0, 0], shutdown_time=3)


def assert_one_line_error(fn, *words):
    with pytest.raises(DrestError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


@pytest.mark.parametrize("change,words", [
    (dict(walls=[[0, 0], [0]]), ["walls", "rectangular"]),
    (dict(walls=[[1, 0], [0, 0]]), ["start", "wall"]),
    (dict(coins=[[0, -1], [0, 0]]), ["coins", ">= 0", "-1"]),
    (dict(coins=[[0, 1.5], [0, 0]]), ["coins", "whole numbers", "1.5"]),
    (dict(coins=[[0, "x"], [0, 0]]), ["coins", "integers"]),
    (dict(delays=[[0, 0, 0], [0, 0, 0]]), ["delays", "shape"]),
    (dict(start=[5, 0]), ["start", "outside"]),
    (dict(shutdown_time=0), ["shutdown_time", "positive integer"]),
    (dict(shutdown_time=2.5), ["shutdown_time", "positive integer"]),
    (dict(shutdown_time=None), ["shutdown_time", "positive integer"]),
    (dict(shutdown_time="soon"), ["shutdown_time", "positive integer"]),
    # strict types: nothing is truncated or read as a number it is not
    (dict(start=[0.5, 1]), ["start", "two integers", "0.5"]),
    (dict(start=[True, 0]), ["start", "two integers"]),
    (dict(start="01"), ["start", "two integers"]),
    (dict(start=[0, 0, 0]), ["start", "two integers"]),
    (dict(shutdown_time=True), ["shutdown_time", "positive integer", "True"]),
    (dict(shutdown_time=float("inf")), ["shutdown_time", "positive integer"]),
    (dict(walls=[[False, False], [False, False]]), ["walls", "true/false"]),
    (dict(coins=[[0, True], [0, 0]]), ["coins", "true/false"]),
    (dict(coins=[[0, None], [0, 0]]), ["coins", "integers", "None"]),
    (dict(coins=[[0, float("nan")], [0, 0]]), ["coins", "whole numbers"]),
    (dict(coins=[[0, 2**31], [0, 0]]), ["coins", "at most 2147483647"]),
    (dict(name=7), ["name must be a string"]),
    (dict(wals=[[0, 0], [0, 0]]), ["unknown field(s) wals", "walls, coins"]),
])
def test_bad_world_fields(change, words):
    assert_one_line_error(lambda: World.from_dict({**GOOD, **change}), *words)


def test_missing_shutdown_time_in_json_and_text():
    d = {k: v for k, v in GOOD.items() if k != "shutdown_time"}
    assert_one_line_error(lambda: World.from_dict(d), "missing field", "shutdown_time")
    assert_one_line_error(lambda: World.from_text("A c1 b1\n"), "shutdown_time: T")


@pytest.mark.parametrize("text,words", [
    ("shutdown_time: 3\nA c1 x2\n", ["bad cell 'x2'", "row 0, col 2"]),
    ("shutdown_time: 3\nA c0 b1\n", ["bad cell 'c0'"]),
    ("shutdown_time: 3\nA c1\nb1\n", ["different numbers of cells"]),
    ("shutdown_time: 3\n. c1 b1\n", ["no start"]),
    ("shutdown_time: 3\nA A c1\n", ["more than one start"]),
    ("shutdown_time: three\nA c1 b1\n", ["shutdown_time must be a positive integer", "'three'"]),
    ("shutdown_time: 1_0\nA c1 b1\n", ["shutdown_time must be a positive integer", "'1_0'"]),
    ("shutdown_time: 3\nA c99999999999 b1\n", ["coins", "at most 2147483647"]),
    ("shutdown_time: 0\nA c1 b1\n", ["block", "shutdown_time: must be a positive integer"]),
])
def test_bad_text(text, words):
    assert_one_line_error(lambda: World.from_text(text, name="block"), *words)


def test_bad_files(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"walls": [[0]],')
    assert_one_line_error(lambda: load_worlds(bad_json), "bad.json", "not valid JSON")
    ragged = tmp_path / "ragged.json"
    ragged.write_text('[{"walls": [[0, 0], [0]], "coins": [[0]], "delays": [[0]], "start": [0, 0], "shutdown_time": 1}]')
    assert_one_line_error(lambda: load_worlds(ragged), "ragged.json[0]", "walls")
    text = tmp_path / "two.txt"
    text.write_text("shutdown_time: 2\nA c1 b1\n\nshutdown_time: 2\nA c1 q\n")
    assert_one_line_error(lambda: load_worlds(text), "two.txt[1]", "bad cell 'q'")
    assert_one_line_error(lambda: load_worlds(tmp_path / "absent.json"), "no such file")
    assert_one_line_error(lambda: load_bank("paper-tset"), "unknown bank 'paper-tset'", "paper-test")
    assert_one_line_error(lambda: load_worlds(tmp_path), "is a directory")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    assert_one_line_error(lambda: load_worlds(deep), "deep.json")


@pytest.mark.parametrize("suffix", [".json", ".txt"])
@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00", "shutdown_time: 2\nA c1 b1\n".encode("utf-16")])
def test_binary_or_non_utf8_world_files_are_one_line(tmp_path, suffix, data):
    path = tmp_path / f"bank{suffix}"
    path.write_bytes(data)
    assert_one_line_error(lambda: load_worlds(path), f"bank{suffix}", "not a UTF-8 text world file", "offset 0")
    assert_one_line_error(lambda: load_bank(str(path)), "not a UTF-8")


def test_whole_floats_are_read_as_the_integers_they_are():
    w = World.from_dict({**GOOD, "start": [0.0, 1.0], "shutdown_time": 3.0, "coins": [[0, 0], [0, 4.0]]})
    assert w.start == (0, 1) and w.shutdown_time == 3 and w.coins[1, 1] == 4 and w.coins.dtype == np.int32


def test_a_world_holds_at_most_10000_cells():
    assert_one_line_error(lambda: World(np.zeros((101, 100), int), np.zeros((101, 100), int),
                                        np.zeros((101, 100), int), (0, 0), 1), "101x100", "at most 10,000")
    assert World(np.zeros((100, 100), int), np.zeros((100, 100), int), np.zeros((100, 100), int), (0, 0), 1)


def test_a_world_holds_at_most_30_coins_and_buttons():
    coins = np.ones((4, 8), int)
    coins[0, 0] = 0
    walls = np.zeros((4, 8), int)
    assert_one_line_error(lambda: World(walls, coins, np.zeros((4, 8), int), (0, 0), 3), "31 coins", "at most 30")
    coins[0, 1] = 0
    assert len(World(walls, coins, np.zeros((4, 8), int), (0, 0), 3).coin_cells) == 30


# -- generator ---------------------------------------------------------------

def test_generator_is_deterministic():
    assert generate_worlds(10, seed=5) == generate_worlds(10, seed=5)
    assert generate_worlds(10, seed=5) != generate_worlds(10, seed=6)
    assert generate_worlds(3, seed=5) == generate_worlds(10, seed=5)[:3]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), n_buttons=st.sampled_from([1, 2, (1, 3)]),
       shutdown_time=st.sampled_from([1, (1, 7), (3, 10)]))
def test_generated_worlds_have_two_lengths_and_coins_at_each(seed, n_buttons, shutdown_time):
    for w in generate_worlds(4, seed=seed, n_buttons=n_buttons, shutdown_time=shutdown_time):
        sol = solve(w)
        assert len(sol) >= 2 and min(sol.values()) > 0


def test_generator_respects_its_parameters():
    worlds = generate_worlds(50, seed=1, size=(4, 6), n_coins=(2, 3), coin_values=(5, 6), n_buttons=2,
                             delays=3, shutdown_time=(2, 4), wall_density=0.0)
    for w in worlds:
        assert w.shape == (4, 6) and not w.walls.any()
        assert 2 <= len(w.coin_cells) <= 3 and set(w.coins[w.coins > 0]) <= {5, 6}
        assert len(w.button_cells) == 2 and set(w.delays[w.delays > 0]) == {3}
        assert 2 <= w.shutdown_time <= 4
    assert {w.shutdown_time for w in worlds} == {2, 3, 4}
    assert generate_worlds(1, seed=0, size=7)[0].shape == (7, 7)


@pytest.mark.parametrize("kwargs,words", [
    (dict(n=0), ["n:", "positive"]),
    (dict(seed=-1), ["seed"]),
    (dict(size=(0, 5)), ["size"]),
    (dict(size="5x5"), ["size"]),
    (dict(n_coins=0), ["n_coins", ">= 1"]),
    (dict(n_coins=(4, 1)), ["n_coins", "above"]),
    (dict(coin_values=(0, 3)), ["coin_values", ">= 1"]),
    (dict(coin_values=2.5), ["coin_values", "int"]),
    (dict(n_buttons=0), ["n_buttons", ">= 1"]),
    (dict(delays=(1, 2, 3)), ["delays", "pair"]),
    (dict(shutdown_time=(0, 4)), ["shutdown_time"]),
    (dict(wall_density=1.0), ["wall_density", "[0, 1)"]),
    (dict(size=(2, 2), n_coins=3), ["size", "2x2", "no room"]),
    (dict(size=(10**6, 10**6)), ["size", "1000000x1000000", "10,000 cells"]),
    (dict(shutdown_time=10**9), ["too big for the exact solver", "limit is 1,000,000"]),
])
def test_generator_parameter_validation(kwargs, words):
    kwargs = {"n": 1, **kwargs}
    assert_one_line_error(lambda: generate_worlds(**kwargs), *words)


def test_generator_gives_up_with_a_clear_error():
    # T=1 and one-step delays on a 9x9 grid: both lengths need a coin next to the start and one
    # next to the button, which is next to the start; so rare that 1000 draws find none
    assert_one_line_error(lambda: generate_worlds(2, size=(9, 9), shutdown_time=1, delays=1, wall_density=0.9),
                          "1000 draws", "shutdown_time")


# -- terminal picture --------------------------------------------------------

def test_render_text():
    pic = render_text(example())
    lines = pic.splitlines()
    assert lines[0] == "┌────┬────┬────┬────┬────┐"
    assert lines[1] == "│ A  │    │    │ c6 │    │"
    assert lines[5] == "│    │    │████│    │    │"
    assert "T = 5   lengths: 5, 9   m(L): 5→6, 9→10" in pic
    ascii_pic = render_text(example(), unicode=False)
    assert ascii_pic.isascii() and "| c2 |" in ascii_pic and "5->6, 9->10" in ascii_pic


def test_worlds_import_nothing_above_them():
    """worlds is the bottom layer: its modules (drawing included) import only drest.errors
    and drest.io from the rest of drest, never the report, the metrics or JAX."""
    import ast
    from pathlib import Path

    import drest.worlds

    for path in Path(drest.worlds.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module in ("errors", "io"), (path.name, node.module)
            names = [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            module = getattr(node, "module", None) or ""
            assert not any(n.split(".")[0] == "jax" for n in names) and not module.startswith("jax"), path.name
