"""User models for the server-level rollout tests, saved with the ``python`` flavor."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd


class ThresholdModel:
    """Predicts 1 where ``feature`` exceeds ``threshold`` (a stand-in for a trained model)."""

    def __init__(self, feature: str, threshold: float = 0.5) -> None:
        self.feature = feature
        self.threshold = threshold
        self.feature_names = [feature]

    def get_params(self) -> dict[str, object]:
        return {"feature": self.feature, "threshold": self.threshold}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame[self.feature].to_numpy(dtype=float) > self.threshold).astype(int)


class GatedModel(ThresholdModel):
    """Blocks until the file ``gate`` exists (at most 60 s), then answers, or raises if ``fail``."""

    def __init__(self, feature: str, gate: str, fail: bool = False, threshold: float = 0.5) -> None:
        super().__init__(feature, threshold)
        self.gate = gate
        self.fail = fail

    def get_params(self) -> dict[str, object]:
        return {"feature": self.feature, "gate": self.gate, "fail": self.fail, "threshold": self.threshold}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        deadline = time.monotonic() + 60
        while not Path(self.gate).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.fail:
            raise RuntimeError("shadow model exploded")
        return super().predict(frame)


class SlowModel(ThresholdModel):
    """Answers like :class:`ThresholdModel`, ``delay`` seconds late (a version too slow to ship)."""

    def __init__(self, feature: str, delay: float, threshold: float = 0.5) -> None:
        super().__init__(feature, threshold)
        self.delay = delay

    def get_params(self) -> dict[str, object]:
        return {"feature": self.feature, "delay": self.delay, "threshold": self.threshold}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(self.delay)
        return super().predict(frame)
