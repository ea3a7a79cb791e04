"""Built-in monitoring detectors: drift, data quality, performance, skew, serving health."""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import DetectorSpec


@hookimpl
def modelyard_detectors():
    yield DetectorSpec(
        name="ks",
        summary="Kolmogorov-Smirnov two-sample test on numeric features.",
        factory="modelyard_plugins.detectors.ks:KSDetector",
        kind="drift",
    )
