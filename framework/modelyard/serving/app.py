"""The HTTP application: FastAPI (for the OpenAPI document) with hand-parsed JSON on the hot path.

``create_app(yard)`` builds the app; at startup it loads the served models
(:class:`~modelyard.serving.models.ModelTable`), opens the prediction cache and the prediction
log, and at shutdown flushes the log. The endpoints are those of the protocol plugins
``serving.protocols`` names (:mod:`modelyard.serving.protocol`; by default modelyard's own:
``v1`` JSON, ``v2`` the Open Inference Protocol, ``feedback``, ``push`` and the ``ui``), plus what
every worker answers: ``GET /metrics`` (Prometheus), ``GET /openapi.json`` and ``/docs``.

Handlers are ``async``: the feature read is awaited (the Redis fast path lets the loop serve
other requests meanwhile) and the (sub-millisecond) prediction runs on the event loop itself:
a thread hop costs more than the work. The hot POST endpoints bypass FastAPI's middleware
(:mod:`modelyard.serving.hot_routes`). Scale with worker processes
(``modelyard serve --workers N``), each of which loads its own models and polls the registry.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from modelyard.errors import ModelyardError
from modelyard.serving.state import ServingState, answer, build_state, json_response

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

    from modelyard.serving.hot_routes import ServingApp
    from modelyard.yard import Yard

__all__ = ["REPO_ENV", "ServingState", "answer", "app_from_env", "build_state", "create_app", "json_response"]

logger = logging.getLogger(__name__)

REPO_ENV = "MODELYARD_REPO"
"""Environment variable the worker processes read the yard path from (set by ``modelyard serve``)."""


def create_app(
    yard: Yard | None = None,
    *,
    state: ServingState | None = None,
    state_factory: Callable[[], ServingState] | None = None,
    tune_process: bool = False,
) -> FastAPI:
    """The serving app for ``yard`` (or for a prebuilt ``state``; tests pass their own).

    The routes are those of the protocols ``serving.protocols`` of the yard's config names,
    built and checked here (:func:`mount_protocols`), before any model is loaded.
    ``tune_process`` (set for real worker processes) applies :func:`tune_worker_process` once
    the models are loaded.
    """
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from modelyard import __version__
    from modelyard.serving import http_errors, routes_ops
    from modelyard.serving.api_docs import mount_api_docs
    from modelyard.serving.auth import Tokens
    from modelyard.serving.hot_routes import ServingApp

    yard = yard if yard is not None else (state.yard if state is not None else None)
    if yard is None:
        raise TypeError("create_app needs a yard or a state")
    if state is None and state_factory is None:
        state_factory = lambda: build_state(yard)  # noqa: E731

    @asynccontextmanager
    async def lifespan(app: ServingApp) -> AsyncIterator[None]:
        built = state if state is not None else state_factory()  # type: ignore[misc]
        app.state.serving = built
        settings = built.yard.config.serving
        app.guard(Tokens.load(settings.auth), max_body_bytes=settings.limits.max_body_bytes)
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
        description="Online predictions over a Feast feature store.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's /docs and /redoc load their scripts from a CDN: /docs is served locally
        redoc_url=None,
    )
    mount_api_docs(app)
    app.add_exception_handler(ModelyardError, http_errors.modelyard_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_errors.http_exception_handler)
    app.add_exception_handler(Exception, http_errors.unexpected_error_handler)
    app.include_router(routes_ops.router)
    protocols = mount_protocols(app, yard)
    app.description += f" Protocols (serving.protocols): {', '.join(protocols) or 'none'}."
    return app


def mount_protocols(app: ServingApp, yard: Yard) -> list[str]:
    """Build, check and mount every protocol ``serving.protocols`` names, in that order.

    Each protocol's paths get the scopes it declares (the rest need ``admin``); the POSTs it
    answers ahead of FastAPI are added to the app's hot routes. Returns the protocol names.
    """
    from modelyard.serving.auth import rules_for
    from modelyard.serving.protocol import check, endpoints, mount

    # what the app answers itself (/metrics, /docs...) no protocol may answer too
    owners = dict.fromkeys(endpoints(app.routes), "(modelyard itself)")
    hot = []
    names = []
    for choice in yard.config.serving.protocols:  # settings were validated when the yard loaded
        routes = yard.build_plugin("protocol", choice, yard=yard)
        check(choice.plugin, routes, owners)
        mount(app, choice.plugin, routes)
        app.protect(rules_for(routes.scopes))
        hot.extend(routes.hot)
        owners.update(dict.fromkeys(endpoints(routes.route_list()), choice.plugin))
        names.append(choice.plugin)
    app.hot_routes(hot)
    logger.info("protocols: %s", ", ".join(names) or "(none)")
    return names


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
    from modelyard.serving.preload import preload_flavors
    from modelyard.yard import Yard

    logging.basicConfig(level=os.environ.get("MODELYARD_LOG_LEVEL", "INFO"))
    repo = os.environ.get(REPO_ENV) or os.getcwd()
    yard = Yard.load(repo)
    preload_flavors(yard)  # first: cheaper before Feast and the web stack are imported
    return create_app(yard, tune_process=True)
