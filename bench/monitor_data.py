"""Realistic feature frames for the monitoring calibration benchmark (not the frames thresholds were tuned on).

25 columns of the shapes production data has: heavy tails, zero-inflated counts, ties, bounded
rates, hour of day, prices ending in .99, integers with missing values, bimodal mixtures, Zipf
categoricals with 300 to 100,000 levels, small categoricals, booleans, and 5-30% missing values
on a third of the columns. Categorical columns are pandas categoricals built from codes, so a
million rows generate in seconds.

:func:`make_frame` draws ``n`` unchanged rows; :data:`SCENARIOS` plant one known change each in
a fresh frame (the target column is the one the change must be found in; every other column is
unchanged and any alarm on it is false).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

SMALL_LEVELS = np.array(["a", "b", "c", "d", "e", "f"])
SMALL_SHARES = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
DEVICE_SHARES = np.array([0.55, 0.3, 0.1, 0.05])
HOUR_PROFILE = 1.0 + np.sin((np.arange(24) - 9) / 24 * 2 * np.pi) * 0.7


def _zipf_shares(levels: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, levels + 1) ** exponent
    return w / w.sum()


_SHARES = {
    "cat_zipf2k": _zipf_shares(2_000, 1.1),
    "cat_zipf5k": _zipf_shares(5_000, 1.0),
    "cat_zipf100k": _zipf_shares(100_000, 1.05),
    "browser_version": _zipf_shares(300, 1.3),
    "country": 0.88 ** np.arange(60) / (0.88 ** np.arange(60)).sum(),
}
_NAMES: dict[int, np.ndarray] = {}


def _names(levels: int) -> np.ndarray:
    if levels not in _NAMES:
        _NAMES[levels] = np.array([f"v{i}" for i in range(levels)], dtype=object)
    return _NAMES[levels]


def _categorical(codes: np.ndarray, levels: int, missing: np.ndarray | None = None) -> pd.Categorical:
    codes = codes.astype(np.int64)
    if missing is not None:
        codes = np.where(missing, -1, codes)
    return pd.Categorical.from_codes(codes, categories=_names(levels))


def _missing(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


def make_frame(n: int, seed: int, *, small_shares: np.ndarray = SMALL_SHARES) -> pd.DataFrame:
    """``n`` rows of the 25 columns, unchanged distribution (``small_shares``: shares of ``cat_small``)."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.0, 0.8, n)
    income[_missing(rng, n, 0.10)] = np.nan
    clicks = np.where(rng.random(n) < 0.7, 0, rng.negative_binomial(2, 0.35, n) + 1).astype(np.float64)
    clicks[_missing(rng, n, 0.05)] = np.nan
    age = np.clip(np.round(18 + rng.gamma(3.0, 8.0, n)), 18, 95)
    age[_missing(rng, n, 0.15)] = np.nan
    tenure = rng.geometric(1 / 400, n).astype(np.float64)
    tenure[_missing(rng, n, 0.30)] = np.nan
    balance = np.where(rng.random(n) < 0.4, 0.0, rng.lognormal(7.0, 1.5, n))
    bimodal = np.where(rng.random(n) < 0.6, rng.normal(0.0, 1.0, n), rng.normal(5.0, 1.0, n))
    codes = {name: rng.choice(shares.size, size=n, p=shares) for name, shares in _SHARES.items()}
    plan = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    return pd.DataFrame(
        {
            "num_normal": rng.normal(50.0, 10.0, n),
            "income": income,
            "latency_ms": 20.0 * (1.0 + rng.pareto(1.8, n)),
            "clicks": clicks,
            "rating": np.round(np.clip(1 + 4 * rng.beta(5, 2, n), 1, 5) * 2) / 2,
            "ctr": rng.beta(2.0, 50.0, n),
            "hour": rng.choice(24, size=n, p=HOUR_PROFILE / HOUR_PROFILE.sum()).astype(np.int64),
            "age": age,
            "price": np.floor(rng.gamma(2.0, 20.0, n)) + 0.99,
            "distance_km": rng.exponential(5.0, n),
            "tenure_days": tenure,
            "score": rng.random(n),
            "bimodal": bimodal,
            "temperature": np.round(rng.normal(20.0, 5.0, n), 1),
            "balance": balance,
            "cat_zipf2k": _categorical(codes["cat_zipf2k"], 2_000),
            "cat_zipf5k": _categorical(codes["cat_zipf5k"], 5_000, _missing(rng, n, 0.20)),
            "cat_zipf100k": _categorical(codes["cat_zipf100k"], 100_000),
            "cat_small": pd.Categorical.from_codes(
                rng.choice(6, size=n, p=small_shares), categories=SMALL_LEVELS
            ),
            "country": _categorical(codes["country"], 60, _missing(rng, n, 0.05)),
            "device": pd.Categorical.from_codes(
                rng.choice(4, size=n, p=DEVICE_SHARES), categories=["mobile", "desktop", "tablet", "tv"]
            ),
            "is_member": rng.random(n) < 0.35,
            "has_promo": rng.random(n) < 0.1,
            "plan": pd.Series(np.array(["basic", "plus", "pro"], dtype=object)[plan]).where(
                ~_missing(rng, n, 0.25)
            ),
            "browser_version": _categorical(codes["browser_version"], 300),
        }
    )


