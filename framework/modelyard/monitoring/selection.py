"""The default drift test for a column, by its type and the sample sizes.

With large samples every p-value test flags trivial shifts (a 0.01-sd move is "significant" at
a million rows); with small samples effect sizes are mostly noise. So the default decides on
both: a feature drifts when a two-sample significance test rejects (after multiple-testing
correction across features) AND an effect size exceeds both a minimum that counts as
meaningful and the calibrated no-drift noise floor for that window size.

=========== ======================================== ============================================
column      significance test                        effect size (minimum)
=========== ======================================== ============================================
numeric     Kolmogorov-Smirnov, two-sample           Wasserstein / reference std (0.05)
categorical chi-squared, 2 x K contingency; sparse   Jensen-Shannon distance, base 2 (0.025)
            categories pooled (expected count < 5)
=========== ======================================== ============================================

Windows with fewer than :data:`MIN_ROWS` non-missing values get no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Below this many non-missing values in the window, a feature is not judged.
MIN_ROWS = 30
#: Minimum effect that counts as drift: 0.05 reference standard deviations of transport, and a
#: Jensen-Shannon distance of 0.025 (a 5-point share move between two categories gives >= 0.04).
MIN_WASSERSTEIN_NORM = 0.05
MIN_JENSEN_SHANNON = 0.025
#: Cochran's rule: pool categories whose expected count is below this before the chi-squared test.
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class DriftMethod:
    """The test and effect size chosen for one column, and why."""

    test: str
    effect: str
    min_effect: float
    min_expected: float
    reason: str


def default_method(
    kind: str,
    n_current: int,
    *,
    n_categories: int = 0,
    min_wasserstein: float = MIN_WASSERSTEIN_NORM,
    min_jensen_shannon: float = MIN_JENSEN_SHANNON,
) -> DriftMethod | None:
    """The default method for a column of ``kind`` with ``n_current`` non-missing values, or ``None``."""
    if n_current < MIN_ROWS:
        return None
    if kind == "numeric":
        return DriftMethod(
            test="ks",
            effect="wasserstein_norm",
            min_effect=min_wasserstein,
            min_expected=0.0,
            reason="numeric: KS test and Wasserstein distance in reference standard deviations",
        )
    if kind == "categorical":
        sparse = n_categories * MIN_EXPECTED > n_current
        return DriftMethod(
            test="chi2",
            effect="jensen_shannon",
            min_effect=min_jensen_shannon,
            min_expected=MIN_EXPECTED,
            reason=(
                "categorical: two-sample chi-squared and Jensen-Shannon distance"
                + ("; many categories for the window size, sparse ones pooled" if sparse else "")
            ),
        )
    return None
