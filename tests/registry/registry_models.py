"""Tiny user models for the registry tests, saved with the ``python`` flavor (needs a .py file)."""

from __future__ import annotations

import numpy as np
import pandas as pd


class ThresholdModel:
    """Predicts 1 where ``feature`` exceeds ``threshold``."""

    def __init__(self, threshold: float = 0.5, feature: str = "x") -> None:
        self.threshold = threshold
        self.feature = feature
        self.feature_names = [feature]

    def get_params(self) -> dict[str, object]:
        return {"threshold": self.threshold, "feature": self.feature}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame[self.feature].to_numpy(dtype=float) > self.threshold).astype(int)
