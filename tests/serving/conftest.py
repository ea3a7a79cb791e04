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


@pytest.fixture(scope="session")
def served_example_yard(make_example_repo, tmp_path_factory):
    """(yard, base URL, state) of a real server over the example repo, both models trained and in
    production; shared by the hardening and fuzzing tests (which leave it as they found it)."""
    from srv_helpers import served_example

    with served_example(make_example_repo, tmp_path_factory.mktemp("served_example")) as served:
        yield served
