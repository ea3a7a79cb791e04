"""The real local servers the tests use, and the one rule for when one is down.

Locally a test that needs a missing server is skipped with the reason; under ``CI=true`` it
fails instead, because there every test must run (``.ci/run`` starts the servers).
"""

from __future__ import annotations

import os
import socket

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test"


def answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need(service: str, host: str, port: int) -> None:
    """Skip (locally) or fail (CI=true) the calling test when ``service`` does not answer."""
    if answers(host, port):
        return
    missing(f"{service} does not answer on {host}:{port}", "start it to run this test")


def missing(reason: str, remedy: str) -> None:
    """Skip the calling test with ``reason`` locally; fail it under CI=true, where every test must run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and under CI=true its tests must run (.ci/run sets the machine up)")
    pytest.skip(f"{reason}; {remedy} to run this test (CI=true makes this a failure)")


def need_compiled_rows():
    """The compiled row decoder of the online read (``modelyard.features.online.redis._redis_rows``)."""
    from modelyard.features.online.redis import codec as redis_codec

    if redis_codec.compiled_rows is None:
        missing(
            "the compiled decoder modelyard.features.online.redis._redis_rows is not built",
            "install with a C compiler present (`make install`)",
        )
    return redis_codec.compiled_rows


def need_redis() -> None:
    """:func:`need` for the shared local Redis."""
    need("Redis", REDIS_HOST, REDIS_PORT)
