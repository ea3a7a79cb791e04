"""Snapshot fixtures: a registry without a yard over SQLite and over the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.artifacts.store import ArtifactStore
from modelyard.plugins.testing import make_host
from modelyard.registry.service import Registry
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def snapshot_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    url = (
        request.getfixturevalue("postgres_url")
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'r.db'}"
    )
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=url))
    yield Registry(backend, ArtifactStore(tmp_path / "artifacts"), host=make_host())
    backend.close()
