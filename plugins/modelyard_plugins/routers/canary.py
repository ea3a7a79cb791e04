"""``canary``: a candidate version takes a growing share of traffic, step by step, while its guards pass.

The router only splits traffic by the weights in the deployment; moving between steps,
promoting at the end and rolling back on a failed guard is done by
:mod:`modelyard.routing.canary` / :mod:`modelyard.rollout.policy`, which write new
deployment states. The candidate's interval comes first on the hash line, so as its
share grows the keys it already had stay with it.
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.errors import RolloutError
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


class CanaryConfig(BaseModel):
    """Settings of the ``canary`` router."""

    model_config = ConfigDict(extra="forbid")

    candidate: int | None = Field(None, ge=1, description="the version being ramped up")
    steps: list[float] = Field(
        default_factory=lambda: [5.0, 25.0, 50.0, 100.0],
        description="candidate traffic in percent at each step, increasing, ending at 100",
    )
    min_dwell_seconds: float = Field(600.0, ge=0, description="minimum time at each step")
    min_samples: int = Field(200, ge=0, description="minimum candidate requests at each step")
    promote: bool = Field(True, description="promote the candidate to the alias after the last step")
    salt: str | None = None

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[float]) -> list[float]:
        if not steps:
            raise ValueError("at least one step is needed")
        if any(not 0 < s <= 100 for s in steps):
            raise ValueError("every step is a percentage in (0, 100]")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("steps must increase")
        if steps[-1] != 100:
            raise ValueError("the last step must be 100")
        return steps


def step_weights(percent: float) -> tuple[float, float]:
    """``(candidate, baseline)`` weights for a step given in percent."""
    share = max(0.0, min(100.0, float(percent))) / 100.0
    return share, 1.0 - share


class CanaryRouter(Router):
    """Splits live traffic between the candidate and the baseline by the current step's weights."""

    name = "canary"

    def __init__(self, config: CanaryConfig | None = None) -> None:
        super().__init__(config or CanaryConfig())

    def plan(self, model: str, *, alias: str, alias_version: int | None) -> tuple[Variant, ...]:
        if self.config.candidate is None:
            raise RolloutError(
                f"model {model!r}: the canary router needs a candidate version "
                f"(models.{model}.deployment.router.settings.candidate)"
            )
        baseline = require_alias_version(model, alias, alias_version)
        if baseline.version == self.config.candidate:
            raise RolloutError(
                f"model {model!r}: the canary candidate v{baseline.version} already holds {alias!r}"
            )
        cand_w, base_w = step_weights(self.config.steps[0])
        candidate = Variant(default_variant_name(self.config.candidate), self.config.candidate, cand_w)
        return (Variant(baseline.name, baseline.version, base_w), candidate)

    def candidate(self, deployment: Deployment) -> Variant:
        """The variant being ramped: named by ``state["candidate"]``, else the configured version."""
        name = deployment.state.get("candidate")
        if name:
            return deployment.variant(str(name))
        for v in deployment.live_variants():
            if v.version == self.config.candidate:
                return v
        raise RolloutError(
            f"deployment of {deployment.model!r}: no candidate variant "
            f"(neither state.candidate nor a live variant of version {self.config.candidate})"
        )

    def validate(self, deployment: Deployment) -> None:
        if len(deployment.live_variants()) < 1:
            raise RolloutError(f"deployment of {deployment.model!r}: the canary router needs a live variant")
        if deployment.status in ("active", "paused"):
            self.candidate(deployment)

    def route(self, request: RouteRequest, deployment: Deployment) -> RouteDecision:
        live = deployment.live_variants()
        if len(live) > 1:
            cand = self.candidate(deployment)
            order = [cand, *(v for v in live if v.name != cand.name)]
            chosen = choose_live(request, deployment, order)
        else:
            chosen = live[0]
        return RouteDecision(
            live=chosen, shadows=list(deployment.shadow_variants()), revision=deployment.revision
        )
