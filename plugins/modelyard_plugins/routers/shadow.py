"""``shadow``: the live version answers; shadow versions score the same request off the response path."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import RolloutError
from modelyard.routing.hashing import bucket, random_bucket
from modelyard.routing.router import (
    Deployment,
    RouteDecision,
    Router,
    RouteRequest,
    Variant,
    default_variant_name,
    require_alias_version,
)
from modelyard.routing.split import choose_live


class ShadowConfig(BaseModel):
    """Settings of the ``shadow`` router."""

    model_config = ConfigDict(extra="forbid")

    shadows: list[int] = Field(default_factory=list, description="versions scored in the shadow")
    live: int | None = Field(None, ge=1, description="answering version (default: the alias holder)")
    sample: float = Field(1.0, gt=0, le=1, description="share of requests mirrored to the shadows")
    salt: str | None = None


class ShadowRouter(Router):
    """Live traffic goes to the live variant(s); the shadows get a (sampled) copy of each request.

    The server must run shadows after answering and log them with ``mode="shadow"``:
    the router only lists them.
    """

    name = "shadow"

    def __init__(self, config: ShadowConfig | None = None) -> None:
        super().__init__(config or ShadowConfig())

    def plan(self, model: str, *, alias: str, alias_version: int | None) -> tuple[Variant, ...]:
        live = require_alias_version(model, alias, self.config.live or alias_version)
        shadows = tuple(
            Variant(default_variant_name(v), v, 0.0, "shadow")
            for v in self.config.shadows
            if v != live.version
        )
        return (live, *shadows)

    def validate(self, deployment: Deployment) -> None:
        if not deployment.shadow_variants():
            raise RolloutError(
                f"deployment of {deployment.model!r}: the shadow router needs at least one shadow variant"
            )

    def route(self, request: RouteRequest, deployment: Deployment) -> RouteDecision:
        live = choose_live(request, deployment)
        shadows: list[Variant] = list(deployment.shadow_variants())
        if self.config.sample < 1.0:
            key = request.request_id or request.sticky_key()
            u = random_bucket() if key is None else bucket(f"{deployment.salt}:shadow-sample", key)
            if u >= self.config.sample:
                shadows = []
        return RouteDecision(live=live, shadows=shadows, revision=deployment.revision)
