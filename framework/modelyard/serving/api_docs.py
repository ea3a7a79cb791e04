"""``/docs``: Swagger UI served by the worker itself, so it works where no CDN can be reached.

FastAPI's default ``/docs`` page loads Swagger UI's script and stylesheet from a CDN (and
``/redoc`` loads ReDoc from one): on a machine without internet access the page is blank.
Here the page points at the Swagger UI files the ``swagger-ui-bundle-v2`` package ships
(served under :data:`ASSETS`), uses the worker's own favicon and turns off Swagger UI's
online validator badge, so rendering the page fetches nothing from another host.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: where the Swagger UI files are served
ASSETS = "/docs/assets"


def swagger_ui_files() -> Path:
    """The directory of the installed Swagger UI distribution (``swagger-ui-bundle.js`` and the rest)."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def mount_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from local files (create the app with ``docs_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_files()), name="swagger-ui")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            # the validator badge is an image from validator.swagger.io: off
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs/oauth2-redirect", oauth2_redirect, methods=["GET"], include_in_schema=False)
