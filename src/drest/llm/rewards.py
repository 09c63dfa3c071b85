"""Rewards and advantages of one meta-episode (one POST prompt answered M times):
pure NumPy, the one code path used by the TRL trainer and by drest's loop.

An answer's DReST "coins" are its option's score, m(L) is
``max_scores_by_length[L]`` and k is ``drest_num_lengths``; the formula lives in
``drest.reward`` and is only called here. Rewards:

* ``drest`` with ``order-averaged`` counting (default): each readable answer is
  paid the DReST factor averaged over all orders of the meta-episode.
* ``drest`` with ``sequential`` counting: answers counted in sampling order.
* ``default``: score x 0.1, the comparison arm of the authors' current study.

Unreadable answers (None) are paid ``invalid_penalty`` and are not counted.
Baselines: ``exclusion`` (the mean reward of the other answers recomputed as if
the answer were absent; it does not depend on the answer it judges) or
``leave-one-out`` (the mean reward of the others as paid, TRL's RLOO), the
latter within consecutive groups of ``config.group`` answers.
"""

from __future__ import annotations

import numpy as np

from ..errors import DrestError
from ..reward import meta_episode_rewards, order_averaged_discount
from . import datasets
from .parse import read_decision
from .records import as_training_record
from .scoring import ANSWER_PREFIX

LENGTH_INDEX = {"short": 0, "long": 1}
DEFAULT_REWARD_SCALE = 0.1


def parse_answer(text: str, valid: list[str], allowed: dict[str, str] | None = None) -> str | None:
    """The label a free-form answer states on its final line, read by the evaluation's reader
    (``drest.llm.parse.read_decision``), else None. ``allowed``: the record's final lines
    (line -> label); the letter layout's are ``Final Answer: [x]``."""
    allowed = allowed or {f"{ANSWER_PREFIX}{label}]": label for label in valid}
    return read_decision(text, allowed, {label: label for label in valid}).choice


def read_label_token(text: str, valid: list[str]) -> str | None:
    """Exact mode: the one-token answer after ``Final Answer: [`` if it is a valid label, else None."""
    label = text.strip().lower()
    return label if label in valid else None


def _answer_terms(record: dict, answers: list[str | None]):
    """Length index and score/m(L) of each answer (None for unreadable answers)."""
    lengths, ratios = [], []
    for label in answers:
        if label is None:
            lengths.append(None)
            ratios.append(None)
            continue
        opt = record["options"][label]
        lengths.append(LENGTH_INDEX[opt["length"]])
        ratios.append(opt["score"] / record["max_scores_by_length"][opt["length"]])
    return lengths, ratios


def default_rewards(record: dict, answers: list[str | None], invalid_penalty: float) -> np.ndarray:
    """The default reward: score x 0.1 for a readable answer, the penalty otherwise."""
    return np.array([invalid_penalty if a is None else DEFAULT_REWARD_SCALE * record["options"][a]["score"]
                     for a in answers], dtype=np.float64)


def sequential_rewards(record: dict, answers: list[str | None], lam: float, invalid_penalty: float) -> np.ndarray:
    """DReST reward of each answer, counting readable answers in the given order (the v3 paper's)."""
    k = int(record.get("drest_num_lengths", 2))
    lengths, _ = _answer_terms(record, answers)
    valid = [i for i, length in enumerate(lengths) if length is not None]
    rewards = np.full(len(answers), float(invalid_penalty))
    if valid:
        opts = [record["options"][answers[i]] for i in valid]
        m = np.array([record["max_scores_by_length"][name] for name in ("short", "long")], dtype=np.float64)
        rewards[valid] = meta_episode_rewards(np.array([lengths[i] for i in valid]),
                                              np.array([o["score"] for o in opts], dtype=np.float64), m, k, lam)
    return rewards


def _order_averaged(lengths, ratios, k: int, lam: float, invalid_penalty: float) -> np.ndarray:
    valid_lengths = [length for length in lengths if length is not None]
    counts = np.bincount(valid_lengths, minlength=k) if valid_lengths else np.zeros(k, int)
    n = len(valid_lengths)
    factor = {L: order_averaged_discount(int(counts[L]), n, k, lam) for L in range(k) if counts[L] > 0}
    return np.array([invalid_penalty if L is None else factor[L] * r for L, r in zip(lengths, ratios)])


def order_averaged_rewards(record: dict, answers: list[str | None], lam: float, invalid_penalty: float) -> np.ndarray:
    """DReST reward of each answer with the factor averaged over all counting orders."""
    lengths, ratios = _answer_terms(record, answers)
    return _order_averaged(lengths, ratios, int(record.get("drest_num_lengths", 2)), lam, invalid_penalty)


def group_loo_advantages(rewards: np.ndarray, group_size: int) -> np.ndarray:
    """Reward minus the mean reward of the other answers in its consecutive group."""
    groups = np.asarray(rewards, dtype=np.float64).reshape(-1, group_size)
    others = (groups.sum(axis=1, keepdims=True) - groups) / (group_size - 1)
    return (groups - others).reshape(-1)


def rewards_of(record: dict, answers: list[str | None], config) -> np.ndarray:
    """Reward of each answer of one meta-episode under ``config.reward`` and ``config.counting``."""
    if config.reward == "default":
        return default_rewards(record, answers, config.invalid_penalty)
    if config.counting == "sequential":
        return sequential_rewards(record, answers, config.lam, config.invalid_penalty)
    return order_averaged_rewards(record, answers, config.lam, config.invalid_penalty)


def advantages(record: dict, answers: list[str | None], config) -> tuple[np.ndarray, np.ndarray]:
    """(rewards, advantages) of one meta-episode under the configured reward, counting and baseline."""
    rewards = rewards_of(record, answers, config)
    if config.baseline == "leave-one-out":
        return rewards, group_loo_advantages(rewards, config.group)
    adv = np.empty(len(answers))
    for i in range(len(answers)):
        rest = rewards_of(record, answers[:i] + answers[i + 1:], config)
        adv[i] = rewards[i] - rest.mean()
    return rewards, adv


def meta_episode_stats(record: dict, answers: list[str | None], rewards: np.ndarray) -> dict:
    """Log row of one meta-episode: mean reward, share long/best among readable answers, unreadable count."""
    valid = [a for a in answers if a is not None]
    long_share = (sum(record["options"][a]["length"] == "long" for a in valid) / len(valid)) if valid else None
    best = {record["target_best_short_option"], record["target_best_long_option"]}
    return {"id": record.get("id"), "mean_reward": float(np.mean(rewards)), "share_long": long_share,
            "share_best": (sum(a in best for a in valid) / len(valid)) if valid else None,
            "invalid": len(answers) - len(valid)}


def check_training_records(records: list[dict]) -> list[dict]:
    """The records as the trainers read them (``records.as_training_record``: either layout);
    DReST needs POST records with a positive best score at each length."""
    records = [as_training_record(rec) for rec in records]
    for rec in records:
        if rec["prompt_type"] != datasets.POST_TYPE:
            raise DrestError(f"dataset record {rec.get('id')}: training needs POST prompts "
                             f"(prompt_type {datasets.POST_TYPE!r}), got {rec['prompt_type']!r}")
        if min(rec["max_scores_by_length"].values()) <= 0:
            raise DrestError(f"dataset record {rec.get('id')}: max_scores_by_length must be positive for the DReST "
                             "reward (it divides by m(L))")
    return records
