"""The HTTP application: FastAPI (for the OpenAPI document) with hand-parsed JSON on the hot path.

``create_app(yard)`` builds the app; at startup it loads the served models
(:class:`~modelyard.serving.models.ModelTable`), opens the prediction cache and the prediction
log, and at shutdown flushes the log. Endpoint families:

* ``/v1``: ``POST /v1/models/{model}/predict``, ``POST /v1/features/{model}``, ``GET /v1/models``;
* ``/v2``: the Open Inference Protocol (health, model metadata and readiness, ``infer``);
* ``GET /metrics`` (Prometheus), ``GET /openapi.json`` and ``/docs``;
* ``GET /ui``: the web UI of the whole yard (HTML, :mod:`modelyard.ui.routes`).

Handlers are ``async``: the feature read is awaited (the Redis fast path lets the loop serve
other requests meanwhile) and the (sub-millisecond) prediction runs on the event loop itself:
a thread hop costs more than the work. The hot POST endpoints bypass FastAPI's middleware
(:mod:`modelyard.serving.hot_routes`). Scale with worker processes
(``modelyard serve --workers N``), each of which loads its own models and polls the registry.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import ModelyardError
from modelyard.serving.http_errors import response_for

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

    from modelyard.serving.cache import PredictionCache
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.serving.models import ModelTable
    from modelyard.serving.pipeline import PredictionService
    from modelyard.serving.prediction_log import PredictionLogger
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

REPO_ENV = "MODELYARD_REPO"
"""Environment variable the worker processes read the yard path from (set by ``modelyard serve``)."""


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
    cache: PredictionCache | None | bool = True,
    prediction_log: PredictionLogger | None | bool = True,
) -> ServingState:
    """Load the models and open the cache and the prediction log the yard's config names.

    ``cache=False`` / ``prediction_log=False`` turn them off; an object uses that one.
    """
    from modelyard.serving.flavor import set_model_threads
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
        from modelyard.serving.prediction_log import open_prediction_logger

        prediction_log = open_prediction_logger(yard)
    elif prediction_log is False:
        prediction_log = None
    service = PredictionService(
        table,
        cache=cache,  # type: ignore[arg-type]
        prediction_log=prediction_log,  # type: ignore[arg-type]
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
        cache=cache,  # type: ignore[arg-type]
        prediction_log=prediction_log,  # type: ignore[arg-type]
        started_at=time.time(),
    )


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON answer serialised with orjson (numpy scalars and datetimes included)."""
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS),
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


def create_app(
    yard: Yard | None = None,
    *,
    state: ServingState | None = None,
    state_factory: Callable[[], ServingState] | None = None,
    tune_process: bool = False,
) -> FastAPI:
    """The serving app for ``yard`` (or for a prebuilt ``state``; tests pass their own).

    ``tune_process`` (set for real worker processes) applies :func:`tune_worker_process` once
    the models are loaded.
    """
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from modelyard import __version__
    from modelyard.serving import http_errors, routes_v1, routes_v2
    from modelyard.serving.hot_routes import ServingApp
    from modelyard.serving.routes_feedback import feedback_router
    from modelyard.ui import routes as ui_routes

    if state is None and state_factory is None:
        if yard is None:
            raise TypeError("create_app needs a yard, a state or a state_factory")
        state_factory = lambda: build_state(yard)  # noqa: E731

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = state if state is not None else state_factory()  # type: ignore[misc]
        app.state.serving = built
        logger.info("serving models: %s", ", ".join(built.table.models) or "(none declared)")
        if tune_process:
            tune_worker_process()
        try:
            yield
        finally:
            if state is None:
                built.close()

    app = ServingApp(
        title="modelyard serving",
        version=__version__,
        description="Online predictions over a Feast feature store: v1 JSON and the Open Inference Protocol (v2).",
        lifespan=lifespan,
    )
    app.add_exception_handler(ModelyardError, http_errors.modelyard_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_errors.http_exception_handler)
    app.add_exception_handler(Exception, http_errors.unexpected_error_handler)
    app.include_router(routes_v1.router)
    app.include_router(routes_v2.router)
    app.include_router(ui_routes.router)
    feedback_yard = yard if yard is not None else (state.yard if state is not None else None)
    if feedback_yard is not None:
        app.include_router(feedback_router(feedback_yard))
    app.hot_routes([*routes_v1.HOT_ROUTES, *routes_v2.HOT_ROUTES])
    return app


def tune_worker_process(switch_interval: float = 0.0005) -> None:
    """Interpreter settings that keep a serving worker's tail latency flat.

    * The prediction-log writer and the registry poller are Python threads. When one of them
      holds the GIL as a request's socket becomes readable, the event loop waits for the
      interpreter's switch interval (5 ms by default) before it can answer: the p99.9 of a
      sub-millisecond endpoint becomes 5-8 ms. Switching after 0.5 ms bounds that wait; it
      costs nothing while only one thread wants to run.
    * ``gc.freeze()`` moves everything loaded at startup (Feast, pandas, the models) out of
      the cyclic collector's reach, so a full collection no longer walks millions of
      long-lived objects in the middle of a request.
    """
    import gc
    import sys

    sys.setswitchinterval(switch_interval)
    gc.collect()
    gc.freeze()


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers: the yard path comes from ``$MODELYARD_REPO``."""
    from modelyard.yard import Yard

    logging.basicConfig(level=os.environ.get("MODELYARD_LOG_LEVEL", "INFO"))
    repo = os.environ.get(REPO_ENV) or os.getcwd()
    return create_app(Yard.load(repo), tune_process=True)
