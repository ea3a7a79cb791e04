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

Before either, every HTTP request passes the guards all endpoints share
(:meth:`ServingApp.guard`): the bearer token and its scope (:mod:`modelyard.serving.auth`),
then the body size (a 413 as soon as ``Content-Length`` or the bytes received pass
``serving.limits.max_body_bytes``, before the body is read whole).
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

from modelyard.serving.auth import SCOPES_KEY, ProtocolRules, Tokens, document_security
from modelyard.serving.http_errors import error_response, response_for

logger = logging.getLogger(__name__)

HotHandler = Callable[..., Awaitable[Response]]


class ServingApp(FastAPI):
    """FastAPI, with the hot POST endpoints (see the module docstring) answered first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hot: list[tuple[re.Pattern[str], HotHandler]] = []
        self._tokens = Tokens()
        self._rules: ProtocolRules = ()
        self._max_body: int | None = None

    @property
    def tokens(self) -> Tokens:
        """The tokens every request is checked against, with the mounted protocols' scopes."""
        return self._tokens

    def guard(self, tokens: Tokens, *, max_body_bytes: int | None) -> None:
        """Check every request's token against ``tokens`` and bound its body to ``max_body_bytes``.

        The paths of the protocols :meth:`protect` was given keep their scopes. The tokens are
        also left in ``app.state.tokens`` (the UI's sign-in checks a token's scope with them), and
        the OpenAPI document is rebuilt to name the bearer scheme they enforce.
        """
        self._tokens = tokens.with_rules(self._rules)
        self._max_body = max_body_bytes
        self.state.tokens = self._tokens
        self.openapi_schema = None

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with the bearer scheme, scopes and 401/403 of the configured tokens."""
        if self.openapi_schema is None:
            self.openapi_schema = document_security(super().openapi(), self._tokens)
        return self.openapi_schema

    def protect(self, rules: ProtocolRules) -> None:
        """Add the (path pattern, scope) rules of a mounted protocol (:func:`modelyard.serving.auth.rules_for`)."""
        self._rules = (*self._rules, *rules)
        self._tokens = self._tokens.with_rules(self._rules)
        self.state.tokens = self._tokens
        self.openapi_schema = None

    def hot_routes(self, routes: Sequence[tuple[str, HotHandler]]) -> None:
        """Answer POSTs to these path templates (``/v1/models/{model}/predict``) with their handler.

        A handler is called as ``handler(request=request, **path_params)`` and must never raise
        for a bad request: it answers the error itself.
        """
        self._hot = [(compile_path(path)[0], handler) for path, handler in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if self._tokens.enabled:
            status, granted = self._tokens.check(
                path,
                _header(scope, b"authorization"),
                cookie_token=_ui_cookie(scope) if path.startswith("/ui") else None,
            )
            if status != 200:
                await _refuse(status, scope, receive, send, ui=path.startswith("/ui"))
                return
            scope[SCOPES_KEY] = granted
        if self._max_body is not None and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            bounded = await _bounded_body(scope, receive, self._max_body)
            if isinstance(bounded, Response):
                await bounded(scope, receive, send)
                return
            receive = bounded
        if scope["method"] == "POST" and self._hot:
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
        except Exception as exc:  # what FastAPI's error middleware would catch
            logger.exception("unexpected error answering %s", scope["path"])
            response = response_for(exc)
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _ui_cookie(scope: Scope) -> str | None:
    """The token in the UI's admin cookie, if the request has one."""
    from starlette.requests import cookie_parser

    from modelyard.ui.routes import ADMIN_COOKIE

    raw = _header(scope, b"cookie")
    return cookie_parser(raw).get(ADMIN_COOKIE) if raw else None


async def _refuse(status: int, scope: Scope, receive: Receive, send: Send, *, ui: bool = False) -> None:
    """401 (no valid token) or 403 (a token of another scope); nothing in it helps a guesser."""
    if status == 401:
        where = "; in a browser, sign in at /ui/admin with an admin token" if ui else ""
        response = error_response(
            401, f"a valid bearer token is required (Authorization: Bearer <token>){where}", "Unauthorized"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="modelyard"'
    else:
        response = error_response(403, "this token may not use this endpoint", "Forbidden")
    await response(scope, receive, send)


async def _bounded_body(scope: Scope, receive: Receive, limit: int) -> Receive | Response:
    """A receive giving at most ``limit`` body bytes, or a 413/400 answer.

    With a ``Content-Length`` the header decides (the HTTP server holds the client to it); a
    chunked body is read here up to ``limit`` bytes, then replayed to the app.
    """
    declared = _header(scope, b"content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            return error_response(400, "Content-Length is not a number", "BadRequest")
        # the server holds the client to its Content-Length: nothing to count or buffer
        return _too_large(limit) if size > limit else receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the app see it
            return _replay(b"".join(chunks), receive, first=message)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return _replay(b"".join(chunks), receive)


def _too_large(limit: int) -> Response:
    return error_response(
        413, f"the request body is larger than {limit} bytes (serving.limits.max_body_bytes)", "BodyTooLarge"
    )


def _replay(body: bytes, receive: Receive, *, first: Any = None) -> Receive:
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return first if first is not None else {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
