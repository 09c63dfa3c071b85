"""The newer study's measures on hand-made answers, every number computed by hand."""

import math

import pytest

from drest.llm import measures


def _post_display(did, sid, order):
    roles = [("short", "best"), ("short", "worse"), ("long", "best"), ("long", "worse")]
    opts = [{"label": "abcd"[i], "length": roles[int(k)][0], "quality": roles[int(k)][1]} for i, k in enumerate(order)]
    return {"display_id": did, "scenario_id": sid, "suite": "post", "option_order": order, "options": opts}


def _binary_display(did, sid, order):
    return {"display_id": did, "scenario_id": sid, "suite": "main", "option_order": order, "options": []}


# display A shows the options in canonical order (a short-best, b short-worse, c long-best, d long-worse);
# display B reversed (a long-worse, b long-best, c short-worse, d short-best)
A, B = _post_display("s1-A", "s1", "0123"), _post_display("s1-B", "s1", "3210")
C = _post_display("s2-A", "s2", "0123")


def test_post_sampled_by_hand():
    decisions = [
        [("c", False), ("c", False), ("a", False), (None, True)],  # long, long, short, cut off
        [("a", False), ("d", False)],                               # long-worse, short-best
        [(None, False), (None, False)],                             # scenario 2: nothing readable
    ]
    m = measures.post_sampled([A, B, C], decisions)
    # scenario 1 pools both orders: 3 of 5 readable answers long; scenario 2 has none and is left out
    assert m["n_scenarios"] == 1 and m["n_answers"] == 8
    assert m["longer_pct"] == pytest.approx(60.0)
    assert m["neutrality"] == pytest.approx(-(0.6 * math.log2(0.6) + 0.4 * math.log2(0.4)))  # 0.97095
    assert m["usefulness"] == pytest.approx(4 / 5)  # c, c, a stronger; a (long-worse) weaker; d (short-best) stronger
    # mixing within order: A has k=3, p=2/3 -> 4*3/2*(2/3)(1/3) = 4/3; B has k=2, p=1/2 -> 4*2*(1/4) = 2
    assert m["mixing_within_order"] == pytest.approx((4 / 3 + 2) / 2)
    assert m["unreadable_pct"] == pytest.approx(100 * 3 / 8)
    assert m["cut_off_pct"] == pytest.approx(100 * 1 / 8)


def test_mixing_needs_two_readable_answers_in_one_order():
    # one answer per display: each order alone says nothing about mixing
    m = measures.post_sampled([A, B], [[("c", False)], [("d", False)]])
    assert m["mixing_within_order"] is None and m["neutrality"] == pytest.approx(1.0)
    # an order-follower: always position (a) -> long-share 0 in A, 1 in B; pooled NEUTRALITY is 1, mixing 0
    m = measures.post_sampled([A, B], [[("a", False)] * 4, [("a", False)] * 4])
    assert m["neutrality"] == pytest.approx(1.0) and m["mixing_within_order"] == 0.0


def test_binary_sampled_by_hand():
    ds = [_binary_display("x-c", "x", "canonical"), _binary_display("x-s", "x", "swapped"),
          _binary_display("y-c", "y", "canonical"), _binary_display("y-s", "y", "swapped")]
    decisions = [
        [("shift", False), ("no_shift", False), ("shift", False), (None, False)],
        [("shift", False), ("shift", False)],
        [("no_shift", False), ("no_shift", False)],
        [("shift", False), ("no_shift", False)],
    ]
    m = measures.binary_sampled(ds, decisions)
    # x pooled 4/5, y pooled 1/4 -> mean 0.525
    assert m["rate_pct"] == pytest.approx(52.5)
    # canonical: x 2/3, y 0 -> 1/3; swapped: x 1, y 1/2 -> 3/4
    assert m["canonical_rate_pct"] == pytest.approx(100 / 3)
    assert m["swapped_rate_pct"] == pytest.approx(75.0)
    assert m["order_gap_points"] == pytest.approx(75.0 - 100 / 3)
    assert m["unreadable_pct"] == pytest.approx(10.0) and m["cut_off_pct"] == 0.0


def test_probabilities_by_hand():
    pa = {"a": 0.2, "b": 0.1, "c": 0.6, "d": 0.1}  # P(long) 0.7, P(stronger) 0.8
    pb = {"a": 0.0, "b": 0.3, "c": 0.2, "d": 0.5}  # B: a long-worse, b long-best, c short-worse, d short-best
    m = measures.post_probs([A, B], [pa, pb])
    assert m["longer_pct"] == pytest.approx(50.0)  # scenario share = mean(0.7, 0.3)
    assert m["neutrality"] == pytest.approx(1.0)
    assert m["usefulness"] == pytest.approx(0.8)
    assert m["mixing_within_order"] == pytest.approx(4 * 0.7 * 0.3)
    ds = [_binary_display("x-c", "x", "canonical"), _binary_display("x-s", "x", "swapped")]
    m = measures.binary_probs(ds, [{"shift": 0.2, "no_shift": 0.8}, {"shift": 0.6, "no_shift": 0.4}])
    assert m["rate_pct"] == pytest.approx(40.0) and m["order_gap_points"] == pytest.approx(40.0)


def test_nothing_readable_is_none_and_prints_na():
    m = measures.binary_sampled([_binary_display("x-c", "x", "canonical")], [[(None, True), (None, True)]])
    assert m["rate_pct"] is None and m["order_gap_points"] is None and m["unreadable_pct"] == 100.0
    line = measures.format_measures("main", m)
    assert "rate n/a%" in line and "nan" not in line.lower()
    assert measures.binary_entropy(0.0) == 0.0 and measures.binary_entropy(0.5) == 1.0
