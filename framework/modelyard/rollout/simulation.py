"""Synthetic experiment traffic, to check the analysis where the textbook case does not hold.

:func:`simulate` writes prediction-log rows (the real :data:`~modelyard.predictions.records.ROW_COLUMNS`
row format) and feedback for an experiment with

- clustered units: ``users`` users, each with its own base accuracy (Beta distributed) and
  error rate, so one user's requests are correlated;
- heavy-tailed request counts per user (1 + Pareto, capped), as real traffic is;
- sticky assignment by the router's own hash (:func:`modelyard.routing.hashing.bucket`),
  the treatment's interval first as a canary's is, with weight changes at given times;
- an effect on the treatment's accuracy and error rate, a latency shift;
- delayed labels: each label arrives an exponential delay after its request, and only labels
  that arrived before the read time are returned;
- a pre-experiment period for each user (for CUPED), from the same base rates.

It is used by ``bench/bench_experiments.py`` (many seeds) and by the bounded tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Scenario:
    """One synthetic experiment; every field has a realistic default."""

    users: int = 2000
    hours: float = 24.0
    #: Pareto shape of the extra requests per user: smaller is heavier-tailed (mean 1 + 1/(a-1))
    pareto_shape: float = 1.3
    max_requests: int = 300
    #: per-user accuracy ~ Beta(a, b): the spread between users is what clusters the data
    accuracy_beta: tuple[float, float] = (6.0, 2.0)
    error_beta: tuple[float, float] = (0.5, 50.0)
    accuracy_effect: float = 0.0
    error_effect: float = 0.0
    latency_ms: float = 20.0
    latency_shift_ms: float = 0.0
    #: ``[(hours from start, treatment share)]``: the first entry must be at 0
    weights: Sequence[tuple[float, float]] = ((0.0, 0.5),)
    #: mean label delay in hours (0: labels arrive with the request)
    label_delay_hours: float = 0.0
    #: a drift of everyone's accuracy per hour (with weight changes it makes pooling biased)
    accuracy_drift_per_hour: float = 0.0
    pre_hours: float = 24.0
    salt: str = "sim"
    names: tuple[str, str] = ("control", "treatment")
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Simulated:
    """The log (experiment window), its feedback, the pre-period log and feedback, the weight periods."""

    log: pd.DataFrame
    feedback: pd.DataFrame
    pre_log: pd.DataFrame
    pre_feedback: pd.DataFrame
    periods: list[tuple[datetime, dict[str, float]]]
    end: datetime


def simulate(scenario: Scenario, seed: int, *, read_at_hours: float | None = None) -> Simulated:
    """Rows of ``scenario`` drawn with ``seed``, as read ``read_at_hours`` after the start (default: the end)."""
    import numpy as np

    from modelyard.routing.hashing import bucket

    rng = np.random.default_rng(seed)
    sc = scenario
    n_users = sc.users
    counts = np.minimum(1 + np.floor(rng.pareto(sc.pareto_shape, n_users)).astype(int), sc.max_requests)
    accuracy = rng.beta(*sc.accuracy_beta, n_users)
    error = rng.beta(*sc.error_beta, n_users)
    salt = f"{sc.salt}-{seed}"
    keys = [f"user_id={u}" for u in range(n_users)]
    buckets = np.array([bucket(salt, k) for k in keys])

    change_hours = np.array([h for h, _ in sc.weights], dtype=float)
    shares = np.array([s for _, s in sc.weights], dtype=float)
    user = np.repeat(np.arange(n_users), counts)
    hours = rng.uniform(0, sc.hours, len(user))
    period = np.searchsorted(change_hours, hours, side="right") - 1
    treated = buckets[user] < shares[period]
    acc = np.clip(accuracy[user] + sc.accuracy_drift_per_hour * hours + sc.accuracy_effect * treated, 0, 1)
    err = np.clip(error[user] + sc.error_effect * treated, 0, 1)
    latency = rng.lognormal(np.log(sc.latency_ms), 0.4, len(user)) + sc.latency_shift_ms * treated
    read_at = sc.hours if read_at_hours is None else read_at_hours
    keep = hours < read_at
    log, fb = _rows(rng, user[keep], hours[keep], treated[keep], acc[keep], err[keep], latency[keep], sc, "x")
    delays = rng.exponential(sc.label_delay_hours, len(fb)) if sc.label_delay_hours > 0 else np.zeros(len(fb))
    fb = fb[(fb["_hours"].to_numpy() + delays) < read_at].drop(columns="_hours")

    # the pre-period: the same users (about half of them active) before the start, control model only
    pre_user = np.repeat(np.arange(n_users), np.maximum(counts // 2, 1) * (rng.random(n_users) < 0.5))
    pre_hours = -rng.uniform(0, sc.pre_hours, len(pre_user))
    zeros = np.zeros(len(pre_user), dtype=bool)
    pre_log, pre_fb = _rows(
        rng,
        pre_user,
        pre_hours,
        zeros,
        np.clip(accuracy[pre_user] + sc.accuracy_drift_per_hour * pre_hours, 0, 1),
        error[pre_user],
        rng.lognormal(np.log(sc.latency_ms), 0.4, len(pre_user)),
        sc,
        "p",
    )
    periods = [
        (T0 + timedelta(hours=float(h)), {sc.names[1]: float(s), sc.names[0]: 1.0 - float(s)})
        for h, s in sc.weights
    ]
    return Simulated(
        log,
        fb,
        pre_log,
        pre_fb.drop(columns="_hours"),
        periods,
        T0 + timedelta(hours=float(read_at)),
    )


def _rows(
    rng: Any,
    user: Any,
    hours: Any,
    treated: Any,
    acc: Any,
    err: Any,
    latency: Any,
    sc: Scenario,
    prefix: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    import numpy as np
    import pandas as pd

    n = len(user)
    label = (rng.random(n) < 0.5).astype(int)
    correct = rng.random(n) < acc
    failed = rng.random(n) < err
    prediction = np.where(correct, label, 1 - label).astype(float)
    prediction[failed] = np.nan
    rid = np.char.add(prefix, np.arange(n).astype(str))
    variant = np.where(treated, sc.names[1], sc.names[0])
    ts = pd.Timestamp(T0) + pd.to_timedelta(hours, unit="h")
    log = pd.DataFrame(
        {
            "request_id": rid,
            "timestamp": ts,
            "model": "sim",
            "version": np.where(treated, 2, 1),
            "variant": variant,
            "mode": "live",
            "entities": np.char.add(np.char.add('{"user_id":', user.astype(str)), "}"),
            "features": "{}",
            "prediction": prediction,
            "prediction_label": None,
            "score": prediction,
            "latency_ms": latency,
            "cache_hit": False,
            "error": pd.Series(["boom" if f else None for f in failed], dtype=object),
        }
    )
    feedback = pd.DataFrame({"request_id": rid, "label": label, "_hours": hours})
    return log.sort_values("timestamp", ignore_index=True), feedback


@dataclass(frozen=True)
class GuardRun:
    """How a guard decided over one canary step, repeated ``reps`` times."""

    rollback: float
    """Share of runs rolled back at some tick."""
    passed_first: float
    """Share of runs whose first decision (after min_samples) was pass."""
    passed_before_fail: float
    """Share of runs with a pass at some tick before any fail (a canary would have advanced)."""


def guard_run(
    draw: Any,
    limit: float,
    *,
    kind: str,
    rule: str = "confidence",
    quantile: float = 0.99,
    confidence: float = 0.99,
    pass_confidence: float = 0.95,
    min_samples: int = 50,
    rate_per_second: float = 1.0,
    tick_seconds: int = 30,
    window_seconds: int = 600,
    minutes: int = 30,
    reps: int = 300,
    seed: int = 0,
) -> GuardRun:
    """Replay a guard over a canary step: one request per ``1/rate`` s, a tick every ``tick_seconds``.

    ``draw(rng, size)`` gives the candidate's per-request values: 0/1 errors (``kind="error"``)
    or latencies in ms (``kind="latency"``). ``rule="confidence"`` decides as
    :func:`modelyard.routing.guards.check` does; ``rule="point"`` compares the point estimate
    with ``limit`` (the behaviour before guards had confidence).
    """
    import numpy as np

    from modelyard.routing import confidence as bounds
    from modelyard.routing.guards import decide

    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * rate_per_second)
    window = int(window_seconds * rate_per_second)
    ticks = range(int(tick_seconds * rate_per_second), total + 1, int(tick_seconds * rate_per_second))
    cache: dict[tuple[int, int], tuple[float, float]] = {}
    rolled = first_pass = pass_before = 0
    for _ in range(reps):
        values = draw(rng, total)
        csum = np.cumsum(values) if kind == "error" else np.zeros(0)
        first, fail_seen, passed = None, False, False
        for t in ticks:
            lo_i = max(0, t - window)
            n = t - lo_i
            if n < min_samples:
                continue
            if kind == "error":
                x = int(csum[t - 1] - (csum[lo_i - 1] if lo_i else 0))
                if rule == "point":
                    decision = "fail" if x / n > limit else "pass"
                else:
                    if (x, n) not in cache:
                        low = bounds.proportion(x, n, confidence)[0]
                        cache[(x, n)] = (low, bounds.proportion(x, n, pass_confidence)[1])
                    decision = decide(*cache[(x, n)], limit)
            else:
                win = values[lo_i:t]
                if rule == "point":
                    decision = "fail" if float(np.quantile(win, quantile)) > limit else "pass"
                else:
                    low = bounds.quantile(win, quantile, confidence)[0]
                    decision = decide(low, bounds.quantile(win, quantile, pass_confidence)[1], limit)
            first = first or decision
            if decision == "fail":
                fail_seen = True
                break
            if decision == "pass" and not fail_seen:
                passed = True
        rolled += fail_seen
        first_pass += first == "pass"
        pass_before += passed
    return GuardRun(rolled / reps, first_pass / reps, pass_before / reps)
