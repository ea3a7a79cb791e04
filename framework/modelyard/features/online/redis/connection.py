"""Feast's Redis ``connection_string`` read without importing Feast.

The format is Feast's (``RedisOnlineStore._parse_connection_string``): comma-separated
``host:port`` nodes and ``name=value`` parameters, each value JSON when it parses as JSON
(``db=1`` is the number 1), else the text. A test checks this reads every string as Feast does.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any


class UnsupportedConnection(Exception):
    """The fast paths do not open this connection (no host, TLS); the caller lets Feast do it."""


def feast_params(connection_string: str) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The string's nodes (``{"host", "port"}`` dicts) and parameters, exactly as Feast parses them."""
    parts = connection_string.split(",")
    nodes = [dict(zip(["host", "port"], part.split(":"), strict=False)) for part in parts if "=" not in part]
    params: dict[str, Any] = {}
    for part in parts:
        if "=" in part:
            name, raw = part.split("=", 1)
            value: Any = raw
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(raw)
            params[name] = value
    return nodes, params


def parse_connection(connection_string: str) -> tuple[list[tuple[str, int]], dict[str, Any], dict[str, Any]]:
    """(nodes as (host, port), the other parameters, the credentials to open a node with)."""
    nodes, params = feast_params(connection_string)
    if not nodes:
        raise UnsupportedConnection("the connection string names no Redis host")
    if params.get("ssl"):
        raise UnsupportedConnection("TLS connections")
    password = params.get("password")
    auth = {"username": params.get("username"), "password": None if password is None else str(password)}
    return [(n.get("host", "localhost"), int(n.get("port", 6379))) for n in nodes], params, auth