@dataclass(frozen=True)
class Scenario:
    """A planted change: ``apply(n, seed)`` returns the changed frame; ``target`` is the changed column."""

    name: str
    target: str
    apply: Callable[[int, int], pd.DataFrame]
    detectors: tuple[str, ...] = ("drift",)  # modelyard detectors whose verdict on the target counts


def _mean_shift(n: int, seed: int) -> pd.DataFrame:
    frame = make_frame(n, seed)
    frame["num_normal"] += 0.1 * 10.0
    return frame


def _skewed_shift(n: int, seed: int) -> pd.DataFrame:
    frame = make_frame(n, seed)
    sd = np.sqrt((np.exp(0.8**2) - 1) * np.exp(2 * 10.0 + 0.8**2))
    frame["income"] += 0.1 * sd
    return frame


def _variance_only(n: int, seed: int) -> pd.DataFrame:
    frame = make_frame(n, seed)
    frame["num_normal"] = 50.0 + (frame["num_normal"] - 50.0) * 1.25
    return frame


def _new_category(n: int, seed: int) -> pd.DataFrame:
    frame = make_frame(n, seed)
    col = frame["cat_zipf2k"].cat.add_categories(["brand-new"])
    hit = np.random.default_rng(seed + 7).random(n) < 0.02
    frame["cat_zipf2k"] = col.where(~hit, "brand-new")
    return frame


def _share_move(n: int, seed: int) -> pd.DataFrame:
    shares = SMALL_SHARES.copy()
    shares[0] -= 0.05
    shares[1] += 0.05
    return make_frame(n, seed, small_shares=shares)


def _segment_only(n: int, seed: int) -> pd.DataFrame:
    frame = make_frame(n, seed)
    segment = (frame["cat_small"] == "c").to_numpy()  # 15% of rows
    frame.loc[segment, "num_normal"] += 0.5 * 10.0
    return frame


def _unit_change(n: int, seed: int) -> pd.DataFrame:
    frame = make_frame(n, seed)
    frame["distance_km"] *= 1000.0  # sent in metres
    return frame


SCENARIOS = [
    Scenario("0.1 sd mean shift (normal)", "num_normal", _mean_shift),
    Scenario("0.1 sd mean shift (lognormal)", "income", _skewed_shift),
    Scenario("variance only (sd x1.25)", "num_normal", _variance_only),
    Scenario("new category at 2%", "cat_zipf2k", _new_category, ("drift", "quality")),
    Scenario("top share -5 points", "cat_small", _share_move),
    Scenario("segment-only shift (15%, +0.5 sd)", "num_normal", _segment_only),
    Scenario("unit change (km -> m)", "distance_km", _unit_change, ("drift", "quality")),
]
