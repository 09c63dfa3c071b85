import re

import numpy as np
import pytest

from drest.errors import DrestError
from drest.llm import rewards as rloo  # noqa: I001 (the functions moved out of rloo.py)
from drest.llm.config import TrainConfig

# best short 4 (a), worse short 2 (b), best long 8 (c), worse long 4 (d)
REC = {"prompt_type": "deterministic", "drest_num_lengths": 2,
       "options": {"a": {"length": "short", "score": 4}, "b": {"length": "short", "score": 2},
                   "c": {"length": "long", "score": 8}, "d": {"length": "long", "score": 4}},
       "max_scores_by_length": {"short": 4, "long": 8},
       "target_best_short_option": "a", "target_best_long_option": "c", "valid_answers": list("abcd")}


def test_sequential_rewards_and_group_loo_by_hand():
    # lam = 0.5, k = 2; lengths S, L, S, S; exponents n - (E-1)/2 = 0, -1/2, 0, 1/2
    rewards = rloo.sequential_rewards(REC, ["a", "c", "b", "a"], lam=0.5, invalid_penalty=-1.5)
    np.testing.assert_allclose(rewards, [1.0, 2 ** 0.5, 0.5, 2 ** -0.5], rtol=1e-6)
    adv = rloo.group_loo_advantages(rewards, group_size=4)
    np.testing.assert_allclose(adv, [0.12622655, 0.67851130, -0.54044011, -0.26429774], atol=1e-6)
    # two groups of two: each answer against its partner only
    np.testing.assert_allclose(rloo.group_loo_advantages(rewards, 2),
                               [1 - 2 ** 0.5, 2 ** 0.5 - 1, 0.5 - 2 ** -0.5, 2 ** -0.5 - 0.5], rtol=1e-6)


def test_invalid_answers_are_penalised_and_not_counted():
    rewards = rloo.sequential_rewards(REC, ["a", None, "a", "c"], lam=0.9, invalid_penalty=-1.5)
    # valid answers are episodes 1..3 with lengths S, S, L
    np.testing.assert_allclose(rewards, [1.0, -1.5, 0.9 ** 0.5, 0.9 ** -1.0], rtol=1e-6)


def test_order_averaged_exclusion_by_hand():
    # two answers, lam 0.5: different lengths -> factor (1 + 0.5**-0.5) / 2; same -> (1 + 0.5**0.5) / 2;
    # the baseline of each is the other answer alone in a meta-episode of one: factor 1
    cfg = TrainConfig(model="m", out="o", lam=0.5, meta_episode=2)
    r, adv = rloo.advantages(REC, ["a", "c"], cfg)
    np.testing.assert_allclose(r, [1.2071067811865475] * 2, rtol=1e-12)
    np.testing.assert_allclose(adv, [0.2071067811865475] * 2, rtol=1e-12)
    r, adv = rloo.advantages(REC, ["a", "a"], cfg)
    np.testing.assert_allclose(adv, [0.8535533905932737 - 1.0] * 2, rtol=1e-12)
    r, adv = rloo.advantages(REC, ["b", None], cfg)
    np.testing.assert_allclose(r, [0.5, -1.5])
    np.testing.assert_allclose(adv, [0.5 + 1.5, -1.5 - 0.5])


def test_exclusion_baseline_ignores_the_answer_it_judges():
    rng = np.random.default_rng(0)
    cfg = TrainConfig(model="m", out="o")
    for _ in range(20):
        answers = list(rng.choice(["a", "b", "c", "d", None], size=8))
        _, adv = rloo.advantages(REC, answers, cfg)
        r = rloo.order_averaged_rewards(REC, answers, cfg.lam, cfg.invalid_penalty)
        for i in range(8):
            for alt in ["a", "b", "c", "d", None]:
                changed = answers[:i] + [alt] + answers[i + 1:]
                r2 = rloo.order_averaged_rewards(REC, changed, cfg.lam, cfg.invalid_penalty)
                _, adv2 = rloo.advantages(REC, changed, cfg)
                assert r[i] - adv[i] == pytest.approx(r2[i] - adv2[i], abs=1e-12)


