"""Registry fixtures: one backend per database (SQLite file and the real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.plugins import hookimpl
from modelyard.plugins.testing import make_host
from modelyard.registry.service import Registry
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty registry database: a fresh SQLite file or a fresh PostgreSQL database."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def backend(db_url: str) -> Iterator[SqlAlchemyBackend]:
    b = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url))
    yield b
    b.close()


class EventRecorder:
    """A plugin that records the alias events the registry fires."""

    def __init__(self) -> None:
        self.promoted: list[Any] = []
        self.rolled_back: list[Any] = []

    @hookimpl
    def modelyard_on_promote(self, event: Any) -> None:
        self.promoted.append(event)

    @hookimpl
    def modelyard_on_rollback(self, event: Any) -> None:
        self.rolled_back.append(event)


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def registry(backend: SqlAlchemyBackend, tmp_path: Path, recorder: EventRecorder) -> Registry:
    """A registry without a yard (no schema checks) over the parametrised backend."""
    from modelyard.artifacts.store import ArtifactStore

    host = make_host(recorder)
    return Registry(backend, ArtifactStore(tmp_path / "artifacts"), host=host, logs_dir=tmp_path / "logs")
