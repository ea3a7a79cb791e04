"""Sample-ratio mismatch: does the observed traffic per variant match the configured weights?

The weights split *units* (the sticky routing key), not requests: :func:`check_units`
counts the distinct units of each variant, which is what the hash assigns independently.
Counting requests instead (:func:`check_ratio` on request counts) fires on healthy
clustered traffic, because one heavy user moves thousands of requests at once.

A chi-squared goodness-of-fit test of the observed counts against the counts
the weights predict. When weights changed during the experiment (a canary ramp, a
``rollout weights`` change), the expected count of each variant is summed over the
periods between changes, each period's requests split by that period's weights. A
p-value below ``threshold`` (0.001 by default, as is usual for SRM checks) means the
split is broken (a bug in assignment, logging or filtering), and the experiment's
effects must not be trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    """Observed vs expected counts, the chi-squared statistic and the verdict."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float | None
    p_value: float | None
    mismatch: bool
    threshold: float = SRM_THRESHOLD
    message: str = ""
    excluded: list[str] = field(default_factory=list)
    unit: str = "request"
    """What the counts count."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_ratio(
    observed: Mapping[str, int], expected: Mapping[str, float], *, threshold: float = SRM_THRESHOLD
) -> SrmResult:
    """Chi-squared test of ``observed`` counts against ``expected`` counts (same keys).

    Variants expected to get nothing are left out of the test (and listed in ``excluded``);
    if one of them did get traffic, that alone is a mismatch.
    """
    from scipy import stats

    names = [n for n in expected if expected[n] > 0]
    excluded = [n for n in expected if expected[n] <= 0]
    obs = {n: int(observed.get(n, 0)) for n in expected}
    leaked = [n for n in excluded if obs[n] > 0]
    unexpected = sorted(set(observed) - set(expected))
    if leaked or any(observed[n] > 0 for n in unexpected):
        who = ", ".join(leaked + unexpected)
        return SrmResult(
            obs,
            dict(expected),
            None,
            0.0,
            True,
            threshold,
            f"sample ratio mismatch: traffic reached {who}, which should get none",
            excluded,
        )
    if len(names) < 2 or sum(obs[n] for n in names) == 0:
        return SrmResult(
            obs,
            dict(expected),
            None,
            None,
            False,
            threshold,
            "not enough variants or traffic to test",
            excluded,
        )
    f_obs = [obs[n] for n in names]
    total_obs = sum(f_obs)
    total_exp = sum(expected[n] for n in names)
    f_exp = [expected[n] * total_obs / total_exp for n in names]
    chi2, p = stats.chisquare(f_obs, f_exp)
    mismatch = bool(p < threshold)
    shares = ", ".join(
        f"{n} {obs[n] / total_obs:.1%} (expected {e / total_obs:.1%})"
        for n, e in zip(names, f_exp, strict=True)
    )
    message = (
        f"sample ratio mismatch (chi2={chi2:.1f}, p={p:.2g} < {threshold:g}): {shares}; the split is broken, "
        "do not trust differences between variants"
        if mismatch
        else f"traffic matches the weights (p={p:.2g})"
    )
    return SrmResult(
        obs,
        {n: float(expected[n]) for n in expected},
        float(chi2),
        float(p),
        mismatch,
        threshold,
        message,
        excluded,
    )


def check_units(
    frame: pd.DataFrame,
    units: pd.Series,
    periods: Sequence[tuple[datetime, Mapping[str, float]]],
    *,
    threshold: float = SRM_THRESHOLD,
) -> SrmResult:
    """SRM on distinct units, one chi-squared test per weight period, Bonferroni across periods.

    ``frame`` holds the live rows (``timestamp``, ``variant``), ``units`` their unit keys.
    Within a period a unit is one draw of the hash; a unit seen in several periods is counted
    in each (its draws are then dependent, hence Bonferroni rather than a summed statistic).
    Periods whose expected counts are below 5 in some variant are not tested.
    """
    import pandas as pd

    index = period_index(frame["timestamp"], periods)
    pairs = pd.DataFrame(
        {"period": index, "unit": units.to_numpy(), "variant": frame["variant"].astype(str).to_numpy()}
    ).drop_duplicates()
    observed: dict[str, int] = {}
    expected: dict[str, float] = {}
    tested: list[SrmResult] = []
    for p, group in pairs.groupby("period", sort=True):
        weights = dict(periods[int(p)][1])
        counts = {str(k): int(v) for k, v in group["variant"].value_counts().items()}
        total_w = sum(weights.values())
        n = sum(counts.values())
        exp = {k: n * w / total_w if total_w > 0 else 0.0 for k, w in weights.items()}
        for k, c in counts.items():
            observed[k] = observed.get(k, 0) + c
        for k, e in exp.items():
            expected[k] = expected.get(k, 0.0) + e
        positive = [v for v in exp.values() if v > 0]
        if len(positive) >= 2 and min(positive) < 5 and set(counts) <= set(exp):
            continue
        tested.append(check_ratio(counts, exp, threshold=threshold))
    if not tested:
        return SrmResult(observed, expected, None, None, False, threshold, "not enough units to test", [])
    leaked = [r for r in tested if r.chi2 is None and r.mismatch]
    if leaked:
        return SrmResult(observed, expected, None, 0.0, True, threshold, leaked[0].message, [])
    ps = [r.p_value for r in tested if r.p_value is not None]
    if not ps:
        return SrmResult(observed, expected, None, None, False, threshold, tested[0].message, [])
    p_min = min(1.0, min(ps) * len(ps))
    worst = min((r for r in tested if r.p_value is not None), key=lambda r: r.p_value or 1.0)
    mismatch = p_min < threshold
    where = f" in {len(ps)} weight periods, Bonferroni" if len(ps) > 1 else ""
    shares = ", ".join(
        f"{k} {worst.observed[k]} units (expected {worst.expected[k]:.0f})" for k in worst.observed
    )
    message = (
        f"sample ratio mismatch on distinct units (p={p_min:.2g} < {threshold:g}{where}): {shares}; "
        "the split is broken, do not trust differences between variants"
        if mismatch
        else f"units match the weights (p={p_min:.2g}{where})"
    )
    return SrmResult(observed, expected, worst.chi2, p_min, mismatch, threshold, message, [], unit="unit")


def period_index(timestamps: Any, periods: Sequence[tuple[datetime, Mapping[str, float]]]) -> Any:
    """For each timestamp the index of the weight period it falls in (earlier ones count in the first)."""
    import numpy as np
    import pandas as pd

    ts = pd.to_datetime(pd.Series(timestamps), utc=True).to_numpy(dtype="datetime64[ns]")
    starts = pd.to_datetime(pd.Series([p[0] for p in periods]), utc=True).to_numpy(dtype="datetime64[ns]")
    return np.maximum(np.searchsorted(starts, ts, side="right") - 1, 0)


def expected_counts(
    timestamps: Sequence[datetime], periods: Sequence[tuple[datetime, Mapping[str, float]]]
) -> dict[str, float]:
    """Expected requests per variant for requests at ``timestamps`` under piecewise weights.

    ``periods`` is ``[(start, {variant: weight})...]`` in time order: each applies from
    its start to the next one's. Requests before the first period count under it.
    Weights are normalised within each period.
    """
    import bisect

    if not periods:
        return {}
    starts = [p[0] for p in periods]
    per_period = [0] * len(periods)
    for ts in timestamps:
        per_period[max(bisect.bisect_right(starts, ts) - 1, 0)] += 1
    expected: dict[str, float] = {}
    for (_, weights), n in zip(periods, per_period, strict=True):
        total = sum(weights.values())
        for name, w in weights.items():
            expected[name] = expected.get(name, 0.0) + (n * w / total if total > 0 else 0.0)
    return expected
