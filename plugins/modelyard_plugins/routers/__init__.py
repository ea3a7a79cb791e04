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
        config="modelyard_plugins.routers.single:SingleConfig",
    )
    yield RouterSpec(
        name="ab",
        summary="Sticky weighted split over two or more versions (A/B test).",
        factory="modelyard_plugins.routers.ab:ABRouter",
        config="modelyard_plugins.routers.ab:ABConfig",
    )
    yield RouterSpec(
        name="shadow",
        summary="The live version answers; shadow versions score the same requests off the response path.",
        factory="modelyard_plugins.routers.shadow:ShadowRouter",
        config="modelyard_plugins.routers.shadow:ShadowConfig",
    )
    yield RouterSpec(
        name="canary",
        summary="A candidate ramps through traffic steps while its guards pass, then is promoted.",
        factory="modelyard_plugins.routers.canary:CanaryRouter",
        config="modelyard_plugins.routers.canary:CanaryConfig",
    )
