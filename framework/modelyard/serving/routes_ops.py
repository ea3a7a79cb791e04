"""What every serving worker answers, whichever protocols it mounts: ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.serving.state import ServingState

logger = logging.getLogger(__name__)

router = APIRouter()


@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics of this worker",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    state: ServingState = request.app.state.serving
    if state.prediction_log is not None:
        state.metrics.update_log_stats(state.prediction_log.stats)
    try:
        # registry and store reads: off the event loop, so a slow store never stalls requests
        state.metrics.update_freshness(await run_in_threadpool(state.yard.features.freshness))
    except Exception:  # a registry hiccup must not take /metrics down
        logger.warning("feature freshness is not available for /metrics", exc_info=True)
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
