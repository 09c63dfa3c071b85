"""The paper's published numbers: Table 1 and the release's logged learning curves.

The one place table1 (``drest reproduce table1``) and the report read them from.
Table 1 is Cullen et al. (2026)'s (test set, 100M env steps, 5 seeds; train values
where published, without sd). The curves are the release's logs
(``drest/data/paper_training_curves.csv``, MIT; see the NOTICE beside it): five
runs per configuration, one value per 1M env steps. Bands use the population sd
over the runs (ddof 0), which is how the paper's Table 1 reports its sd (e.g. PPO
default test USEFULNESS 0.667 ± 0.016). Both were measured with the release's
evaluator, which :func:`drest.metrics.evaluate_bank` reproduces as
``instrument="paper"``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["TABLE1", "PAPER_DEFAULT_NEUTRALITY", "PAPER_INSTRUMENT", "Curve", "agent_name", "paper_curve_rows",
           "paper_curves", "paper_sweep_rows"]

# {(algo, reward): test (mean, sd) and train means}; sd None where the paper gives none
TABLE1 = {
    ("ppo", "default"): {"test_n": (0.0, None), "test_u": (0.667, 0.016), "train_u": 0.947, "train_n": None},
    ("a2c", "default"): {"test_n": (0.0, None), "test_u": (0.635, 0.014), "train_u": 0.911, "train_n": None},
    ("ppo", "drest"): {"test_n": (0.747, 0.008), "test_u": (0.742, 0.004), "train_u": 0.886, "train_n": 0.845},
    ("a2c", "drest"): {"test_n": (0.769, 0.013), "test_u": (0.742, 0.006), "train_u": 0.921, "train_n": 0.839},
}


def agent_name(algo: str, reward: str) -> str:
    """How Table 1 names a row: "PPO DReST", "A2C default"."""
    return f"{algo.upper()} {'DReST' if reward == 'drest' else 'default'}"


# Why the paper's default NEUTRALITY reads 0.000 (checked against the curves in the tests)
PAPER_DEFAULT_NEUTRALITY = (
    "The paper's 0.000 for the default agents' NEUTRALITY is not a measured value: in the release's logged "
    "curves every default run's test NEUTRALITY is NaN from 5-22M steps on (0 x log 0 once some world's "
    "probability of a length reaches exactly 0), and its last finite values were 0.15-0.24 bits."
)
PAPER_INSTRUMENT = (
    "The paper's numbers were measured with the release's evaluator, which shows the policy a wrong clock "
    "(the bottom row of the coin grid instead of the steps left); our numbers with \"the paper's instrument\" "
    "are measured the same way (like for like), the others with the observation the agents were trained on "
    "(the exact instrument)."
)


@dataclass(frozen=True)
class Curve:
    """Mean and sd over runs at each logged step."""

    env_steps: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    runs: int


def paper_curve_rows() -> list[dict[str, str]]:
    """The release's logged curves as CSV rows: algo, reward, split, metric, run, env_steps, value."""
    with resources.files("drest").joinpath("data/paper_training_curves.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def paper_sweep_rows() -> list[dict[str, float]]:
    """The release's PPO sweep over DReST lambda and M (26 runs of 20M steps, 3 x 256 networks,
    lr 1e-6, entropy 0.02): lam, meta_episode_size, runtime_s and train/val NEUTRALITY and
    USEFULNESS (the release calls the 96-world validation bank "test")."""
    with resources.files("drest").joinpath("data/paper_lambda_metaep_sweep.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    keys = ("lam", "runtime_s", "train_neutrality", "train_usefulness", "val_neutrality", "val_usefulness")
    return [{"meta_episode_size": int(r["meta_episode_size"]), **{k: float(r[k]) for k in keys}} for r in rows]


@lru_cache(maxsize=1)
def paper_curves() -> dict[tuple[str, str, str, str], Curve]:
    """{(algo, reward, split, metric): Curve}, algo lower case (ppo, a2c), as in drest's configs.

    The release logged NEUTRALITY of the default agents as NaN once some world's
    length probability reached exactly 0 (0 x log 0); a step is kept only where every
    run logged a number, so a mean is never taken over the runs that were left."""
    values: dict[tuple, dict[int, list[float]]] = {}
    for row in paper_curve_rows():
        key = (row["algo"].lower(), row["reward"], row["split"], row["metric"])
        values.setdefault(key, {}).setdefault(int(row["env_steps"]), []).append(float(row["value"]))
    curves = {}
    for key, by_step in values.items():
        runs = max(len(v) for v in by_step.values())
        steps = np.array([s for s in sorted(by_step) if len(by_step[s]) == runs and not np.isnan(by_step[s]).any()])
        if steps.size:
            curves[key] = Curve(env_steps=steps, mean=np.array([np.mean(by_step[s]) for s in steps]),
                                sd=np.array([np.std(by_step[s]) for s in steps]), runs=runs)
    return curves
