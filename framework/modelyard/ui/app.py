"""``modelyard ui``: the web UI on its own, for a yard with no model loaded (no serving worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

    from modelyard.yard import Yard


def create_ui_app(yard: Yard) -> FastAPI:
    """A FastAPI app serving :mod:`modelyard.ui.routes` for ``yard``; ``/`` redirects to ``/ui``.

    It checks bearer tokens exactly as ``modelyard serve`` does (the yard's ``serving.auth``
    tokens and ``MODELYARD_TOKENS_*``): with tokens configured every page needs an admin token,
    and only an admin may promote, roll back or pause.
    """
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.responses import RedirectResponse

    from modelyard import __version__
    from modelyard.errors import ModelyardError
    from modelyard.serving import http_errors
    from modelyard.serving.auth import Tokens, rules_for
    from modelyard.serving.hot_routes import ServingApp
    from modelyard.ui.routes import protocol, router

    app = ServingApp(
        title="modelyard UI", version=__version__, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.protect(rules_for(protocol(yard).scopes))  # the sign-in form stays open, as under `modelyard serve`
    settings = yard.config.serving
    app.guard(Tokens.load(settings.auth), max_body_bytes=settings.limits.max_body_bytes)
    app.state.yard = yard
    app.add_exception_handler(ModelyardError, http_errors.modelyard_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_errors.http_exception_handler)
    app.add_exception_handler(Exception, http_errors.unexpected_error_handler)
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=307)

    return app
