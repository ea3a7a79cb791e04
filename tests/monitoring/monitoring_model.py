"""A tiny python-flavor model for the monitor-run tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


class AcceptsWhenRated:
    """Predicts acceptance when the driver's rating is at least ``cut``."""

    def __init__(self, cut: float = 4.5, feature_names: list[str] | None = None) -> None:
        self.cut = cut
        self.feature_names = feature_names or ["rating"]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame["rating"].fillna(0).to_numpy() >= self.cut).astype(int)
