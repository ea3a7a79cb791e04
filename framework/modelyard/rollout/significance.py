"""Statistical comparison of a treatment variant against the control.

Each comparison returns a :class:`Comparison`: the two estimates, their difference with an
interval, the p-value, the minimum detectable effect (MDE) and a plain verdict:

- ``better`` / ``worse``: significant, in the direction the metric prefers;
- ``different``: significant for a metric without a preferred direction;
- ``not yet significant``: the interval contains 0.

The verdict is read off the interval (significant exactly when it excludes 0), and the
p-value comes from the same statistic and critical value, so the three never disagree.

Two kinds of comparison:

:func:`ratio_comparison`
    any per-request mean (error rate, accuracy, positive rate, absolute error, prediction
    mean) as a ratio of per-unit sums with the delta-method variance, optionally with CUPED
    (:mod:`modelyard.rollout.units`); a z-statistic read with the plan's design
    (:mod:`modelyard.rollout.sequential`).
:func:`shift_comparison`
    skewed per-request values (latency): the Mann-Whitney U statistic, the Hodges-Lehmann
    shift and its Moses interval on all rows (:mod:`modelyard.rollout.shift`), with the same
    design's critical value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from modelyard.rollout import sequential as seq
from modelyard.rollout.shift import hodges_lehmann, moses_interval, u_statistic
from modelyard.rollout.units import UnitSums, cuped, delta_estimates, harmonic_units

Direction = Literal["higher", "lower", "none"]


@dataclass(frozen=True)
class Comparison:
    """Treatment vs control on one metric."""

    metric: str
    test: str
    control: str
    treatment: str
    n_control: int
    n_treatment: int
    control_value: float
    treatment_value: float
    difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    statistic: float | None
    mde: float | None
    alpha: float
    verdict: str
    unit: str = "request"
    """What ``n_control``/``n_treatment`` count: the randomisation unit, or requests."""
    level: float | None = None
    """Confidence of the interval after the correction (``1 - alpha / m``)."""
    family: str = ""
    role: str = ""
    """``primary`` or ``guardrail``."""
    requests: tuple[int, int] = (0, 0)
    adjustment: str = ""
    unadjusted: dict[str, float | None] | None = None
    """Without CUPED: difference, ci_low, ci_high, p_value (when CUPED was applied)."""

    @property
    def relative_difference(self) -> float | None:
        return None if self.control_value == 0 else self.difference / abs(self.control_value)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["relative_difference"] = self.relative_difference
        return {k: _none_if_nan(v) for k, v in data.items()}


def _none_if_nan(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _none_if_nan(v) for k, v in value.items()}
    return value


def verdict(low: float | None, high: float | None, difference: float, *, direction: Direction) -> str:
    """``better`` / ``worse`` / ``different`` / ``not yet significant`` from the interval."""
    if low is None or high is None or math.isnan(low) or math.isnan(high) or low <= 0 <= high:
        return "not yet significant"
    if direction == "none":
        return "different"
    improved = difference > 0 if direction == "higher" else difference < 0
    return "better" if improved else "worse"


def ratio_comparison(
    metric: str,
    control: UnitSums,
    treatment: UnitSums,
    *,
    names: tuple[str, str] = ("control", "treatment"),
    direction: Direction = "higher",
    plan: seq.Plan | None = None,
    alpha: float | None = None,
    unit: str = "request",
    use_cuped: bool = True,
) -> Comparison:
    """Difference of two per-unit ratios (delta method, CUPED when pre-period values exist).

    ``alpha`` is the per-comparison level after the family's correction (default: the plan's).
    """
    plan = plan or seq.Plan()
    alpha = plan.alpha if alpha is None else alpha
    test = "delta method (per-unit ratio, cluster-robust)"
    n1, n2 = control.units, treatment.units
    requests = (control.requests, treatment.requests)
    if n1 < 2 or n2 < 2:
        return _empty(metric, test, names, n1, n2, control.ratio(), treatment.ratio(), alpha, unit, requests)
    ec, et = delta_estimates(control, treatment)
    n_eff = harmonic_units(n1, n2)
    raw = _read(et.value - ec.value, ec.variance + et.variance, plan, n_eff, alpha)
    adjusted = cuped(control, treatment) if use_cuped else None
    adjustment = ""
    unadjusted: dict[str, float | None] | None = None
    best = raw
    if adjusted is not None:
        best = _read(
            adjusted.treatment.value - adjusted.control.value,
            adjusted.control.variance + adjusted.treatment.variance,
            plan,
            n_eff,
            alpha,
        )
        reduction = 1 - (best["se"] ** 2 / raw["se"] ** 2) if raw["se"] else 0.0
        adjustment = (
            f"CUPED on the pre-period {metric} of {adjusted.covered[0]}+{adjusted.covered[1]} units "
            f"(theta {adjusted.theta:.3g}, variance {-reduction:+.0%})"
        )
        unadjusted = {k: raw[k] for k in ("difference", "ci_low", "ci_high", "p_value")}
    low, high = best["ci_low"], best["ci_high"]
    return Comparison(
        metric,
        test + (" + CUPED" if adjusted is not None else ""),
        names[0],
        names[1],
        n1,
        n2,
        ec.value,
        et.value,
        best["difference"],
        low,
        high,
        best["p_value"],
        best["z"],
        best["mde"],
        alpha,
        verdict(low, high, best["difference"], direction=direction),
        unit=unit,
        level=1 - alpha,
        requests=requests,
        adjustment=adjustment,
        unadjusted=unadjusted,
    )


def _read(diff: float, var: float, plan: seq.Plan, n_eff: float, alpha: float) -> dict[str, float]:
    """Interval, p-value and MDE of an estimate with variance ``var`` under ``plan``."""
    se = math.sqrt(var) if var > 0 else 0.0
    crit = seq.critical_z(plan, n_eff, alpha)
    z = (0.0 if diff == 0 else math.copysign(math.inf, diff)) if se == 0 else diff / se
    return {
        "difference": diff,
        "se": se,
        "z": z,
        "ci_low": diff - crit * se,
        "ci_high": diff + crit * se,
        "p_value": seq.p_value(plan, z, n_eff, alpha),
        "mde": seq.mde(plan, se, n_eff, alpha),
    }


def shift_comparison(
    metric: str,
    control: Sequence[float],
    treatment: Sequence[float],
    *,
    names: tuple[str, str] = ("control", "treatment"),
    direction: Direction = "lower",
    plan: seq.Plan | None = None,
    alpha: float | None = None,
) -> Comparison:
    """Mann-Whitney U with the Hodges-Lehmann shift and its Moses interval, on every row.

    Values are the medians; the difference is the shift (median of ``treatment - control``
    pairwise differences); the MDE is the normal approximation scaled by the pooled standard
    deviation and the test's asymptotic relative efficiency (3/pi).
    """
    import numpy as np

    plan = plan or seq.Plan()
    alpha = plan.alpha if alpha is None else alpha
    test = "Mann-Whitney U, Hodges-Lehmann shift, Moses interval"
    a = np.sort(np.asarray(control, dtype=float))
    b = np.sort(np.asarray(treatment, dtype=float))
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return _empty(metric, test, names, n1, n2, _median(a), _median(b), alpha, "request", (n1, n2))
    u, sd = u_statistic(a, b)
    n_eff = harmonic_units(n1, n2)
    crit = seq.critical_z(plan, n_eff, alpha)
    z = (u - n1 * n2 / 2) / sd if sd > 0 else 0.0
    shift = hodges_lehmann(a, b)
    low, high = moses_interval(a, b, crit, tie_sd=sd)
    pooled = float(np.sqrt((a.var(ddof=1) * (n1 - 1) + b.var(ddof=1) * (n2 - 1)) / (n1 + n2 - 2)))
    se = pooled * math.sqrt(1 / n1 + 1 / n2) / math.sqrt(3 / math.pi)
    return Comparison(
        metric,
        test,
        names[0],
        names[1],
        n1,
        n2,
        float(np.median(a)),
        float(np.median(b)),
        shift,
        low,
        high,
        seq.p_value(plan, z, n_eff, alpha),
        u,
        seq.mde(plan, se, n_eff, alpha),
        alpha,
        verdict(low, high, shift, direction=direction),
        unit="request",
        level=1 - alpha,
        requests=(n1, n2),
    )


def _median(x: Any) -> float:
    import numpy as np

    return float(np.median(x)) if len(x) else math.nan


def _empty(
    metric: str,
    test: str,
    names: tuple[str, str],
    n1: int,
    n2: int,
    v1: float,
    v2: float,
    alpha: float,
    unit: str,
    requests: tuple[int, int],
) -> Comparison:
    diff = v2 - v1 if not (math.isnan(v1) or math.isnan(v2)) else math.nan
    return Comparison(
        metric,
        test,
        names[0],
        names[1],
        n1,
        n2,
        v1,
        v2,
        diff,
        None,
        None,
        None,
        None,
        None,
        alpha,
        "not yet significant",
        unit=unit,
        level=1 - alpha,
        requests=requests,
    )
