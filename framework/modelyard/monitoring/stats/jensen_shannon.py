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


def js_distance_rows(
    reference_counts: np.ndarray, current_counts: np.ndarray, *, base: float = 2.0
) -> np.ndarray:
    """:func:`js_distance` of each row pair of two 2-D count arrays (NaN where a row is empty)."""
    p = np.asarray(reference_counts, dtype=np.float64)
    q = np.asarray(current_counts, dtype=np.float64)
    ps, qs = p.sum(axis=1, keepdims=True), q.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p, q = p / ps, q / qs
        m = (p + q) / 2
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=1)
    divergence = (kl_p + kl_q) / 2 / np.log(base)
    out = np.sqrt(np.maximum(divergence, 0.0))
    out[(ps[:, 0] == 0) | (qs[:, 0] == 0)] = np.nan
    return out
