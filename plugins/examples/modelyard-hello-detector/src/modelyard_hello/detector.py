"""The mean-shift detector: is the current mean further than ``k`` standard errors from the reference?

For a feature with reference mean ``mu`` and standard deviation ``sigma`` and a window of
``n`` non-missing values with mean ``m``, the statistic is ``z = |m - mu| / (sigma / sqrt(n))``;
the feature drifts when ``z > k``. The two-sided normal p-value is reported too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from modelyard.monitoring.detector import Detector
from modelyard.monitoring.results import DetectorResult

if TYPE_CHECKING:
    import pandas as pd


class MeanShiftConfig(BaseModel):
    """Settings of ``mean-shift`` (the ``settings:`` mapping under ``detector:`` in modelyard.yaml)."""

    model_config = ConfigDict(extra="forbid")

    k: float = Field(4.0, gt=0, description="drift when the mean moved by more than k standard errors")
    min_rows: int = Field(30, ge=2, description="windows with fewer non-missing values are not judged")


class MeanShiftDetector(Detector):
    """Drift of a numeric feature's mean, in units of the reference standard error."""

    kind = "drift"
    name = "mean-shift"

    def __init__(self, config: MeanShiftConfig | None = None) -> None:
        super().__init__(config or MeanShiftConfig())

    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        """One result per numeric feature; windows too small to judge are reported, not flagged."""
        config: MeanShiftConfig = self.config
        results = []
        for name in self._features(current, features, kinds=("numeric",)):
            ref = self.reference.feature(name)
            values = current[name].dropna().astype(float)
            n = int(values.size)
            mean = float(values.mean()) if n else math.nan
            std = float(ref.std or 0.0)
            if n < config.min_rows or ref.mean is None:
                z, p_value, drifted = math.nan, None, False
            elif std == 0.0:
                z = 0.0 if mean == ref.mean else math.inf
                p_value, drifted = (1.0 if z == 0.0 else 0.0), z > config.k
            else:
                z = abs(mean - float(ref.mean)) / (std / math.sqrt(n))
                p_value = math.erfc(z / math.sqrt(2.0))
                drifted = z > config.k
            results.append(
                DetectorResult(
                    detector=self.name,
                    feature=name,
                    statistic="mean_shift_z",
                    value=z,
                    p_value=p_value,
                    threshold=config.k,
                    drifted=bool(drifted),
                    n_reference=int(ref.count),
                    n_current=n,
                    details={"reference_mean": ref.mean, "current_mean": mean, "reference_std": std},
                )
            )
        return results
