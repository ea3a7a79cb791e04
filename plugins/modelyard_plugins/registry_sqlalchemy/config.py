"""Settings of the ``sqlalchemy`` registry backend, apart from the backend so that validating them
(every command validates the configured plugins' settings) does not import SQLAlchemy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SqlAlchemyBackendConfig(BaseModel):
    """Settings of the ``sqlalchemy`` registry backend (``registry.settings`` in modelyard.yaml)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (write ${VAR} to take a "
        "password from the environment). Default: a SQLite file registry.db in the yard's home.",
    )
    pool_size: int = Field(5, ge=1, description="connections kept open (PostgreSQL)")
    max_overflow: int = Field(10, ge=0, description="extra connections allowed under load (PostgreSQL)")
    pool_recycle: int = Field(1800, ge=-1, description="seconds before a connection is replaced")
    pool_pre_ping: bool = Field(True, description="test a pooled connection before using it")
    busy_timeout: float = Field(30.0, gt=0, description="seconds a SQLite writer waits for the lock")
    echo: bool = Field(False, description="log every SQL statement")
