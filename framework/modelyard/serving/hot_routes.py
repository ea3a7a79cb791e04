"""The serving app's ASGI entry: hot endpoints answered in front of FastAPI's stack.

FastAPI wraps every request in about eight ASGI layers (server-error, telemetry, body-limit,
exception and exit-stack middleware, then the router and its dependency solving) before a
handler runs; on a one-entity prediction they cost more CPU than reading the features. The
hot POST endpoints (predictions, inference, feature vectors) read their own body, parse their
own JSON and turn every error into a JSON answer themselves (:func:`modelyard.serving.state.answer`),
so they need none of it: :class:`ServingApp` sends a request whose method and path match one
of them straight to its handler, and everything else (every other route, the lifespan, the
OpenAPI document, which still describes the hot endpoints through their FastAPI routes) goes
through FastAPI as usual.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import Receive, Scope, Send

from modelyard.serving.http_errors import response_for

logger = logging.getLogger(__name__)

HotHandler = Callable[..., Awaitable[Response]]


class ServingApp(FastAPI):
    """FastAPI, with the hot POST endpoints (see the module docstring) answered first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hot: list[tuple[re.Pattern[str], HotHandler]] = []

    def hot_routes(self, routes: Sequence[tuple[str, HotHandler]]) -> None:
        """Answer POSTs to these path templates (``/v1/models/{model}/predict``) with their handler.

        A handler is called as ``handler(request=request, **path_params)`` and must never raise
        for a bad request: it answers the error itself.
        """
        self._hot = [(compile_path(path)[0], handler) for path, handler in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self._hot:
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            for pattern, handler in self._hot:
                match = pattern.match(path)
                if match is not None:
                    scope["app"] = self
                    await self._answer(handler, match.groupdict(), scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    @staticmethod
    async def _answer(
        handler: HotHandler, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        try:
            response = await handler(request=Request(scope, receive), **params)
        except Exception as exc:  # noqa: BLE001 - what FastAPI's error middleware would catch
            logger.exception("unexpected error answering %s", scope["path"])
            response = response_for(exc)
        await response(scope, receive, send)
