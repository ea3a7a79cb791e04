"""Fixtures for routing tests: a deployment store over a real SQLite (or PostgreSQL) registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from routing_helpers import add_versions, make_store

from modelyard.routing.deployment import DeploymentStore


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[DeploymentStore]:
    """A store with three versions of ``rides`` and v1 holding ``production``."""
    s = make_store(sqlite_url)
    add_versions(s.backend, "rides", 3)
    s.backend.move_alias("rides", "production", action="promote", to_version=1, actor="test", reason="setup")
    yield s
    s.backend.close()
