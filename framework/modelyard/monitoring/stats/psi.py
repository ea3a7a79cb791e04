"""Population stability index between two binned distributions."""

from __future__ import annotations

import numpy as np

#: Proportions are floored at this before taking logs, so an empty bin does not give infinity.
PSI_EPSILON = 1e-4


def psi(reference_counts: np.ndarray, current_counts: np.ndarray, *, epsilon: float = PSI_EPSILON) -> float:
    """``sum((c - r) * ln(c / r))`` over bins, with proportions floored at ``epsilon``."""
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    if r.sum() == 0 or c.sum() == 0:
        return float("nan")
    r = np.maximum(r / r.sum(), epsilon)
    c = np.maximum(c / c.sum(), epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_rows(
    reference_counts: np.ndarray, current_counts: np.ndarray, *, epsilon: float = PSI_EPSILON
) -> np.ndarray:
    """:func:`psi` of each row pair of two 2-D count arrays (NaN where a row is empty)."""
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    rs, cs = r.sum(axis=1, keepdims=True), c.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.maximum(r / rs, epsilon)
        c = np.maximum(c / cs, epsilon)
        out = np.sum((c - r) * np.log(c / r), axis=1)
    out[(rs[:, 0] == 0) | (cs[:, 0] == 0)] = np.nan
    return out
