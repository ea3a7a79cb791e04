"""How a z-statistic becomes a verdict: fixed horizon or always-valid (sequential).

Every comparison of the experiment report reduces to an estimate with a standard error
(``z = estimate / se``). What differs is the critical value:

fixed horizon
    ``z`` against the normal quantile ``z(1 - alpha/2)``. Valid only when read once, at the
    planned sample size; reading it repeatedly while data arrive (peeking) inflates the
    false-positive rate (five looks at alpha 0.05 give about 14%).
sequential (the default)
    the mixture sequential probability ratio test (mSPRT, Johari, Pekelis and Walsh 2017,
    "Always valid inference"; Robbins' normal mixture). With ``V = se**2`` and a normal
    mixing distribution of variance ``tau**2`` over the true difference, the likelihood ratio
    is ``sqrt(V / (V + tau2)) * exp(z**2 * tau2 / (2 * (V + tau2)))``; its reciprocal is a
    p-value that stays valid however often it is read, and inverting it gives a confidence
    sequence: the interval ``estimate +- se * critical_z`` covers the true difference at
    every look simultaneously with probability ``1 - alpha``. The p-value is below alpha
    exactly when the interval excludes 0, so the verdict and the interval never disagree.

``tau2`` is chosen from the plan: the mixing standard deviation is the minimum detectable
effect of a fixed test at the planned number of units (``planned_units`` per arm), which
makes the sequential test most powerful around that sample size. Only the ratio
``r = tau2 / V`` matters, and since ``V`` shrinks like ``1/n``, ``r = planned_factor * n /
planned_units`` where ``planned_factor = (z(1-alpha/2) + z(power))**2``.

Several comparisons (metrics x arms) are corrected with Bonferroni: each is tested and its
interval drawn at ``alpha / m``. Bonferroni keeps intervals and verdicts consistent (Holm
does not give intervals) and holds for confidence sequences as well as for fixed tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Design = Literal["sequential", "fixed"]

#: Units per arm the sequential test is tuned for when nothing is declared.
DEFAULT_PLANNED_UNITS = 1000


@dataclass(frozen=True)
class Plan:
    """How comparisons are read: the design, the planned units per arm, alpha and power."""

    design: Design = "sequential"
    planned_units: int = DEFAULT_PLANNED_UNITS
    alpha: float = 0.05
    power: float = 0.8

    def describe(self) -> str:
        if self.design == "sequential":
            return (
                "sequential (mSPRT, always-valid p-values and confidence sequences; "
                f"tuned for {self.planned_units} units per arm)"
            )
        return f"fixed horizon at {self.planned_units} units per arm"


def normal_quantile(q: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(q))


def _ratio(plan: Plan, n_units: float, alpha: float) -> float:
    """``tau2 / V`` at ``n_units`` units per arm (see the module docstring)."""
    factor = (normal_quantile(1 - alpha / 2) + normal_quantile(plan.power)) ** 2
    return factor * max(n_units, 1.0) / max(plan.planned_units, 1)


def critical_z(plan: Plan, n_units: float, alpha: float) -> float:
    """The |z| beyond which a comparison is significant at ``alpha`` (already corrected)."""
    if plan.design == "fixed":
        return normal_quantile(1 - alpha / 2)
    r = _ratio(plan, n_units, alpha)
    return math.sqrt((1 + r) / r * (2 * math.log(1 / alpha) + math.log(1 + r)))


def p_value(plan: Plan, z: float, n_units: float, alpha: float) -> float:
    """Two-sided p-value of ``z``: normal for a fixed horizon, always-valid (1 / mixture LR) else."""
    from scipy import stats

    if math.isinf(z):
        return 0.0
    if plan.design == "fixed":
        return float(2 * stats.norm.sf(abs(z)))
    r = _ratio(plan, n_units, alpha)
    log_lr = -0.5 * math.log(1 + r) + z * z * r / (2 * (1 + r))
    return float(min(1.0, math.exp(-log_lr)))


def mde(plan: Plan, se: float, n_units: float, alpha: float) -> float:
    """The true difference this design would detect with ``plan.power`` at the current size."""
    return (critical_z(plan, n_units, alpha) + normal_quantile(plan.power)) * se


def bonferroni(alpha: float, m: int) -> float:
    """Per-comparison level of a family of ``m`` comparisons."""
    return alpha / max(m, 1)