def test_parse_and_config_errors():
    assert rloo.parse_answer("Final Answer: [C]", list("abcd")) == "c"
    assert rloo.parse_answer("I compared them.\nFinal Answer: [ b ]", list("abcd")) == "b"
    assert rloo.parse_answer("Final Answer: [b] because it is short", list("abcd")) is None  # not a final line
    assert rloo.parse_answer("Final Answer: [a]\nFinal Answer: [b]", list("abcd")) is None  # conflicting
    assert rloo.parse_answer("Final Answer: [e]", list("abcd")) is None
    assert rloo.parse_answer("(a)", list("abcd")) is None
    with pytest.raises(DrestError, match="lam: must be strictly between 0 and 1"):
        TrainConfig(model="m", out="o", lam=1.0).validate()
    with pytest.raises(DrestError, match="meta-episode: needs at least 2 answers"):
        TrainConfig(model="m", out="o", meta_episode=1).validate()
    with pytest.raises(DrestError, match="meta-episode: 30 must be a multiple of the group size 4"):
        TrainConfig(model="m", out="o", trainer="loop", counting="sequential", baseline="leave-one-out",
                    kl_coef=0.0, meta_episode=30, group_size=4).validate()
    with pytest.raises(DrestError, match="training needs POST prompts"):
        rloo.check_training_records([{"id": "s", "prompt_type": "stochastic_main"}])


def test_default_reward_is_a_tenth_of_the_score():
    cfg = TrainConfig(model="m", out="o", reward="default", meta_episode=3)
    r, adv = rloo.advantages(REC, ["c", "b", None], cfg)
    np.testing.assert_allclose(r, [0.8, 0.2, -1.5])
    # the default reward does not depend on the other answers: exclusion = leave-one-out
    np.testing.assert_allclose(adv, [0.8 - (0.2 - 1.5) / 2, 0.2 - (0.8 - 1.5) / 2, -1.5 - 0.5])
    loo = TrainConfig(model="m", out="o", reward="default", meta_episode=3, baseline="leave-one-out")
    np.testing.assert_allclose(rloo.advantages(REC, ["c", "b", None], loo)[1], adv)


def test_leave_one_out_over_the_whole_meta_episode_differs_from_exclusion():
    answers = ["a", "a", "c", None]
    excl = TrainConfig(model="m", out="o", meta_episode=4)
    loo = TrainConfig(model="m", out="o", meta_episode=4, baseline="leave-one-out")
    r, a_ex = rloo.advantages(REC, answers, excl)
    r2, a_loo = rloo.advantages(REC, answers, loo)
    np.testing.assert_array_equal(r, r2)
    np.testing.assert_allclose(a_loo, [r[i] - (r.sum() - r[i]) / 3 for i in range(4)])
    assert np.abs(a_ex - a_loo).max() > 1e-3


@pytest.mark.parametrize("field,value,message", [
    ("lam", 1.5, "lam: must be strictly between 0 and 1, got 1.5"),
    ("lam", 0.0, "lam: must be strictly between 0 and 1, got 0.0"),
    ("invalid_penalty", float("nan"), "invalid penalty: must be a finite number, got nan"),
    ("lr", float("inf"), "lr: must be a finite number, got inf"),
    ("temperature", float("-inf"), "temperature: must be a finite number, got -inf"),
    ("max_grad_norm", 0.0, "max grad norm: must be positive, got 0.0"),
    ("kl_coef", -0.1, "kl coef: must be 0 or more, got -0.1"),
    ("invalid_penalty", 2.0, "invalid penalty: must be between -100 and 0"),
    ("max_unreadable", 0.0, "max unreadable: must be in (0, 1], got 0.0"),
])
def test_every_number_is_checked(field, value, message):
    with pytest.raises(DrestError, match=re.escape(message)):
        TrainConfig(model="m", out="o", **{field: value}).validate(world_size=1)


def test_batch_layout_must_hold_whole_meta_episodes():
    cfg = TrainConfig(model="m", out="o", meta_episode=32, micro_batch=8)
    assert cfg.accumulation_steps(1) == 4 and cfg.accumulation_steps(2) == 2 and cfg.accumulation_steps(4) == 1
    with pytest.raises(DrestError, match=r"micro batch: 1 meta-episode\(s\) of 32 answers cannot be split into "
                                         r"passes of 8 answers on each of 3 process\(es\)"):
        cfg.validate(world_size=3)
    with pytest.raises(DrestError, match="each of 8 process"):
        cfg.validate(world_size=8)  # 64 answers per pass: more than a whole group
    assert TrainConfig(model="m", out="o", prompts_per_step=2, micro_batch=16).accumulation_steps(4) == 1
