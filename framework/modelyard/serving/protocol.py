"""The protocol contract: what a protocol plugin builds, and how the server mounts it.

A protocol front end (v1 JSON, the Open Inference Protocol v2, feedback, push, the web UI, or a
third-party one such as KServe v1) is a plugin of the ``protocol`` role
(:func:`modelyard.plugins.hookspecs.modelyard_protocols`). Its factory returns a
:class:`ProtocolRoutes`; :func:`mount` checks it and adds it to the app:

* every path the protocol declares a scope for must be one of its own routes (a plugin cannot
  open, or change the scope of, another protocol's path), and the scope must be one of
  ``open``, ``predict``, ``feedback`` or ``admin``; a route it does not list needs ``admin``;
* two protocols answering the same method on the same path refuse to start, naming both;
* hot endpoints (POSTs answered ahead of FastAPI's middleware, see
  :mod:`modelyard.serving.hot_routes`) must be POST routes of the same protocol.

Authentication is checked for every request before any route runs
(:meth:`modelyard.serving.hot_routes.ServingApp.guard`), so it applies to every route a protocol
adds, whatever the protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import APIRouter, FastAPI
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from modelyard.serving.state import ServingState

#: what a path may need: no token, or a token of one of these scopes (``admin`` may use anything)
SCOPES = ("open", "predict", "feedback", "admin")

HotHandler = Callable[..., Awaitable["Response"]]


@dataclass(frozen=True)
class ProtocolRoutes:
    """The routes of one protocol front end, and what each needs.

    ``routes``: a FastAPI ``APIRouter`` (its routes appear in the OpenAPI document) or a list of
    Starlette routes. ``scopes``: path template (exactly as the route declares it,
    ``/v1/models/{model}/predict``) -> ``open``, ``predict``, ``feedback`` or ``admin``; every
    path not listed needs ``admin``. ``hot``: ``(path template, handler)`` of POST endpoints to
    answer ahead of FastAPI's middleware; the handler is called as
    ``handler(request=request, **path_params)`` and must answer every error itself.
    """

    routes: APIRouter | Sequence[BaseRoute]
    scopes: Mapping[str, str] = field(default_factory=dict)
    hot: Sequence[tuple[str, HotHandler]] = ()

    def route_list(self) -> list[BaseRoute]:
        """The routes as a list, whichever form they were given in."""
        given = self.routes
        routes: Iterable[BaseRoute] = given.routes if hasattr(given, "routes") else given
        return list(routes)


def serving_state(request: Request) -> ServingState:
    """The worker's :class:`~modelyard.serving.state.ServingState` (loaded models, prediction
    service, metrics) for a request's handler."""
    state: ServingState = request.app.state.serving
    return state


def endpoints(routes: Iterable[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """``(method, path template)`` of every endpoint (``*`` for a mount or a route of any method),
    included routers opened up (newer FastAPI keeps them nested in ``app.routes``)."""
    out: set[tuple[str, str]] = set()
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            out |= endpoints(inner.routes, prefix + getattr(context, "prefix", ""))
            continue
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = getattr(route, "methods", None) or {"*"}
        out.update((method, prefix + path) for method in methods if method != "HEAD")
    return out


def check(name: str, routes: Any, owners: Mapping[tuple[str, str], str]) -> set[tuple[str, str]]:
    """Check what protocol ``name`` built against the endpoints ``owners`` already mounted.

    Returns its endpoints; raises :class:`~modelyard.errors.ConfigError` (key
    ``serving.protocols``) naming the protocol and what to change.
    """
    if not isinstance(routes, ProtocolRoutes):
        raise ConfigError(
            f"the protocol plugin {name!r} built a {type(routes).__name__}; its factory must return "
            "modelyard.serving.protocol.ProtocolRoutes",
            key="serving.protocols",
        )
    mine = endpoints(routes.route_list())
    paths = {path for _, path in mine}
    for path, scope in routes.scopes.items():
        if scope not in SCOPES:
            raise ConfigError(
                f"the protocol plugin {name!r} gives {path!r} the scope {scope!r}; use one of {', '.join(SCOPES)}",
                key="serving.protocols",
            )
        if path not in paths:
            raise ConfigError(
                f"the protocol plugin {name!r} sets the scope of {path!r}, which is not one of its routes "
                f"({', '.join(sorted(paths)) or 'none'}): a protocol sets scopes only for its own paths",
                key="serving.protocols",
            )
    for path, _ in routes.hot:
        if ("POST", path) not in mine:
            raise ConfigError(
                f"the protocol plugin {name!r} answers POST {path} ahead of FastAPI but has no POST route "
                "for it (the route is what the OpenAPI document shows)",
                key="serving.protocols",
            )
    for endpoint in sorted(mine):
        other = owners.get(endpoint) or owners.get(("*", endpoint[1]))
        if other is None and endpoint[0] == "*":
            other = next((p for (m, path), p in owners.items() if path == endpoint[1]), None)
        if other is not None:
            raise ConfigError(
                f"the protocol plugins {other!r} and {name!r} both answer {endpoint[0]} {endpoint[1]}; "
                "remove one of them from serving.protocols",
                key="serving.protocols",
            )
    return mine


def mount(app: FastAPI, name: str, routes: ProtocolRoutes) -> None:
    """Add one checked protocol's routes to ``app`` (an APIRouter is included, so it is documented)."""
    from fastapi import APIRouter

    if isinstance(routes.routes, APIRouter):
        app.include_router(routes.routes)
    else:
        app.router.routes.extend(routes.routes)
