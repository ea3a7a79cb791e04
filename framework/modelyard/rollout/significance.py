"""Statistical comparison of a treatment variant against the control, from scipy.

Each test returns a :class:`Comparison`: the two estimates, their difference with a
confidence interval, the p-value, the minimum detectable effect (MDE) for the sample so
far (the smallest true difference this sample would detect with ``power`` at ``alpha``)
and a plain verdict:

- ``better`` / ``worse``: significant at ``alpha``, in the direction the metric prefers;
- ``different``: significant for a metric without a preferred direction;
- ``not yet significant``: no significant difference, and the MDE says how large a
  difference would have been needed.

Which test fits which metric: proportions (error rate, accuracy, positive rate) use the
two-proportion z-test; roughly normal means (regression predictions, absolute errors)
Welch's t-test; skewed values (latency) the Mann-Whitney U test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

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

    @property
    def relative_difference(self) -> float | None:
        return None if self.control_value == 0 else self.difference / abs(self.control_value)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["relative_difference"] = self.relative_difference
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


def verdict(p_value: float | None, difference: float, *, alpha: float, direction: Direction) -> str:
    """``better`` / ``worse`` / ``different`` / ``not yet significant`` (see the module docstring)."""
    if p_value is None or math.isnan(p_value) or p_value >= alpha or difference == 0:
        return "not yet significant"
    if direction == "none":
        return "different"
    improved = difference > 0 if direction == "higher" else difference < 0
    return "better" if improved else "worse"


def _z(q: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(q))


def two_proportions(
    metric: str,
    successes: tuple[int, int],
    totals: tuple[int, int],
    *,
    names: tuple[str, str] = ("control", "treatment"),
    direction: Direction = "higher",
    alpha: float = 0.05,
    power: float = 0.8,
) -> Comparison:
    """Two-proportion z-test (pooled variance for the test, unpooled for the interval)."""
    from scipy import stats

    (x1, x2), (n1, n2) = successes, totals
    if n1 == 0 or n2 == 0:
        return _empty(
            metric,
            "two-proportion z-test",
            names,
            n1,
            n2,
            x1 / n1 if n1 else math.nan,
            x2 / n2 if n2 else math.nan,
            alpha,
        )
    p1, p2 = x1 / n1, x2 / n2
    diff = p2 - p1
    pooled = (x1 + x2) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    if se_pooled == 0:
        z, p = (0.0, 1.0) if diff == 0 else (math.inf, 0.0)
    else:
        z = diff / se_pooled
        p = float(2 * stats.norm.sf(abs(z)))
    half = _z(1 - alpha / 2) * se
    mde = (_z(1 - alpha / 2) + _z(power)) * se_pooled
    return Comparison(
        metric,
        "two-proportion z-test",
        names[0],
        names[1],
        n1,
        n2,
        p1,
        p2,
        diff,
        diff - half,
        diff + half,
        p,
        z,
        mde,
        alpha,
        verdict(p, diff, alpha=alpha, direction=direction),
    )


def welch(
    metric: str,
    control: Sequence[float],
    treatment: Sequence[float],
    *,
    names: tuple[str, str] = ("control", "treatment"),
    direction: Direction = "none",
    alpha: float = 0.05,
    power: float = 0.8,
) -> Comparison:
    """Welch's t-test of the means, with a Welch-Satterthwaite confidence interval."""
    import numpy as np
    from scipy import stats

    a = np.asarray(control, dtype=float)
    b = np.asarray(treatment, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return _empty(metric, "Welch's t-test", names, n1, n2, _mean(a), _mean(b), alpha)
    m1, m2 = float(a.mean()), float(b.mean())
    v1, v2 = float(a.var(ddof=1)) / n1, float(b.var(ddof=1)) / n2
    se = math.sqrt(v1 + v2)
    diff = m2 - m1
    if se == 0:
        t, p, df = (0.0, 1.0, n1 + n2 - 2) if diff == 0 else (math.inf, 0.0, n1 + n2 - 2)
    else:
        res = stats.ttest_ind(b, a, equal_var=False)
        t, p = float(res.statistic), float(res.pvalue)
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    tq = float(stats.t.ppf(1 - alpha / 2, df))
    mde = (tq + float(stats.t.ppf(power, df))) * se
    return Comparison(
        metric,
        "Welch's t-test",
        names[0],
        names[1],
        n1,
        n2,
        m1,
        m2,
        diff,
        diff - tq * se,
        diff + tq * se,
        p,
        t,
        mde,
        alpha,
        verdict(p, diff, alpha=alpha, direction=direction),
    )


def mann_whitney(
    metric: str,
    control: Sequence[float],
    treatment: Sequence[float],
    *,
    names: tuple[str, str] = ("control", "treatment"),
    direction: Direction = "lower",
    alpha: float = 0.05,
    power: float = 0.8,
) -> Comparison:
    """Mann-Whitney U test; values are medians, the difference is the Hodges-Lehmann shift.

    The interval is a percentile bootstrap of the Hodges-Lehmann estimate (fixed seed);
    the MDE is the normal approximation scaled by the pooled standard deviation and the
    test's asymptotic relative efficiency (3/pi).
    """
    import numpy as np
    from scipy import stats

    a = np.asarray(control, dtype=float)
    b = np.asarray(treatment, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return _empty(metric, "Mann-Whitney U", names, n1, n2, _median(a), _median(b), alpha)
    res = stats.mannwhitneyu(b, a, alternative="two-sided")
    shift = _hodges_lehmann(a, b)
    rng = np.random.default_rng(0)
    boots = [_hodges_lehmann(rng.choice(a, min(n1, 400)), rng.choice(b, min(n2, 400))) for _ in range(200)]
    lo, hi = (float(x) for x in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    sd = float(np.sqrt((a.var(ddof=1) * (n1 - 1) + b.var(ddof=1) * (n2 - 1)) / (n1 + n2 - 2)))
    mde = (_z(1 - alpha / 2) + _z(power)) * sd * math.sqrt(1 / n1 + 1 / n2) / math.sqrt(3 / math.pi)
    p = float(res.pvalue)
    return Comparison(
        metric,
        "Mann-Whitney U",
        names[0],
        names[1],
        n1,
        n2,
        float(np.median(a)),
        float(np.median(b)),
        shift,
        lo,
        hi,
        p,
        float(res.statistic),
        mde,
        alpha,
        verdict(p, shift, alpha=alpha, direction=direction),
    )


def _hodges_lehmann(a: Any, b: Any) -> float:
    """Median of all pairwise differences b_j - a_i (subsampled above 1e6 pairs)."""
    import numpy as np

    if len(a) * len(b) > 1_000_000:
        rng = np.random.default_rng(1)
        a = rng.choice(a, 1000, replace=False) if len(a) > 1000 else a
        b = rng.choice(b, 1000, replace=False) if len(b) > 1000 else b
    return float(np.median(np.subtract.outer(np.asarray(b), np.asarray(a))))


def _mean(x: Any) -> float:
    return float(x.mean()) if len(x) else math.nan


def _median(x: Any) -> float:
    import numpy as np

    return float(np.median(x)) if len(x) else math.nan


def _empty(
    metric: str, test: str, names: tuple[str, str], n1: int, n2: int, v1: float, v2: float, alpha: float
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
    )
