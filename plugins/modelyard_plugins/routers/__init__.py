"""Traffic routers: single, ab, shadow, canary."""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import RouterSpec


@hookimpl
def modelyard_routers():
    yield RouterSpec(
        name="single",
        summary="One version answers every request (the default).",
        factory="modelyard_plugins.routers.single:SingleRouter",
    )
