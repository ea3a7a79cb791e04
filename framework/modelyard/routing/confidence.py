"""One-sided confidence bounds the guards decide with: proportions, their difference, quantiles.

Each function returns ``(low, high)`` such that the true value is ``>= low`` with probability
``confidence`` and, separately, ``<= high`` with probability ``confidence``. A guard fails
when ``low`` is above its threshold (the data show the threshold is exceeded), passes when
``high`` is at or below it, and holds otherwise (the data cannot tell yet).

- a proportion: Clopper-Pearson (exact binomial, never below nominal coverage);
- a difference of proportions: Newcombe's hybrid score interval from two Wilson intervals
  (Newcombe 1998, method 10), which behaves with zero events where the Wald interval does not;
- a quantile: order statistics, distribution-free. The number of observations below the true
  q-quantile is Binomial(n, q), so ``X(l)`` with ``P(Bin(n, q) >= l) >= confidence`` is a lower
  bound and ``X(u)`` with ``P(Bin(n, q) < u) >= confidence`` an upper bound; when ``u > n`` the
  upper bound is infinite (a p99 from fewer than 299 samples cannot be shown to be below
  anything at 95%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def proportion(x: int, n: int, confidence: float) -> tuple[float, float]:
    """Clopper-Pearson one-sided bounds of ``x`` successes in ``n`` trials."""
    from scipy import stats

    if n <= 0:
        return 0.0, 1.0
    low = float(stats.beta.ppf(1 - confidence, x, n - x + 1)) if x > 0 else 0.0
    high = float(stats.beta.ppf(confidence, x + 1, n - x)) if x < n else 1.0
    return low, high


def _wilson(x: int, n: int, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def difference(x1: int, n1: int, x2: int, n2: int, confidence: float) -> tuple[float, float]:
    """Bounds of ``p2 - p1`` (Newcombe's hybrid score method)."""
    from scipy import stats

    if n1 <= 0 or n2 <= 0:
        return -1.0, 1.0
    z = float(stats.norm.ppf(confidence))
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = _wilson(x1, n1, z)
    l2, u2 = _wilson(x2, n2, z)
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return low, high


def quantile(values: Sequence[float], q: float, confidence: float) -> tuple[float, float]:
    """Order-statistic bounds of the ``q``-quantile of the distribution ``values`` came from."""
    import numpy as np
    from scipy import stats

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return -math.inf, math.inf
    # lower: the largest l with P(Bin(n, q) >= l) >= confidence, i.e. cdf(l - 1) <= 1 - confidence
    cdf = stats.binom.cdf(np.arange(n + 1), n, q)
    below = np.nonzero(cdf <= 1 - confidence)[0]
    low = float(x[below[-1]]) if len(below) else -math.inf  # l - 1 = below[-1] -> X(l) = x[l - 1]
    # upper: the smallest u with P(Bin(n, q) <= u - 1) >= confidence
    above = np.nonzero(cdf >= confidence)[0]
    u = int(above[0]) + 1 if len(above) else n + 1
    high = float(x[u - 1]) if u <= n else math.inf
    return low, high
