"""The Hodges-Lehmann shift between two samples and its distribution-free (Moses) interval, on all rows.

The shift is the median of the ``m * n`` pairwise differences ``b_j - a_i``; the Moses
interval is ``[d(k), d(mn - k + 1)]`` of the sorted differences, where ``k`` is the
Mann-Whitney critical count (Moses 1953; Hollander and Wolfe, "Nonparametric Statistical
Methods", section 4.3). Both need order statistics of the ``m * n`` differences, which are
never materialised beyond a million pairs: :func:`kth_difference` finds the k-th smallest
by bisection on the value, counting the differences at or below a candidate with one
``searchsorted`` over the sorted samples (``O((m + n) log n)`` per step), until at most a
few thousand differences remain between the bounds; those are enumerated and the exact one
picked. About 60 steps on floats, so ~0.2 s for 60,000 rows per arm.
"""

from __future__ import annotations

import math
from typing import Any

_BRUTE_FORCE_PAIRS = 1_000_000


def _count_at_most(a: Any, b: Any, d: float) -> int:
    """``#{(i, j): b_j - a_i <= d}`` for sorted ``a``, ``b``."""
    import numpy as np

    return int(len(a) * len(b) - np.searchsorted(a, b - d, side="left").sum())


def kth_difference(a: Any, b: Any, k: int) -> float:
    """The k-th smallest (1-based) of ``b_j - a_i`` over all pairs; ``a`` and ``b`` sorted ascending."""
    import numpy as np

    m, n = len(a), len(b)
    total = m * n
    if not 1 <= k <= total:
        raise ValueError(f"k={k} outside 1..{total}")
    if total <= _BRUTE_FORCE_PAIRS:
        diffs = np.subtract.outer(b, a).ravel()
        return float(np.partition(diffs, k - 1)[k - 1])
    lo = float(b[0] - a[-1]) - 1.0  # below every difference: count(lo) == 0 < k
    hi = float(b[-1] - a[0])  # the largest difference: count(hi) == total >= k
    c_lo, c_hi = 0, total
    enough = 4 * (m + n)
    while c_hi - c_lo > enough:
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:  # no float between: everything left is (numerically) hi
            return hi
        c = _count_at_most(a, b, mid)
        if c >= k:
            hi, c_hi = mid, c
        else:
            lo, c_lo = mid, c
    # enumerate the differences in (lo, hi]: for each b_j, the a_i with b_j - hi <= a_i < b_j - lo
    start = np.searchsorted(a, b - hi, side="left")
    stop = np.searchsorted(a, b - lo, side="left")
    lengths = stop - start
    idx_b = np.repeat(np.arange(n), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx_a = np.repeat(start, lengths) + offsets
    window = np.sort(b[idx_b] - a[idx_a])
    pos = min(max(k - c_lo - 1, 0), len(window) - 1)
    return float(window[pos]) if len(window) else hi


def hodges_lehmann(a: Any, b: Any) -> float:
    """Median of all pairwise differences ``b_j - a_i`` (``a``, ``b`` sorted)."""
    total = len(a) * len(b)
    if total % 2:
        return kth_difference(a, b, total // 2 + 1)
    return 0.5 * (kth_difference(a, b, total // 2) + kth_difference(a, b, total // 2 + 1))


def moses_interval(a: Any, b: Any, z: float, *, tie_sd: float | None = None) -> tuple[float, float]:
    """``[d(k), d(mn - k + 1)]`` with ``k = ceil(mn/2 - z * sd(U))`` (normal approximation of U).

    ``z`` is the critical value the test uses (fixed or sequential) and ``k`` is rounded up,
    so without ties at zero the interval excludes 0 exactly when ``|U - mn/2| > z * sd``;
    ``-inf``/``inf`` when the sample is too small for any pair to be excluded at that level.
    """
    m, n = len(a), len(b)
    total = m * n
    sd = tie_sd if tie_sd is not None else math.sqrt(total * (m + n + 1) / 12.0)
    k = math.ceil(total / 2 - z * sd)
    if k < 1:
        return -math.inf, math.inf
    return kth_difference(a, b, k), kth_difference(a, b, total - k + 1)


def u_statistic(a: Any, b: Any) -> tuple[float, float]:
    """Mann-Whitney ``U`` of ``b`` over ``a`` (ties count one half) and its tie-corrected null sd."""
    import numpy as np
    from scipy import stats

    m, n = len(a), len(b)
    ranks = stats.rankdata(np.concatenate([a, b]))
    u = float(ranks[m:].sum() - n * (n + 1) / 2)
    _, counts = np.unique(ranks, return_counts=True)
    big_n = m + n
    tie = float((counts**3 - counts).sum()) / (big_n * (big_n - 1))
    sd = math.sqrt(m * n / 12.0 * ((big_n + 1) - tie))
    return u, sd
