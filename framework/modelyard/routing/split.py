"""Weighted, sticky choice of a live variant: shared by the ``ab``, ``shadow`` and ``canary`` routers."""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.routing.hashing import pick, sticky_unit
from modelyard.routing.router import Deployment, RouteRequest, Variant


def choose_live(
    request: RouteRequest, deployment: Deployment, order: Sequence[Variant] | None = None
) -> Variant:
    """The live variant for ``request``: its sticky bucket placed on cumulative weights.

    ``order`` fixes the order of the intervals (default: the deployment's order). The
    bucket depends only on ``deployment.salt`` and the request's sticky key, so every
    worker agrees and a key keeps its variant until the weights move its interval.
    """
    variants = list(order) if order is not None else list(deployment.live_variants())
    if len(variants) == 1:
        return variants[0]
    u = sticky_unit(deployment.salt or deployment.model, request.sticky_key())
    return variants[pick([v.weight for v in variants], u)]
