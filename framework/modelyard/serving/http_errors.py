"""modelyard errors -> HTTP answers: a status code and a JSON body naming the problem.

The body is ``{"error": "<message>", "type": "<ErrorClass>"}``, which is also the error
shape of the Open Inference Protocol (v2), so protocol clients show the message. Nothing a
client sends can produce a 500: unexpected exceptions are logged with a traceback and
answered 500 with a generic message, and the worker keeps running.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import (
    BadRequest,
    BatchTooLarge,
    BodyTooLarge,
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
    (BodyTooLarge, 413),
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
    response = error_response(status, str(detail), "HTTPError")
    for name, value in (getattr(exc, "headers", None) or {}).items():  # 405's Allow, 401's WWW-Authenticate
        response.headers[name] = value
    return response


#: the deepest JSON nesting a body may have unless ``serving.limits.max_json_depth`` says otherwise
MAX_JSON_DEPTH = 32


def parse_json(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict:
    """The request body as a JSON object, or BadRequest saying what is wrong with it."""
    data = parse_json_value(body, max_depth=max_depth)
    if not isinstance(data, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(data).__name__}")
    return data


def parse_json_value(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The request body as any JSON value (strict JSON: no NaN, no invalid UTF-8), nested at most ``max_depth``."""
    if not body:
        raise BadRequest("the request body is empty; send JSON")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if body.count(b"[") + body.count(b"{") > max_depth and _depth_exceeds(data, max_depth):
        raise BadRequest(f"the request body is nested deeper than {max_depth} levels")
    return data


def _depth_exceeds(data: Any, limit: int) -> bool:
    """True when objects and arrays nest deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def request_id_of(value: Any, *, limit: int, field: str = "request_id") -> str | None:
    """A client's request id: a string of at most ``limit`` characters, cleaned for every store."""
    from modelyard.predictions.records import storable_text

    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{field!r} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise BadRequest(f"{field!r} is longer than {limit} characters (serving.limits.max_request_id)")
    return storable_text(value)
