"""Two-sample chi-squared test on category counts (a 2 x K contingency table).

The reference counts are a *sample*, not exact population frequencies, so the test is the
test of homogeneity on the 2 x K table (``scipy.stats.chi2_contingency``), never a
goodness-of-fit test against reference shares taken as exact (which alarms on unchanged data
whenever the reference is not much larger than the window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Chi2Result:
    statistic: float
    p_value: float
    dof: int
    pooled: int  # how many sparse categories were pooled into one cell


def pool_sparse(
    reference_counts: np.ndarray, current_counts: np.ndarray, *, min_expected: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Pool categories whose smallest expected cell count is below ``min_expected`` into one column.

    Cochran's rule of thumb: the chi-squared approximation needs expected counts of about
    five or more. The pooled column is itself kept only if it is non-empty.
    """
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    total = r.sum() + c.sum()
    col = r + c
    min_row = min(r.sum(), c.sum())
    expected_min = col * min_row / total if total else col
    sparse = expected_min < min_expected
    n_sparse = int(sparse.sum())
    if n_sparse <= 1:
        return r, c, 0
    keep = ~sparse
    r2 = np.append(r[keep], r[sparse].sum())
    c2 = np.append(c[keep], c[sparse].sum())
    return r2, c2, n_sparse


def chi2_two_sample(
    reference_counts: np.ndarray,
    current_counts: np.ndarray,
    *,
    min_expected: float = 0.0,
    correction: bool = True,
) -> Chi2Result:
    """Chi-squared test of homogeneity of two count vectors over the same categories.

    Categories empty in both are dropped. With ``correction`` and one degree of freedom,
    Yates' continuity correction is applied (as scipy does by default).
    """
    from scipy import stats

    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    nonempty = (r + c) > 0
    r, c = r[nonempty], c[nonempty]
    pooled = 0
    if min_expected > 0:
        r, c, pooled = pool_sparse(r, c, min_expected=min_expected)
    k = r.size
    if k < 2 or r.sum() == 0 or c.sum() == 0:
        return Chi2Result(statistic=0.0, p_value=1.0, dof=0, pooled=pooled)
    observed = np.vstack([r, c])
    total = observed.sum()
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / total
    dof = k - 1
    delta = observed - expected
    if correction and dof == 1:
        direction = np.sign(delta)
        magnitude = np.minimum(0.5, np.abs(delta))
        delta = delta - direction * magnitude
    stat = float(np.sum(delta**2 / expected))
    return Chi2Result(statistic=stat, p_value=float(stats.chi2.sf(stat, dof)), dof=dof, pooled=pooled)
