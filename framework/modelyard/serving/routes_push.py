"""``POST /v1/push/{push_source}``: fresh feature rows through a Feast PushSource, served on the next request.

Body (the shape of Feast's feature server): ``{"df": {column: [one value per row]}, "to": "online"}``
with ``to`` one of ``online``, ``offline``, ``online_and_offline``. The rows are checked against
the push source's feature views before anything is written (400 naming the column); an
unknown source is 404; an unreachable store is 503 and the push may be retried as it is
(see :mod:`modelyard.features.push`). Answers ``200 {"push_source", "rows", "to",
"feature_views", "pushed_at"}``. Writing features changes what every model answers, so it needs
an ``admin`` token (the built-in ``push`` protocol).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest
from modelyard.serving.http_errors import parse_json
from modelyard.serving.protocol import ProtocolRoutes
from modelyard.serving.schemas import ERRORS
from modelyard.serving.state import answer, json_response

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.serving.state import ServingState
    from modelyard.yard import Yard

router = APIRouter()

PUSH_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "df": {
            "type": "object",
            "description": "column -> one value per row: join keys, features and the event timestamp",
            "additionalProperties": {"type": "array"},
        },
        "to": {"type": "string", "enum": ["online", "offline", "online_and_offline"], "default": "online"},
    },
    "required": ["df"],
    "additionalProperties": False,
}


@router.post(
    "/v1/push/{push_source}",
    tags=["v1"],
    summary="Write fresh feature rows through a Feast PushSource",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": PUSH_BODY_SCHEMA}}}
    },
    responses=ERRORS,
)
async def push(push_source: str, request: Request) -> Response:
    body = await request.body()

    async def run(state: ServingState) -> Response:
        from modelyard.features.push import push as push_rows

        data = parse_json(body, max_depth=state.limits.max_json_depth)
        if not isinstance(data, dict):
            raise BadRequest('the body must be an object {"df": {column: [values]}, "to": "online"}')
        unknown = sorted(set(data) - {"df", "to", "push_source_name"})
        if unknown:
            raise BadRequest(f"unknown field(s) {unknown}; expected df, to")
        if "df" not in data:
            raise BadRequest('the body needs "df": {column: [one value per row]}')
        to = data.get("to", "online")
        if not isinstance(to, str):
            raise BadRequest("'to' must be a string: online, offline or online_and_offline")
        result = await run_in_threadpool(
            push_rows,
            state.yard.feature_store,
            push_source,
            data["df"],
            to=to,
            record=state.yard.features.push_record,
        )
        state.metrics.record_push(result)
        return json_response(result.to_dict())

    return await answer(request, "push", "(push)", run)


def protocol(yard: Yard) -> ProtocolRoutes:
    """The ``push`` protocol plugin's route (admin scope)."""
    return ProtocolRoutes(router, scopes={"/v1/push/{push_source}": "admin"})
