"""A user model class for the python-flavor tests: saved as source + JSON params."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd


class SurgeRule:
    """Predicts 1 when the trip is long at a busy hour; probability from a logistic curve."""

    feature_names: ClassVar[list[str]] = ["distance_km", "hour"]

    def __init__(self, threshold_km: float, busy_hours: list[int], steepness: float = 1.0) -> None:
        self.threshold_km = threshold_km
        self.busy_hours = busy_hours
        self.steepness = steepness

    def get_params(self) -> dict:
        return {"threshold_km": self.threshold_km, "busy_hours": self.busy_hours, "steepness": self.steepness}

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        busy = frame["hour"].isin(self.busy_hours).to_numpy()
        return (frame["distance_km"].fillna(0).to_numpy() - self.threshold_km) * self.steepness + busy * 2.0

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        assert list(frame.columns) == self.feature_names, list(frame.columns)
        return (self._score(frame) > 0).astype(int)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self._score(frame)))
        return np.column_stack([1 - p, p])


class Opaque:
    """Holds state that is not JSON: the python flavor must refuse it."""

    def __init__(self) -> None:
        self.table = object()

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame))
