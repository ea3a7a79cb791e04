"""The latency comparison by hand: Mann-Whitney U (scipy), Hodges-Lehmann shift and Moses interval, no modelyard.

The same figures ``modelyard.rollout.significance.shift_comparison`` reports with a fixed-horizon
plan, computed independently: U and its p-value from ``scipy.stats.mannwhitneyu`` (normal
approximation, tie-corrected, no continuity correction); the shift is the median of all
``m * n`` pairwise differences ``b_j - a_i`` and the interval ``[d(k), d(mn - k + 1)]`` with
``k = ceil(mn/2 - z sd(U))``, each order statistic found by bisection on the value (counting the
differences at or below a candidate with ``searchsorted``) and then taken as the largest
difference at or below the bound, so no pair is ever materialised.

    python bench/baselines/shift_by_hand.py [--rows 59000]
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from scipy import stats


def order_statistic(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """The k-th smallest (1-based) of ``b_j - a_i``; ``a`` and ``b`` sorted ascending."""
    m = len(a)

    def at_most(d: float) -> int:
        return int((m - np.searchsorted(a, b - d, side="left")).sum())

    lo, hi = float(b[0] - a[-1]) - 1.0, float(b[-1] - a[0])
    while True:
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:
            break
        if at_most(mid) >= k:
            hi = mid
        else:
            lo = mid
    i = np.searchsorted(a, b - hi, side="left")  # per b_j, the smallest a_i with b_j - a_i <= hi
    ok = i < m
    return float((b[ok] - a[i[ok]]).max())


def compare(control: np.ndarray, treatment: np.ndarray, alpha: float = 0.05) -> dict[str, float]:
    a, b = np.sort(control[~np.isnan(control)]), np.sort(treatment[~np.isnan(treatment)])
    m, n = len(a), len(b)
    total = m * n
    test = stats.mannwhitneyu(b, a, method="asymptotic", use_continuity=False)
    big_n = m + n
    sd = math.sqrt(total / 12.0 * (big_n + 1) * stats.tiecorrect(stats.rankdata(np.concatenate([a, b]))))
    if total % 2:
        shift = order_statistic(a, b, total // 2 + 1)
    else:
        shift = 0.5 * (order_statistic(a, b, total // 2) + order_statistic(a, b, total // 2 + 1))
    k = math.ceil(total / 2 - stats.norm.ppf(1 - alpha / 2) * sd)
    low, high = order_statistic(a, b, k), order_statistic(a, b, total - k + 1)
    return {"u": float(test.statistic), "p": float(test.pvalue), "shift": shift, "low": low, "high": high}


def samples(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's two arms: lognormal latencies, the treatment shifted by 0.3 ms."""
    rng = np.random.default_rng(0)
    return rng.lognormal(3, 0.4, rows), rng.lognormal(3, 0.4, rows) + 0.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=59_000)
    args = parser.parse_args()
    print(json.dumps(compare(*samples(args.rows))))


if __name__ == "__main__":
    main()
