"""Built-in drift detectors: the default (test + effect size) and one per statistic.

Config classes sit beside their detectors; every one forbids unknown keys.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from modelyard.monitoring.drift import DefaultDriftDetector, StatisticDetector
from modelyard.monitoring.multiple_testing import Correction
from modelyard.monitoring.selection import MIN_EXPECTED, MIN_JENSEN_SHANNON, MIN_WASSERSTEIN_NORM


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    share_threshold: float = Field(
        0.5, gt=0, le=1, description="dataset drifts when this share of features do"
    )


class DriftConfig(_Config):
    """Settings of the default ``drift`` detector."""

    alpha: float = Field(0.01, gt=0, lt=1, description="significance level after correction")
    correction: Correction = "bh"
    min_wasserstein: float = Field(MIN_WASSERSTEIN_NORM, ge=0, description="in reference standard deviations")
    min_jensen_shannon: float = Field(MIN_JENSEN_SHANNON, ge=0, le=1)
    calibrate: bool = Field(True, description="raise effect thresholds to the held-out noise floor")


class SignificanceConfig(_Config):
    """Settings of a significance-test detector (``ks``, ``chi2``)."""

    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Correction = "bh"


class Chi2Config(SignificanceConfig):
    min_expected: float = Field(
        MIN_EXPECTED, ge=0, description="pool categories with smaller expected counts (0: never)"
    )


class EffectConfig(_Config):
    """Settings of an effect-size detector (``wasserstein``, ``psi``, ``jensen_shannon``)."""

    threshold: float = Field(0.1, ge=0)
    calibrate: bool = True


class PSIConfig(EffectConfig):
    threshold: float = Field(0.2, ge=0, description="0.1 moderate, 0.25 major shift by convention")


class DriftDetector(DefaultDriftDetector):
    name: ClassVar[str] = "drift"

    def __init__(self, config: DriftConfig | None = None) -> None:
        super().__init__(config or DriftConfig())


class KSDetector(StatisticDetector):
    name: ClassVar[str] = "ks"
    statistic: ClassVar[str] = "ks"

    def __init__(self, config: SignificanceConfig | None = None) -> None:
        super().__init__(config or SignificanceConfig())


class Chi2Detector(StatisticDetector):
    name: ClassVar[str] = "chi2"
    statistic: ClassVar[str] = "chi2"

    def __init__(self, config: Chi2Config | None = None) -> None:
        super().__init__(config or Chi2Config())


class WassersteinDetector(StatisticDetector):
    name: ClassVar[str] = "wasserstein"
    statistic: ClassVar[str] = "wasserstein_norm"

    def __init__(self, config: EffectConfig | None = None) -> None:
        super().__init__(config or EffectConfig())


class JensenShannonDetector(StatisticDetector):
    name: ClassVar[str] = "jensen_shannon"
    statistic: ClassVar[str] = "jensen_shannon"

    def __init__(self, config: EffectConfig | None = None) -> None:
        super().__init__(config or EffectConfig())


class PSIDetector(StatisticDetector):
    name: ClassVar[str] = "psi"
    statistic: ClassVar[str] = "psi"

    def __init__(self, config: PSIConfig | None = None) -> None:
        super().__init__(config or PSIConfig())
