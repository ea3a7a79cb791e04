"""modelyard errors -> HTTP answers: a status code and a JSON body naming the problem.

The body is ``{"error": "<message>", "type": "<ErrorClass>"}``, which is also the error
shape of the Open Inference Protocol (v2), so protocol clients show the message. Nothing a
client sends can produce a 500: unexpected exceptions are logged with a traceback and
answered 500 with a generic message, and the worker keeps running.
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import (
    BadRequest,
    BatchTooLarge,
    FeatureError,
    FeatureServiceNotFound,
    ModelNotFound,
    ModelNotReady,
    ModelyardError,
    OnlineStoreUnavailable,
    PredictionFailed,
    RegistryError,
    RolloutError,
    ServingError,
    VersionNotFound,
)

logger = logging.getLogger(__name__)

#: most specific first
STATUS: tuple[tuple[type[ModelyardError], int], ...] = (
    (BatchTooLarge, 413),
    (BadRequest, 400),
    (ModelNotFound, 404),
    (VersionNotFound, 404),
    (PredictionFailed, 422),
    (OnlineStoreUnavailable, 503),
    (ModelNotReady, 503),
    (FeatureServiceNotFound, 503),
    (FeatureError, 503),
    (RolloutError, 503),
    (RegistryError, 503),
    (ServingError, 503),
)


def status_of(exc: BaseException) -> int:
    """The HTTP status of a modelyard error (500 for anything unexpected)."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, message: str, kind: str) -> Response:
    return Response(
        orjson.dumps({"error": message, "type": kind}), status_code=status, media_type="application/json"
    )


def response_for(exc: BaseException) -> Response:
    """The JSON error answer for ``exc``."""
    status = status_of(exc)
    if status == 500:
        logger.error("unexpected error while serving", exc_info=exc)
        return error_response(
            500, f"internal error ({type(exc).__name__}); see the server log", "InternalError"
        )
    return error_response(status, str(exc), type(exc).__name__)


async def modelyard_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for ModelyardError."""
    return response_for(exc)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler of last resort."""
    return response_for(exc)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTPException (404 for unknown paths, 405...) in our JSON shape."""
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", None) or "error"
    if status == 404 and detail == "Not Found":
        detail = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
    return error_response(status, str(detail), "HTTPError")


def parse_json(body: bytes) -> dict:
    """The request body as a JSON object, or BadRequest saying what is wrong with it."""
    if not body:
        raise BadRequest("the request body is empty; send a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(data).__name__}")
    return data
