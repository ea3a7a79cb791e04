"""``single``: one version answers every request (the default router)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from modelyard.routing.router import (
    Deployment,
    RouteDecision,
    Router,
    RouteRequest,
    Variant,
    require_alias_version,
)


class SingleConfig(BaseModel):
    """Settings of the ``single`` router."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1, description="serve this version instead of the alias holder")


class SingleRouter(Router):
    """Sends every request to the live variant with the largest weight; shadows (if any) run too."""

    name = "single"

    def __init__(self, config: SingleConfig | None = None) -> None:
        super().__init__(config or SingleConfig())
        # the decision depends on the deployment only: made once per deployment object
        self._last: tuple[Deployment, RouteDecision] | None = None

    def plan(self, model: str, *, alias: str, alias_version: int | None) -> tuple[Variant, ...]:
        version = self.config.version or alias_version
        return (require_alias_version(model, alias, version),)

    def route(self, request: RouteRequest, deployment: Deployment) -> RouteDecision:
        last = self._last
        if last is not None and last[0] is deployment:
            return last[1]
        live = max(deployment.live_variants(), key=lambda v: v.weight)  # first of equal weights
        decision = RouteDecision(
            live=live, shadows=list(deployment.shadow_variants()), revision=deployment.revision
        )
        self._last = (deployment, decision)
        return decision
