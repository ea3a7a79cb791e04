"""KServe's v1 prediction protocol over the models a modelyard worker serves.

``POST /v1/models/{name}:predict`` takes ``{"instances": [...]}``, one instance per row: an object
of entity keys (``{"driver_id": 1001, "customer_id": 7}``) or a list of their values in the
model's entity-key order. Features come from the Feast online store, the router picks the
variant, the answer is logged: the prediction service is modelyard's own
(``serving_state(request).service``). The answer is ``{"predictions": [...]}``, one per instance.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest
from modelyard.serving.http_errors import parse_json
from modelyard.serving.protocol import ProtocolRoutes, serving_state
from modelyard.serving.state import answer, json_response

PREDICT_BODY = {
    "type": "object",
    "properties": {
        "instances": {
            "type": "array",
            "minItems": 1,
            "items": {"oneOf": [{"type": "object"}, {"type": "array"}]},
        }
    },
    "required": ["instances"],
}


def instances_to_columns(instances: Any, keys: list[str]) -> dict[str, list[Any]]:
    """KServe instances -> one column per entity key (what modelyard's prediction service takes)."""
    if not isinstance(instances, list) or not instances:
        raise BadRequest("'instances' must be a non-empty list, one instance per row")
    columns: dict[str, list[Any]] = {k: [] for k in keys}
    for i, instance in enumerate(instances):
        if isinstance(instance, list):
            if len(instance) != len(keys):
                raise BadRequest(
                    f"instance {i} has {len(instance)} values; the model takes {keys} in this order"
                )
            instance = dict(zip(keys, instance, strict=True))
        if not isinstance(instance, dict):
            raise BadRequest(
                f"instance {i} must be an object of entity keys {keys} or a list of their values"
            )
        if set(instance) != set(keys):
            raise BadRequest(f"instance {i} has keys {sorted(instance)}; the model takes exactly {keys}")
        for k in keys:
            columns[k].append(instance[k])
    return columns


def build(yard: Any) -> ProtocolRoutes:
    """The ``kserve-v1`` protocol's routes; both need a ``predict`` token when auth is on."""
    router = APIRouter(tags=["KServe v1"])

    @router.get("/v1/models/{name}", summary="KServe v1 model status: ready when a version is loaded")
    async def status(name: str, request: Request) -> Response:
        table = serving_state(request).table
        if name not in table.models:
            return json_response({"error": f"unknown model {name!r}; served: {sorted(table.models)}"}, 404)
        return json_response({"name": name, "ready": table.get(name).ready})

    @router.post(
        "/v1/models/{name}:predict",
        summary="KServe v1 predict: instances (entity keys) -> predictions",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": PREDICT_BODY}}}
        },
    )
    async def predict(name: str, request: Request) -> Response:
        body = await request.body()

        async def run(state: Any) -> Response:
            data = parse_json(body, max_depth=state.limits.max_json_depth)  # serving.limits, as for v1
            if not isinstance(data, dict) or set(data) != {"instances"}:
                raise BadRequest('the body must be {"instances": [...]}')
            keys = list(state.table.get(name).reader.entity_keys)
            answers = await state.service.predict_async(name, instances_to_columns(data["instances"], keys))
            return json_response({"predictions": [a.prediction for a in answers]})

        return await answer(request, "kserve-predict", name, run)

    scopes = {"/v1/models/{name}": "predict", "/v1/models/{name}:predict": "predict"}
    return ProtocolRoutes(router, scopes=scopes)
