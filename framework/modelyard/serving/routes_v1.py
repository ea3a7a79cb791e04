"""The v1 JSON endpoints: predictions, online feature vectors, models (the built-in ``v1`` protocol)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest
from modelyard.serving.frames import is_missing
from modelyard.serving.http_errors import parse_json, request_id_of
from modelyard.serving.protocol import ProtocolRoutes
from modelyard.serving.schemas import (
    ERRORS,
    FeaturesRequest,
    FeaturesResponse,
    PredictRequest,
    PredictResponse,
    request_body,
)
from modelyard.serving.state import answer, json_response

if TYPE_CHECKING:
    from modelyard.serving.hot_routes import HotHandler

    # pragma: no cover
    from modelyard.serving.state import ServingState
    from modelyard.yard import Yard

router = APIRouter()


def _optional_str(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BadRequest(f"{key!r} must be a string, got {type(value).__name__}")


@router.post(
    "/v1/models/{model}/predict",
    tags=["v1"],
    summary="Predict for columnar entity keys",
    openapi_extra=request_body(PredictRequest),
    responses={200: {"model": PredictResponse}, **ERRORS},
)
async def predict(model: str, request: Request) -> Response:
    body = await request.body()

    async def run(state: ServingState) -> Response:
        data = parse_json(body, max_depth=state.limits.max_json_depth)
        unknown = sorted(set(data) - {"entities", "features", "request", "request_id", "routing_key"})
        if unknown:
            raise BadRequest(
                f"unknown field(s) {unknown}; expected entities, features, request, request_id, routing_key"
            )
        entities = data.get("entities")
        overrides = data.get("features")
        if overrides is not None and not isinstance(overrides, dict):
            raise BadRequest("'features' must be an object: {feature name: [one value per row]}")
        answers = await state.service.predict_async(
            model,
            entities,
            overrides=overrides,
            request_data=data.get("request"),
            request_id=request_id_of(data.get("request_id"), limit=state.limits.max_request_id),
            routing_key=_optional_str(data, "routing_key"),
        )
        rid = answers[0].request_id.split(":")[0] if len(answers) > 1 else answers[0].request_id
        return json_response(
            {"model": model, "request_id": rid, "predictions": [a.to_dict() for a in answers]}
        )

    return await answer(request, "predict", model, run)


@router.post(
    "/v1/features/{model}",
    tags=["v1"],
    summary="The online feature vectors of a model, as the model sees them",
    openapi_extra=request_body(FeaturesRequest),
    responses={200: {"model": FeaturesResponse}, **ERRORS},
)
async def features(model: str, request: Request) -> Response:
    body = await request.body()

    async def run(state: ServingState) -> Response:
        data = parse_json(body, max_depth=state.limits.max_json_depth)
        served, columns, n = await state.service.features_async(
            model, data.get("entities"), data.get("features"), data.get("request")
        )
        names = served.feature_names
        keys = list(served.reader.entity_keys)
        out = {k: columns[k] for k in keys if k in columns}
        out.update({name: columns[name] for name in names})
        missing = [[name for name in names if is_missing(columns[name][i])] for i in range(n)]
        return json_response({"model": model, "columns": out, "missing": missing})

    return await answer(request, "features", model, run)


@router.get("/v1/models", tags=["v1"], summary="Served models, their loaded versions and readiness")
async def models(request: Request) -> Response:
    state: ServingState = request.app.state.serving
    return json_response(state.table.status())


#: (path, handler) of the endpoints answered ahead of FastAPI's middleware (:mod:`modelyard.serving.hot_routes`)
HOT_ROUTES: list[tuple[str, HotHandler]] = [
    ("/v1/models/{model}/predict", predict),
    ("/v1/features/{model}", features),
]

SCOPES = {"/v1/models/{model}/predict": "predict", "/v1/features/{model}": "predict", "/v1/models": "predict"}


def protocol(yard: Yard) -> ProtocolRoutes:
    """The ``v1`` protocol plugin's routes (:mod:`modelyard_plugins.protocols`)."""
    return ProtocolRoutes(router, scopes=SCOPES, hot=HOT_ROUTES)
