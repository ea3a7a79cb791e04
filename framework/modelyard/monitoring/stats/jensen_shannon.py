"""Jensen-Shannon distance between two discrete distributions (base 2: between 0 and 1)."""

from __future__ import annotations

import numpy as np


def js_distance(reference_counts: np.ndarray, current_counts: np.ndarray, *, base: float = 2.0) -> float:
    """The square root of the Jensen-Shannon divergence; equals ``scipy.spatial.distance.jensenshannon``."""
    p = np.asarray(reference_counts, dtype=np.float64)
    q = np.asarray(current_counts, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2

    def _kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log(x[nz] / m[nz])))

    divergence = (_kl(p) + _kl(q)) / 2 / np.log(base)
    return float(np.sqrt(max(divergence, 0.0)))
