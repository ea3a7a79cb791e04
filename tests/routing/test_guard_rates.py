"""Guards decide with confidence: their bounds against scipy, and the error rates of the defaults.

The rates (docs/rollout.md, "Guards and automatic rollback") come from
:func:`modelyard.rollout.simulation.guard_run`: a candidate serving one request per second,
a tick every 30 s for 30 minutes, the default window (600 s), ``min_samples`` (50),
``confidence`` (0.99 to roll back) and ``pass_confidence`` (0.95 to pass).
``bench/bench_experiments.py`` prints the same figures over more repetitions.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelyard.predictions.records import PredictionRecord
from modelyard.rollout.simulation import guard_run
from modelyard.routing import confidence as bounds
from modelyard.routing.guards import check_all
from modelyard.routing.router import Variant

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def errors(p: float):
    return lambda rng, n: (rng.random(n) < p).astype(float)


def latencies(p99_over_limit: float, limit: float = 100.0):
    # lognormal with sigma 0.5: p99 = median * exp(0.5 * 2.326)
    median = limit * p99_over_limit / float(np.exp(0.5 * stats.norm.ppf(0.99)))
    return lambda rng, n: rng.lognormal(np.log(median), 0.5, n)


def test_proportion_bounds_are_clopper_pearson() -> None:
    for x, n in ((0, 50), (3, 60), (40, 200), (200, 200)):
        low, high = bounds.proportion(x, n, 0.95)
        ci = stats.binomtest(x, n).proportion_ci(
            confidence_level=0.90, method="exact"
        )  # two-sided 90% = 2 x 95%
        assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_quantile_bounds_cover_at_their_confidence() -> None:
    rng = np.random.default_rng(1)
    true_p90 = float(np.exp(stats.norm.ppf(0.9)))
    below = above = 0
    reps = 400
    for _ in range(reps):
        low, high = bounds.quantile(rng.lognormal(0, 1, 80), 0.9, 0.95)
        below += low <= true_p90
        above += true_p90 <= high
    assert below / reps >= 0.93 and above / reps >= 0.93  # nominal >= 0.95; 400 draws
    # a p99 from 60 samples cannot be shown below anything, only above (its 3rd largest)
    x = np.arange(1.0, 61.0)
    low, high = bounds.quantile(x, 0.99, 0.95)
    assert high == np.inf and low == 58.0


def log_frame(variant: str, n: int, *, error_every: int = 0, latency: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame(
        [
            PredictionRecord(
                request_id=f"{variant}{i}",
                model="rides",
                version=2,
                prediction=1,
                variant=variant,
                latency_ms=latency,
                error="boom" if error_every and i % error_every == 0 else None,
                timestamp=T0 + timedelta(seconds=i),
            ).to_row()
            for i in range(n)
        ]
    )


def test_a_guard_holds_when_the_data_cannot_tell() -> None:
    now = T0 + timedelta(seconds=200)
    guards = [{"type": "error_rate", "max": 0.01}, {"type": "latency", "quantile": 0.99, "max_ms": 100}]
    # 1 error in 120 (0.8%) against 1%: neither above nor below with confidence
    held = check_all(
        guards,
        model="rides",
        variant=Variant("v2", 2),
        control=None,
        log=log_frame("v2", 120, error_every=120),
        now=now,
    )
    assert [r.decision for r in held] == ["hold", "hold"] and all(r.ok for r in held)
    assert "cannot tell" in held[0].reason and held[0].low < 0.01 < held[0].high
    # 6 errors in 60 (10%) against 1%: shown above the limit
    (failed,) = check_all(
        guards[:1],
        model="rides",
        variant=Variant("v2", 2),
        control=None,
        log=log_frame("v2", 60, error_every=10),
        now=now,
    )
    assert failed.decision == "fail" and not failed.ok and failed.low > 0.01


def test_error_rate_guard_rates_of_the_defaults() -> None:
    good = guard_run(errors(0.008), 0.01, kind="error", reps=200, seed=1)
    bad = guard_run(errors(0.05), 0.01, kind="error", reps=200, seed=2)
    point_good = guard_run(errors(0.008), 0.01, kind="error", reps=200, seed=1, rule="point")
    point_bad = guard_run(errors(0.05), 0.01, kind="error", reps=200, seed=2, rule="point")
    # a good candidate (0.8% vs a 1% limit) is rolled back in ~4% of 30-minute steps (0.88 before)
    assert good.rollback <= 0.08 and point_good.rollback >= 0.7
    # a failing one (5%) is never let through; the point estimate passed its first look ~4% of the time
    assert bad.rollback == 1.0 and bad.passed_before_fail == 0.0 and bad.passed_first == 0.0
    assert point_bad.passed_first > 0.0


def test_latency_guard_rates_of_the_defaults() -> None:
    good = guard_run(latencies(0.8), 100.0, kind="latency", reps=30, seed=3, minutes=15)
    bad = guard_run(latencies(1.5), 100.0, kind="latency", reps=30, seed=4, minutes=15)
    assert good.rollback == 0.0 and good.passed_before_fail > 0.5
    assert bad.rollback == 1.0 and bad.passed_before_fail == 0.0
