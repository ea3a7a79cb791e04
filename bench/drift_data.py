"""Generated feature frames with known drift, shared by bench_detection.py and bench_drift.py.

Every feature has a known distribution; :func:`make_pair` returns a reference frame and a
current frame where the features named in ``SHIFTS`` moved by a known amount and every other
feature is drawn from exactly the reference distribution (so any alarm on it is false).

Numeric shifts are in reference standard deviations (the whole distribution moves by
``k * sd``; for the Poisson count the rate moves so the mean moves by ``k * sd``); categorical
shifts add ``k`` to the share of the most frequent category, taking it proportionally from
the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# name -> (kind, parameters)
NUMERIC = {
    "num_normal": ("normal", 0.0, 1.0),
    "num_lognormal": ("lognormal", 0.0, 0.8),
    "num_exponential": ("exponential", 2.0, None),
    "num_uniform": ("uniform", 0.0, 10.0),
    "num_poisson": ("poisson", 3.0, None),
    "num_student_t": ("student_t", 4.0, None),
    "num_bimodal": ("bimodal", -2.0, 2.0),
    "num_gamma": ("gamma", 2.0, 1.5),
    "num_beta": ("beta", 2.0, 5.0),
    "num_normal_wide": ("normal", 100.0, 25.0),
    "num_normal_2": ("normal", -5.0, 0.3),
    "num_lognormal_2": ("lognormal", 1.0, 0.3),
    "num_poisson_2": ("poisson", 12.0, None),
    "num_uniform_2": ("uniform", -1.0, 1.0),
    "num_laplace": ("laplace", 0.0, 1.0),
}
CATEGORICAL = {"cat_3": 3, "cat_5": 5, "cat_8": 8, "cat_20": 20, "cat_200": 200}


def _sd(kind: str, a: float, b: float | None) -> float:
    return {
        "normal": lambda: b,
        "lognormal": lambda: float(np.sqrt((np.exp(b**2) - 1) * np.exp(2 * a + b**2))),
        "exponential": lambda: a,
        "uniform": lambda: (b - a) / np.sqrt(12),
        "poisson": lambda: np.sqrt(a),
        "student_t": lambda: np.sqrt(a / (a - 2)),
        "bimodal": lambda: float(np.sqrt(1 + ((b - a) / 2) ** 2)),
        "gamma": lambda: np.sqrt(a) * b,
        "beta": lambda: np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))),
        "laplace": lambda: np.sqrt(2) * b,
    }[kind]()


def _numeric(
    rng: np.random.Generator, kind: str, a: float, b: float | None, n: int, shift_sd: float
) -> np.ndarray:
    delta = shift_sd * _sd(kind, a, b)
    if kind == "poisson":
        return rng.poisson(a + delta, n).astype(np.float64)
    values = {
        "normal": lambda: rng.normal(a, b, n),
        "lognormal": lambda: rng.lognormal(a, b, n),
        "exponential": lambda: rng.exponential(a, n),
        "uniform": lambda: rng.uniform(a, b, n),
        "student_t": lambda: rng.standard_t(a, n),
        "bimodal": lambda: np.where(rng.random(n) < 0.5, a, b) + rng.normal(0, 1, n),
        "gamma": lambda: rng.gamma(a, b, n),
        "beta": lambda: rng.beta(a, b, n),
        "laplace": lambda: rng.laplace(a, b, n),
    }[kind]()
    return values + delta


def category_shares(levels: int) -> np.ndarray:
    """Zipf-like shares (fixed for a level count), most frequent first."""
    weights = 1.0 / np.arange(1, levels + 1) ** 0.8
    return weights / weights.sum()


def _categorical(rng: np.random.Generator, levels: int, n: int, share_shift: float) -> np.ndarray:
    p = category_shares(levels)
    if share_shift:
        rest = 1.0 - p[0]
        p = np.concatenate([[p[0] + share_shift], p[1:] * (rest - share_shift) / rest])
    names = np.array([f"v{i:03d}" for i in range(levels)], dtype=object)
    return names[rng.choice(levels, size=n, p=p)]


def make_frame(
    n: int, *, seed: int, shifts: dict[str, float] | None = None, numeric: int = 15, categorical: int = 5
) -> pd.DataFrame:
    """``n`` rows of the first ``numeric`` numeric and ``categorical`` categorical features."""
    shifts = shifts or {}
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for name, (kind, a, b) in list(NUMERIC.items())[:numeric]:
        data[name] = _numeric(rng, kind, a, b, n, shifts.get(name, 0.0))
    for name, levels in list(CATEGORICAL.items())[:categorical]:
        data[name] = _categorical(rng, levels, n, shifts.get(name, 0.0))
    return pd.DataFrame(data)


def feature_lists(numeric: int = 15, categorical: int = 5) -> tuple[list[str], list[str]]:
    return list(NUMERIC)[:numeric], list(CATEGORICAL)[:categorical]
