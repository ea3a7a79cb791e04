"""modelyard-hello-detector: the hook implementation modelyard finds through the entry point.

This module must stay cheap to import: ``modelyard plugins`` imports it to list the
plugin. The detector itself (numpy, pandas) lives in :mod:`modelyard_hello.detector`,
named by string, and is imported only when a monitor builds it.
"""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import DetectorSpec


@hookimpl
def modelyard_detectors():
    yield DetectorSpec(
        name="mean-shift",
        summary="Flags a numeric feature whose mean moved by more than k standard errors.",
        factory="modelyard_hello.detector:MeanShiftDetector",
        config="modelyard_hello.detector:MeanShiftConfig",
        kind="drift",
    )
