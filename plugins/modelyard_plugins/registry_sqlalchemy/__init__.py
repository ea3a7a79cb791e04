"""Registry backend on SQLAlchemy: SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import RegistryBackendSpec


@hookimpl
def modelyard_registry_backends():
    yield RegistryBackendSpec(
        name="sqlalchemy",
        summary="Models, versions, snapshots and alias history in SQLite (default) or PostgreSQL.",
        factory="modelyard_plugins.registry_sqlalchemy.backend:SqlAlchemyBackend",
        config="modelyard_plugins.registry_sqlalchemy.config:SqlAlchemyBackendConfig",
    )
