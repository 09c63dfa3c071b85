"""The study's statistics on fixed numbers, computed by hand."""

import math

import pytest

from drest.errors import DrestError
from drest.llm import study_stats as st


def test_welch_by_hand_and_against_scipy():
    from scipy import stats

    drest, default = [60.0, 65.0, 70.0], [80.0, 85.0, 90.0]
    res = st.welch(drest, default)
    # both sds 5, n 3: se = sqrt(25/3 + 25/3) = 4.0825; t = -20 / se; df = 4 exactly
    assert res["t"] == pytest.approx(-20 / math.sqrt(50 / 3))
    assert res["df"] == pytest.approx(4.0)
    assert res["p"] == pytest.approx(2 * stats.t.sf(20 / math.sqrt(50 / 3), 4))
    assert res["p"] == pytest.approx(stats.ttest_ind(drest, default, equal_var=False).pvalue)
    with pytest.raises(DrestError, match="two seeds"):
        st.welch([60.0], default)


def test_every_below():
    assert st.every_below([60, 65, 70], [80, 85, 90])
    assert not st.every_below([60, 82], [80, 85])


def test_flattening_reproduces_the_published_qwen_numbers():
    # the authors' newer study: untrained main 80.5, DReST 67.7 -> c = 0.522; dominance 98.9 -> 91.3; joint 2.1 -> 11.9
    c = st.flattening_c(67.7, 80.5)
    assert c == pytest.approx(math.log(0.677 / 0.323) / math.log(0.805 / 0.195))
    assert round(c, 3) == 0.522
    assert round(st.flattened(98.9, c), 1) == 91.3
    assert round(st.flattened(2.1, c), 1) == 11.9
    assert st.flattened(80.5, c) == pytest.approx(67.7)
    with pytest.raises(DrestError, match="strictly between 0 and 100"):
        st.flattening_c(0.0, 80.5)
    with pytest.raises(DrestError, match="50%"):
        st.flattening_c(40.0, 50.0)


def _row(dom, joint, useful, unread, mixing):
    return {"dominance_pct": dom, "joint_noshift_pct": joint, "usefulness": useful, "unreadable_pct": unread,
            "mixing": mixing}


def test_learning_rate_rule_with_overlap():
    table = {2e-5: _row(95, 5, 0.95, 1, (0.80, 0.74, 0.86)),
             5e-5: _row(97, 4, 0.97, 2, (0.88, 0.83, 0.93)),
             1e-4: _row(70, 4, 0.97, 2, (0.95, 0.92, 0.98))}  # mixes most, but fails dominance
    res = st.choose_learning_rate(table)
    assert res["discarded"] == {1e-4: ["dominance_pct"]}
    assert res["best"] == 5e-5 and res["chosen"] == 2e-5  # 0.86 >= 0.83: the intervals overlap
    table[2e-5] = _row(95, 5, 0.95, 1, (0.70, 0.64, 0.76))  # no overlap now
    assert st.choose_learning_rate(table)["chosen"] == 5e-5
    table[5e-5] = _row(97, 25, 0.85, 6, (0.88, 0.83, 0.93))
    assert st.choose_learning_rate(table)["discarded"][5e-5] == ["joint_noshift_pct", "usefulness", "unreadable_pct"]
    assert st.choose_learning_rate({1e-4: table[1e-4]})["chosen"] is None


def test_mean_interval():
    m, lo, hi = st.mean_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and hi - m == pytest.approx(1.96 * 1.0 / math.sqrt(3)) and m - lo == pytest.approx(hi - m)


def test_gain_bins_by_hand():
    def d(sid, order, gain):
        return {"display_id": f"{sid}-{order}", "scenario_id": sid, "option_order": order,
                "scenario": {"expected_score_gain": gain}}

    displays = [d("a", "c", 0.3), d("a", "s", 0.3), d("b", "c", 0.6), d("c", "c", 0.8), d("e", "c", 1.5)]
    decisions = [[("shift", False), ("no_shift", False)], [("shift", False), (None, True)],  # a: 2 of 3
                 [("no_shift", False)],                                                     # b: 0 (0.6 is in 0-0.6)
                 [("shift", False), ("shift", False)],                                      # c: 1
                 [(None, False)]]                                                           # e: nothing readable
    rates = st.gain_bin_rates(displays, decisions)
    assert rates["0-0.6"] == pytest.approx(100 * (2 / 3 + 0) / 2)
    assert rates["0.6-1"] == pytest.approx(100.0)
    assert rates[">1"] is None
