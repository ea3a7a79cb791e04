"""Generated frames with known drift, shared by the monitoring tests and benchmarks' truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

SHARES = np.array([0.4, 0.3, 0.2, 0.1])
LEVELS = np.array(["w", "x", "y", "z"])


def make_frame(n: int, *, seed: int, shift: float = 0.0, share_shift: float = 0.0) -> pd.DataFrame:
    """Two numeric and two categorical features; ``num_a`` and ``cat_a`` carry the shifts."""
    rng = np.random.default_rng(seed)
    shifted = SHARES + np.array([share_shift, -share_shift, 0.0, 0.0])
    return pd.DataFrame(
        {
            "num_a": rng.normal(shift, 1.0, size=n),
            "num_b": rng.exponential(2.0, size=n),
            "cat_a": rng.choice(LEVELS, size=n, p=shifted),
            "cat_b": rng.choice(LEVELS, size=n, p=SHARES),
        }
    )


FEATURES = ["num_a", "num_b", "cat_a", "cat_b"]
