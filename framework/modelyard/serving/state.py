"""What a serving worker's handlers share: the loaded models, the prediction service, metrics.

:func:`build_state` loads it at startup; :func:`answer` runs one handler against it and turns
errors into JSON answers. The route modules (``routes_*``) import this module, and
:mod:`modelyard.serving.app` imports them and mounts their routes, so the app and its routes
never import each other.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import ModelyardError
from modelyard.serving.http_errors import response_for

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.config.schema import LimitsConfig
    from modelyard.predictions.cache import PredictionCache
    from modelyard.predictions.log import PredictionLogger
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.serving.models import ModelTable
    from modelyard.serving.pipeline import PredictionService
    from modelyard.yard import Yard


@dataclass
class ServingState:
    """Everything a worker's handlers need, built at startup."""

    yard: Yard
    table: ModelTable
    service: PredictionService
    metrics: ServingMetrics
    cache: PredictionCache | None
    prediction_log: PredictionLogger | None
    started_at: float

    @property
    def limits(self) -> LimitsConfig:
        """The request bounds of ``serving.limits``."""
        return self.yard.config.serving.limits

    def close(self) -> None:
        """Stop polling, finish shadows, flush the prediction log, close the cache."""
        self.table.stop()
        self.service.close()
        if self.prediction_log is not None:
            self.prediction_log.close()
        if self.cache is not None:
            self.cache.close()
        self.metrics.close()


def build_state(
    yard: Yard,
    *,
    table: ModelTable | None = None,
    cache: PredictionCache | bool | None = True,
    prediction_log: PredictionLogger | bool | None = True,
) -> ServingState:
    """Load the models and open the cache and the prediction log the yard's config names.

    ``cache=False`` / ``prediction_log=False`` turn them off; an object uses that one.
    """
    from modelyard.artifacts.flavor import set_model_threads
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.serving.models import ModelTable
    from modelyard.serving.pipeline import PredictionService

    set_model_threads(yard.config.serving.model_threads)  # before the table loads any model
    metrics = ServingMetrics()

    def loaded(version: Any) -> None:
        metrics.loaded_version.labels(version.model, str(version.version)).set(1)
        metrics.reloads.labels(version.model).inc()

    table = table or ModelTable(yard, on_load=loaded)
    table.start()
    if cache is True:
        choice = yard.config.serving.cache
        cache = yard.build_plugin("cache", choice) if choice is not None else None
    elif cache is False:
        cache = None
    if prediction_log is True:
        from modelyard.predictions.log import open_prediction_logger

        prediction_log = open_prediction_logger(yard)
    elif prediction_log is False:
        prediction_log = None
    service = PredictionService(
        table,
        cache=cache,
        prediction_log=prediction_log,
        metrics=metrics,
        max_batch=yard.config.serving.max_batch,
        online_store_fallback=yard.config.serving.online_store_fallback,
        remembered_entities=yard.config.serving.online_store_fallback_entities,
        batching=yard.config.serving.adaptive_batching,
        shadow_workers=yard.config.serving.shadow_workers,
        shadow_queue=yard.config.serving.shadow_queue,
        shadow_drain_seconds=yard.config.serving.shadow_drain_seconds,
    )
    return ServingState(
        yard=yard,
        table=table,
        service=service,
        metrics=metrics,
        cache=cache,
        prediction_log=prediction_log,
        started_at=time.time(),
    )


def _json_default(value: Any) -> Any:
    """What orjson cannot encode itself: bytes (Bytes, PdfBytes, ImageBytes features) as base64
    text, decimals (Decimal features) as their exact text. (UUIDs orjson writes as text itself.)"""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON answer serialised with orjson (numpy scalars, datetimes and bytes, as base64, included)."""
    return Response(
        orjson.dumps(
            data, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        ),
        status_code=status,
        media_type="application/json",
    )


async def answer(
    request: Request, endpoint: str, model: str, handler: Callable[[ServingState], Awaitable[Response]]
) -> Response:
    """Run ``handler`` with the worker's state; turn errors into JSON answers and count both."""
    state: ServingState = request.app.state.serving
    if model not in state.table.models:
        model = "(unknown)"  # label only: a client must not create unbounded metric series
    try:
        response = await handler(state)
    except ModelyardError as exc:
        response = response_for(exc)
        state.metrics.inc(state.metrics.errors, model, type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - never crash the worker on a request
        response = response_for(exc)
        state.metrics.inc(state.metrics.errors, model, type(exc).__name__)
    state.metrics.inc(state.metrics.requests, model, endpoint, str(response.status_code))
    return response
