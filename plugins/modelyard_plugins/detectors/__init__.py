"""Built-in monitoring detectors: drift, data quality, performance, skew, serving health.

Implementations are named lazily ("module:Class"), so listing plugins imports no numpy or scipy.
"""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import DetectorSpec

_DRIFT = "modelyard_plugins.detectors.drift"


@hookimpl
def modelyard_detectors():
    yield DetectorSpec(
        name="drift",
        summary="Default drift verdict: KS + Wasserstein (numeric), chi-squared + Jensen-Shannon (categorical), "
        "multiple-testing control, calibrated thresholds.",
        factory=f"{_DRIFT}:DriftDetector",
        config=f"{_DRIFT}:DriftConfig",
        kind="drift",
    )
    yield DetectorSpec(
        name="ks",
        summary="Kolmogorov-Smirnov two-sample test on numeric features.",
        factory=f"{_DRIFT}:KSDetector",
        config=f"{_DRIFT}:SignificanceConfig",
        kind="drift",
    )
    yield DetectorSpec(
        name="wasserstein",
        summary="Wasserstein distance in reference standard deviations on numeric features.",
        factory=f"{_DRIFT}:WassersteinDetector",
        config=f"{_DRIFT}:EffectConfig",
        kind="drift",
    )
    yield DetectorSpec(
        name="psi",
        summary="Population stability index on reference-quantile bins or categories.",
        factory=f"{_DRIFT}:PSIDetector",
        config=f"{_DRIFT}:PSIConfig",
        kind="drift",
    )
    yield DetectorSpec(
        name="chi2",
        summary="Two-sample chi-squared (contingency) test on categorical features.",
        factory=f"{_DRIFT}:Chi2Detector",
        config=f"{_DRIFT}:Chi2Config",
        kind="drift",
    )
    yield DetectorSpec(
        name="jensen_shannon",
        summary="Jensen-Shannon distance between category distributions.",
        factory=f"{_DRIFT}:JensenShannonDetector",
        config=f"{_DRIFT}:EffectConfig",
        kind="drift",
    )
    yield DetectorSpec(
        name="quality",
        summary="Missing-rate change, unseen categories, out-of-range values, type changes.",
        factory="modelyard.monitoring.quality:QualityDetector",
        config="modelyard.monitoring.quality:QualityConfig",
        kind="quality",
    )
    yield DetectorSpec(
        name="performance",
        summary="Accuracy, precision, recall, F1, ROC AUC, log loss / MAE, RMSE, R2 vs the version's baseline.",
        factory="modelyard.monitoring.performance:PerformanceDetector",
        config="modelyard.monitoring.performance:PerformanceConfig",
        kind="performance",
    )
    yield DetectorSpec(
        name="freshness",
        summary="Online store freshness per view: lag since the last materialization or push, missing share.",
        factory="modelyard.monitoring.freshness:FreshnessDetector",
        config="modelyard.monitoring.freshness:FreshnessConfig",
        kind="freshness",
    )
    yield DetectorSpec(
        name="skew",
        summary="Train/serve skew: logged online feature values vs Feast's point-in-time offline values.",
        factory="modelyard.monitoring.skew:SkewDetector",
        config="modelyard.monitoring.skew:SkewConfig",
        kind="skew",
    )
    yield DetectorSpec(
        name="health",
        summary="Serving health: latency percentiles, error rate, CPU and memory.",
        factory="modelyard.monitoring.health:HealthDetector",
        config="modelyard.monitoring.health:HealthConfig",
        kind="health",
    )
