"""The paper's published numbers: Table 1 (from :mod:`drest.rl.table1`) and its learning curves.

The curves are the release's logs (``drest/data/paper_training_curves.csv``, MIT;
see the NOTICE beside it): five runs per configuration, one value per 1M env
steps. Bands use the population sd over the runs (ddof 0), which is how the
paper's Table 1 reports its sd (e.g. PPO default test USEFULNESS 0.667 ± 0.016).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..rl.table1 import PAPER as TABLE1
from ..rl.table1 import PAPER_DEFAULT_NEUTRALITY

__all__ = ["TABLE1", "PAPER_DEFAULT_NEUTRALITY", "Curve", "paper_curve_rows", "paper_curves"]


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
