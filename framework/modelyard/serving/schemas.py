"""Request and response shapes of the HTTP API, as pydantic models for the OpenAPI document.

The hot path parses JSON by hand (with precise error messages); these models describe the
same shapes so ``/openapi.json`` documents exactly what is served.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    """``POST /v1/models/{model}/predict``: columnar entity keys, like Feast's feature server."""

    model_config = ConfigDict(extra="forbid")  # the handler refuses unknown fields

    entities: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="entity key -> one value per row, e.g. {'driver_id': [1001, 1002], 'customer_id': [5, 6]}",
    )
    features: dict[str, list[Any]] | None = Field(
        None, description="request-time feature values (name -> one value per row) replacing the store's"
    )
    request: dict[str, list[Any]] | None = Field(
        None,
        description="request data of the model's on-demand views (RequestSource field -> one value per row), "
        "e.g. {'trip_distance_km': [3.2]}",
    )
    request_id: str | None = Field(
        None, description="your id for this request; rows get '<id>:<row>' when there are several"
    )
    routing_key: str | None = Field(
        None, description="sticky key for A/B and canary assignment (a user id...)"
    )


class RowPrediction(BaseModel):
    """The answer of one row."""

    row: int
    request_id: str
    model: str
    version: int | None
    variant: str | None
    prediction: Any
    score: float | None = Field(None, description="positive-class probability of a binary classifier")
    cached: bool = Field(description="answered from the prediction cache")
    missing: list[str] | None = Field(None, description="features the online store had no value for")
    error: str | None = Field(
        None, description="why this row has no prediction (missing-value policy 'reject')"
    )


class PredictResponse(BaseModel):
    model: str
    request_id: str
    predictions: list[RowPrediction]


class FeaturesRequest(BaseModel):
    """``POST /v1/features/{model}``."""

    entities: dict[str, list[Any]]
    features: dict[str, list[Any]] | None = None
    request: dict[str, list[Any]] | None = None


class FeaturesResponse(BaseModel):
    model: str
    columns: dict[str, list[Any]] = Field(description="entity keys, then the model's features in its order")
    missing: list[list[str]] = Field(description="per row, the features the online store had no value for")


class ErrorResponse(BaseModel):
    error: str
    type: str


class InferTensor(BaseModel):
    """A named tensor of the Open Inference Protocol (JSON data only)."""

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class InferRequest(BaseModel):
    """``POST /v2/models/{model}/infer``: entity keys (or features) as named input tensors."""

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[InferTensor]
    outputs: list[dict[str, Any]] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str
    parameters: dict[str, Any] | None = None
    outputs: list[InferTensor]


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body of shape ``model``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", None)
    out: dict[str, Any] = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
    }
    if defs:
        out["x-modelyard-defs"] = list(defs)  # nested models are also in components (responses use them)
    return out


#: the error answers of the JSON endpoints, for their OpenAPI ``responses``
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "bad input (unknown entity key, wrong type, malformed JSON)",
    },
    404: {"model": ErrorResponse, "description": "unknown model or version"},
    413: {"model": ErrorResponse, "description": "more rows than serving.max_batch"},
    422: {"model": ErrorResponse, "description": "the model failed on this input"},
    503: {"model": ErrorResponse, "description": "online store unreachable, or nothing loaded to serve"},
}
