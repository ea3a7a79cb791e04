"""Kolmogorov-Smirnov and Wasserstein-1 distances from two sorted samples, in one merge pass.

Both statistics are functionals of the two empirical CDFs on the merged sample, so they are
computed together: ``D = sup |F_a - F_b|`` and ``W = integral |F_a - F_b| dx``. The result equals
``scipy.stats.ks_2samp(a, b).statistic`` and ``scipy.stats.wasserstein_distance(a, b)``.
"""

from __future__ import annotations

import numpy as np

#: Below this m*n the exact KS distribution is used (through scipy); above it, the asymptotic one.
EXACT_KS_MAX_PRODUCT = 10_000


def ks_wasserstein(a_sorted: np.ndarray, b_sorted: np.ndarray) -> tuple[float, float]:
    """``(ks_statistic, wasserstein_distance)`` of two ascending, NaN-free, non-empty samples."""
    m, n = a_sorted.size, b_sorted.size
    if m == 0 or n == 0:
        raise ValueError("both samples must be non-empty")
    total = m + n
    # Where each element of a lands in the merged order (after the equal elements of b).
    pos_a = np.searchsorted(b_sorted, a_sorted, side="right") + np.arange(m)
    is_a = np.zeros(total, dtype=bool)
    is_a[pos_a] = True
    merged = np.empty(total, dtype=np.float64)
    merged[pos_a] = a_sorted
    merged[~is_a] = b_sorted
    cum_a = np.cumsum(is_a, dtype=np.int64)
    cum_b = np.arange(1, total + 1, dtype=np.int64) - cum_a
    diff = np.abs(cum_a / m - cum_b / n)
    gaps = np.diff(merged)
    # Right-continuous ECDFs are only right at the last element of a run of equal values.
    last_of_run = np.empty(total, dtype=bool)
    last_of_run[:-1] = gaps != 0
    last_of_run[-1] = True
    d = float(diff[last_of_run].max())
    w = float((diff[:-1] * gaps).sum())  # not np.dot: BLAS threads cost more than they save here
    return d, w


def ks_pvalue(
    d: float, m: int, n: int, *, a_sorted: np.ndarray | None = None, b_sorted: np.ndarray | None = None
) -> float:
    """Two-sided p-value of a two-sample KS statistic ``d`` for sample sizes ``m`` and ``n``.

    Uses Smirnov's asymptotic distribution (as ``scipy.stats.ks_2samp(..., method="asymp")``);
    for tiny samples (``m * n`` below :data:`EXACT_KS_MAX_PRODUCT`) with the samples given, the
    exact distribution from scipy.
    """
    from scipy import stats

    if m * n < EXACT_KS_MAX_PRODUCT and a_sorted is not None and b_sorted is not None:
        return float(stats.ks_2samp(a_sorted, b_sorted, method="exact").pvalue)
    big, small = sorted((float(m), float(n)), reverse=True)
    en = big * small / (big + small)
    return float(np.clip(stats.distributions.kstwo.sf(d, np.round(en)), 0.0, 1.0))
