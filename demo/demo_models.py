"""A deliberately bad model for the quickstart's rollout act, saved with the ``python`` flavor."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd


class SlowAcceptance:
    """Predicts acceptance from ``conv_rate`` alone, ``delay`` seconds late: a version too slow to ship."""

    def __init__(self, delay: float = 0.35, threshold: float = 0.5) -> None:
        self.delay = delay
        self.threshold = threshold
        self.feature_names = ["conv_rate"]

    def get_params(self) -> dict[str, float]:
        return {"delay": self.delay, "threshold": self.threshold}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(self.delay)
        return (frame["conv_rate"].to_numpy(dtype=float) > self.threshold).astype(int)
