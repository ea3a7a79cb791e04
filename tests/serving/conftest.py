"""Fixtures of the serving tests: a Feast repo on real Redis, built once per module."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import srv_feast_repo as feast_repo

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def need_redis() -> None:
    """Skip (locally) or fail (CI=true) when the shared Redis is down, like tests/conftest.py's fixture."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1):
            return
    except OSError:
        reason = f"Redis does not answer on {REDIS_HOST}:{REDIS_PORT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and under CI=true its tests must run")
    pytest.skip(f"{reason}; start it to run this test")


@pytest.fixture(scope="module")
def redis_feast_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """(repo path, project) of a fresh Feast repo materialized into the real local Redis."""
    need_redis()
    repo, project = feast_repo.build(tmp_path_factory.mktemp("srv"), REDIS_URL)
    try:
        yield repo, project
    finally:
        feast_repo.teardown(repo)
