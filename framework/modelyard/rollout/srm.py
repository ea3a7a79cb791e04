"""Sample-ratio mismatch: does the observed traffic per variant match the configured weights?

A chi-squared goodness-of-fit test of the observed request counts against the counts
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
from typing import Any

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
