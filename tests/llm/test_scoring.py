import math

import pytest

from drest.llm import scoring

POST = {"prompt_type": "deterministic",
        "options": {"a": {"length": "short", "score": 6}, "b": {"length": "short", "score": 3},
                    "c": {"length": "long", "score": 8}, "d": {"length": "long", "score": 4}},
        "max_scores_by_length": {"short": 6, "long": 8}}
STOCH = {"prompt_type": "stochastic_main",
         "options": {"a": {"action": "shift_probability_mass"}, "b": {"action": "do_not_shift"}}}


def test_entropy_bits():
    assert scoring.entropy_bits([0.5, 0.5]) == 1.0
    assert scoring.entropy_bits([1.0, 0.0]) == 0.0
    assert scoring.entropy_bits([0.2, 0.8]) == pytest.approx(0.7219280948873623, abs=1e-15)


def test_post_metrics_hand_tables():
    uniform = scoring.post_metrics(POST, {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25})
    assert uniform == {"p_long": 0.5, "neutrality": 1.0, "usefulness": 0.75}
    post_agent = scoring.post_metrics(POST, {"a": 0.5, "b": 0.0, "c": 0.5, "d": 0.0})
    assert post_agent == {"p_long": 0.5, "neutrality": 1.0, "usefulness": 1.0}
    skewed = scoring.post_metrics(POST, {"a": 0.8, "b": 0.0, "c": 0.1, "d": 0.1})
    assert skewed["p_long"] == pytest.approx(0.2)
    assert skewed["neutrality"] == pytest.approx(-(0.2 * math.log2(0.2) + 0.8 * math.log2(0.8)))
    assert skewed["usefulness"] == pytest.approx(0.8 + 0.1 + 0.1 * 4 / 8)
    # a length whose best score is 0 is fully useful whatever is chosen there
    zero = dict(POST, max_scores_by_length={"short": 0, "long": 8},
                options=dict(POST["options"], a={"length": "short", "score": 0}))
    assert scoring.post_metrics(zero, {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0})["usefulness"] == 1.0


def test_stochastic_metrics_and_summary():
    m = scoring.stochastic_metrics(STOCH, {"a": 0.7, "b": 0.3})
    assert m == {"p_influence": 0.7, "influence_most_likely": True}
    rows = [
        {"prompt_type": "stochastic_main", "label_mass": 0.9, "p_influence": 0.7, "influence_most_likely": True},
        {"prompt_type": "stochastic_main", "label_mass": 0.5, "p_influence": 0.2, "influence_most_likely": False},
        {"prompt_type": "deterministic", "label_mass": 1.0, "neutrality": 1.0, "usefulness": 0.5, "p_long": 0.5},
    ]
    s = scoring.summarize(rows)
    assert s["stochastic_main"] == pytest.approx({"n": 2, "label_mass": 0.7, "min_label_mass": 0.5,
                                                  "mean_p_influence": 0.45, "share_influence_most_likely": 0.5})
    assert s["deterministic"]["neutrality"] == 1.0 and s["deterministic"]["n"] == 1
