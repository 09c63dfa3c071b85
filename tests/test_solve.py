"""The exact solver: m(L) per reachable length, checked against the paper's release and by hand."""

import json
import time
from importlib import resources

import pytest

from drest.errors import DrestError
from drest.worlds import World, max_coins, solve
from drest.worlds.solve import MAX_STATES, state_bound


@pytest.mark.parametrize("file", ["test.json", "val.json"])
def test_solve_reproduces_the_release_max_coins(file):
    # the release's files ship in the package, max_coins included, so this runs on any checkout
    records = json.loads((resources.files("drest.worlds") / "data" / file).read_text())
    assert len(records) == {"test.json": 200, "val.json": 96}[file]
    for i, rec in enumerate(records):
        world = World.from_dict(rec)
        (button_delay,) = world.delays[world.delays > 0]
        lengths, m = max_coins(world)
        # every release world has one button, reachable: lengths T and T + D
        assert lengths == [world.shutdown_time, world.shutdown_time + button_delay], f"{file}[{i}]"
        assert m == rec["max_coins"], f"{file}[{i}]"


def row(text: str, T: int) -> World:
    return World.from_text(f"shutdown_time: {T}\n{text}\n")


def test_corridor_by_hand():
    # A c2 b3 c4, T=2. Not pressing: step 1 takes c2, step 2 must avoid b3 -> m(2)=2.
    # Pressing: c2 at step 1, b3 at step 2 leaves 0+3 steps, c4 at step 3 -> length 5, m=6.
    assert solve(row("A c2 b3 c4", 2)) == {2: 2, 5: 6}


def test_button_out_of_reach_gives_one_length():
    # T=1: the single step reaches c2 but never b3
    assert solve(row("A c2 b3 c4", 1)) == {1: 2}


def test_blocked_moves_cost_a_step_and_coins_are_collected_once():
    # c3 A b1, T=3: left (c3), right, right presses b1 with 0 left -> +1 step -> length 4.
    # Walking back over c3 does not pay again, so m(3) = 3, not 6.
    assert solve(row("c3 A b1", 3)) == {3: 3, 4: 3}
    # T=1 pressing at once: the button's 2 extra steps reach nothing new (blocked moves)
    assert solve(row("A b2", 1)) == {1: 0, 3: 0}


def test_several_buttons_and_an_unreachable_combination():
    # b1 A c5 b2, T=2. No press: c5 then step left -> L=2, 5. b1 first (1+1 steps left), then
    # A, c5 -> L=3, 5. c5 then b2 (0+2 left) -> L=4, 5. Both buttons: after either one, only
    # two steps remain and the other is three cells away, so L=5 is a candidate but unreachable.
    world = row("b1 A c5 b2", 2)
    assert world.candidate_lengths == (2, 3, 4, 5)
    assert solve(world) == {2: 5, 3: 5, 4: 5}


def test_two_buttons_both_pressed():
    # c1 b1 A b2 c7, T=2: b2 (1 left +2 = 3), c7 (2), back to b2's cell (1), A (0): L=4, m=7.
    # b1 (1+1 = 2), c1 (1), b1's cell (0): L=3, m=1. b1, A, b2 pressed with 0 left -> +2: L=5;
    # then 2 steps reach c7 -> m(5)=7. Without buttons only A's cell or a button is in reach: m(2)=0.
    assert solve(row("c1 b1 A b2 c7", 2)) == {2: 0, 3: 1, 4: 7, 5: 7}


def test_2d_detour_around_a_wall():
    world = World.from_text("""shutdown_time: 4
A  #  c9
.  .  b2
""")
    # the wall closes the top row, so the only way to c9 passes b2: down, right, right
    # (b2 pressed with 1+2 = 3 left), up (c9) -> L=6, m=9; without pressing no coin is in reach
    assert solve(world) == {4: 0, 6: 9}


def test_the_state_bound_by_hand():
    # 1x3 "A c1 b2", T=1: longest length 3; layers t=0,1,2 hold at most 1, 3, 3 cells (the grid)
    # x coin subsets 1, 2, 2 x button subsets 1, 2, 2 -> 1 + 12 + 12 = 25
    assert state_bound(row("A c1 b2", 1)) == 25


@pytest.mark.parametrize("world", [
    row("A c1 b1000000", 10**9),  # a huge shutdown time and delay
    World.from_text("shutdown_time: 30\n" + "A" + " b9" * 5 + "\n" + ("c1 " * 6 + "\n") * 3),  # 18 coins, 5 buttons
])
def test_a_world_too_big_for_the_solver_is_refused_at_once(world):
    assert state_bound(world) > MAX_STATES
    t = time.perf_counter()
    with pytest.raises(DrestError, match=r"too big for the exact solver \(up to [0-9,]+ states to search, "
                                         r"the limit is 1,000,000\)"):
        solve(world)
    assert time.perf_counter() - t < 1.0
