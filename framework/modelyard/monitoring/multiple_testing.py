"""Multiple-testing control across the features of one window.

Judging 20 features at alpha = 0.05 each raises at least one false alarm on 64% of unchanged
windows; adjusting the p-values controls that. ``bh`` (Benjamini-Hochberg) controls the false
discovery rate, ``bonferroni`` and ``holm`` the family-wise error rate, ``none`` leaves them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from modelyard.errors import MonitoringError

Correction = Literal["bh", "bonferroni", "holm", "none"]
CORRECTIONS: tuple[str, ...] = ("bh", "bonferroni", "holm", "none")


def adjust(p_values: Sequence[float] | np.ndarray, method: str = "bh") -> np.ndarray:
    """Adjusted p-values, same order as given; compare them with alpha directly. NaNs stay NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    if method == "none":
        adj = q.copy()
    elif method == "bonferroni":
        adj = np.minimum(q * m, 1.0)
    elif method == "holm":
        order = np.argsort(q)
        stepped = np.maximum.accumulate(q[order] * (m - np.arange(m)))
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
    elif method == "bh":
        order = np.argsort(q)[::-1]  # largest first
        ranks = m - np.arange(m)  # rank of each, largest first
        stepped = np.minimum.accumulate(q[order] * m / ranks)
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
    else:
        raise MonitoringError(
            f"unknown multiple-testing correction {method!r}; choose one of: {', '.join(CORRECTIONS)}"
        )
    out[ok] = adj
    return out
