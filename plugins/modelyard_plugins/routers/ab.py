"""``ab``: a sticky weighted split over two or more versions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import RolloutError
from modelyard.routing.router import (
    Deployment,
    RouteDecision,
    Router,
    RouteRequest,
    Variant,
    default_variant_name,
)
from modelyard.routing.split import choose_live


class VariantConfig(BaseModel):
    """One arm of an experiment as ``modelyard.yaml`` declares it."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    weight: float = Field(1.0, ge=0)
    name: str | None = None


class ABConfig(BaseModel):
    """Settings of the ``ab`` router. The first variant is the control in reports."""

    model_config = ConfigDict(extra="forbid")

    variants: list[VariantConfig] = Field(
        default_factory=list, description="arms with their weights (>= 2 for a deployment declared in config)"
    )
    salt: str | None = Field(None, description="experiment salt; a new salt reshuffles who sees what")


def variants_from_config(arms: list[VariantConfig]) -> tuple[Variant, ...]:
    """Variants for the configured arms (name defaults to ``v<version>``)."""
    return tuple(Variant(a.name or default_variant_name(a.version), a.version, a.weight) for a in arms)


class ABRouter(Router):
    """Each routing key lands on one live variant by its salted hash, in proportion to the weights.

    Weights live in the deployment (``modelyard deploy`` / ``rollout`` change them at run
    time); keys move only between the intervals whose share changed.
    """

    name = "ab"

    def __init__(self, config: ABConfig | None = None) -> None:
        super().__init__(config or ABConfig())

    def plan(self, model: str, *, alias: str, alias_version: int | None) -> tuple[Variant, ...]:
        if len(self.config.variants) < 2:
            raise RolloutError(
                f"model {model!r}: the ab router needs at least two variants in "
                f"models.{model}.deployment.router.settings.variants"
            )
        return variants_from_config(self.config.variants)

    def validate(self, deployment: Deployment) -> None:
        live = deployment.live_variants()
        if len(live) < 2:
            raise RolloutError(
                f"deployment of {deployment.model!r}: the ab router needs at least two live variants, "
                f"got {', '.join(v.name for v in live)}"
            )
        if sum(v.weight for v in live) <= 0:
            raise RolloutError(f"deployment of {deployment.model!r}: every live weight is 0")

    def route(self, request: RouteRequest, deployment: Deployment) -> RouteDecision:
        return RouteDecision(
            live=choose_live(request, deployment),
            shadows=list(deployment.shadow_variants()),
            revision=deployment.revision,
        )
