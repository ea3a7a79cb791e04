"""An independent generator of long-tailed categorical columns (Zipf over thousands of levels)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def zipf_shares(levels: int, exponent: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, levels + 1) ** exponent
    return weights / weights.sum()


def zipf_column(n: int, levels: int, *, seed: int, shares: np.ndarray | None = None) -> pd.Series:
    """``n`` values of ``levels`` Zipf-distributed categories named ``k0`` (most frequent), ``k1``..."""
    rng = np.random.default_rng(seed)
    p = zipf_shares(levels) if shares is None else shares
    codes = rng.choice(levels, size=n, p=p)
    names = np.array([f"k{i}" for i in range(levels)], dtype=object)
    return pd.Series(names[codes])
