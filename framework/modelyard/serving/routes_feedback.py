"""``POST /v1/models/{model}/feedback``: ground truth over HTTP.

The built-in ``feedback`` protocol (:func:`protocol`, declared in :mod:`modelyard_plugins.protocols`). The
route calls :func:`modelyard.predictions.feedback.record_feedback` in FastAPI's thread pool.
Imports FastAPI (a ``modelyard[serve]`` dependency) at module level: import it only from the server.

Body: a list of feedback rows, or ``{"feedback": [rows...]}``, or one row object. A row is
``{"request_id": "...", "label": 1}`` or ``{"driver_id": 1001, "event_timestamp":
"2026-03-01T12:00:00Z", "label": 1}`` (entity keys flat or under ``"entities"``).
Answers ``200 {"model": ..., "recorded": N}``; a bad body is ``400 {"error": ...}`` naming
the row and field, an unknown model ``404``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.errors import BadRequest, ModelNotFound, ModelyardError
from modelyard.serving.http_errors import error_response, parse_json_value, response_for
from modelyard.serving.protocol import ProtocolRoutes

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.yard import Yard

FEEDBACK_ROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "request_id, or every entity key of the model (flat or under 'entities') with an optional "
    "event_timestamp; and the label",
    "properties": {
        "request_id": {"type": "string"},
        "entities": {"type": "object"},
        "event_timestamp": {"type": "string", "format": "date-time"},
        "label": {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]},
    },
    "required": ["label"],
    "additionalProperties": True,
}

#: the body schema shown in the OpenAPI document
FEEDBACK_BODY_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "array", "items": FEEDBACK_ROW_SCHEMA},
        {
            "type": "object",
            "properties": {"feedback": {"type": "array", "items": FEEDBACK_ROW_SCHEMA}},
            "required": ["feedback"],
        },
        FEEDBACK_ROW_SCHEMA,
    ]
}


def rows_from_body(body: Any) -> list[dict[str, Any]]:
    """The feedback rows in a request body (see the module docstring)."""
    if isinstance(body, dict) and "feedback" in body:
        body = body["feedback"]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise BadRequest('the body must be a feedback row, a list of rows, or {"feedback": [rows]}')
    return body


def feedback_router(yard: Yard) -> APIRouter:
    """An APIRouter with the feedback route for ``yard``."""
    from modelyard.predictions.feedback import record_feedback

    router = APIRouter()

    @router.post(
        "/v1/models/{model}/feedback",
        summary="Record ground truth for past predictions (by request id, or entity keys + time).",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": FEEDBACK_BODY_SCHEMA}},
            },
        },
        responses={
            200: {
                "description": "stored",
                "content": {"application/json": {"example": {"model": "m", "recorded": 2}}},
            },
            400: {"description": "bad body; 'error' names the row and field"},
            404: {"description": "unknown model"},
        },
        tags=["feedback"],
    )
    async def post_feedback(model: str, request: Request) -> Response:
        limits = yard.config.serving.limits
        try:
            body = parse_json_value(await request.body(), max_depth=limits.max_json_depth)
            recorded = await run_in_threadpool(
                record_feedback, yard, model, rows_from_body(body), source="http"
            )
        except ModelNotFound as exc:
            return error_response(404, str(exc), type(exc).__name__)
        except BadRequest as exc:
            return error_response(400, str(exc), type(exc).__name__)
        except ModelyardError as exc:
            return response_for(exc)
        return Response(orjson.dumps({"model": model, "recorded": recorded}), media_type="application/json")

    return router


def protocol(yard: Yard) -> ProtocolRoutes:
    """The ``feedback`` protocol plugin's route: a ``feedback``-scope token may use it."""
    return ProtocolRoutes(feedback_router(yard), scopes={"/v1/models/{model}/feedback": "feedback"})
