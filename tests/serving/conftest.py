"""Fixtures of the serving tests: a Feast repo on real Redis, built once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import srv_feast_repo as feast_repo
from services import REDIS_URL, need_redis


@pytest.fixture(scope="module")
def redis_feast_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """(repo path, project) of a fresh Feast repo materialized into the real local Redis."""
    need_redis()
    repo, project = feast_repo.build(tmp_path_factory.mktemp("srv"), REDIS_URL)
    try:
        yield repo, project
    finally:
        feast_repo.teardown(repo)
