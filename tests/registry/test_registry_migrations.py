"""Schema migrations: an old database upgrades in place; a newer one is refused."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from modelyard.errors import DatabaseVersionError
from modelyard_plugins.registry_sqlalchemy import schema
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig


def _timed(sql: str) -> sa.TextClause:
    """Raw SQL whose ``:t`` goes through SQLAlchemy's DateTime, not whatever sqlite3 adapter the process has."""
    return sa.text(sql).bindparams(sa.bindparam("t", type_=sa.DateTime(timezone=True)))


def test_a_revision_1_database_upgrades_with_its_data_intact(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    schema.upgrade(engine, "0001")
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        assert schema.current_revision(conn) == "0001"
        assert not sa.inspect(conn).has_table("deployments")
        conn.execute(
            _timed("INSERT INTO models (name, description, created_at) VALUES ('m', '', :t)"), {"t": now}
        )
        conn.execute(
            _timed(
                "INSERT INTO versions (model_id, version, flavor, artifact_uri, artifact_sha256, "
                "artifact_size, feature_service, python_version, libraries, created_by, created_at, description) "
                "VALUES (1, 1, 'python', 'file:///x', :sha, 5, 'svc', '3.11', '{}', 'ann', :t, 'old')"
            ),
            {"sha": "f" * 64, "t": now},
        )
        conn.execute(sa.text("INSERT INTO version_metrics (version_id, key, value) VALUES (1, 'auc', 0.8)"))
        conn.execute(
            _timed(
                "INSERT INTO aliases (model_id, alias, version, updated_at) VALUES (1, 'production', 1, :t)"
            ),
            {"t": now},
        )
    engine.dispose()

    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url))
    try:
        with backend.engine.connect() as conn:
            assert schema.current_revision(conn) == schema.head_revision()
        version = backend.get_version("m", 1)
        assert (version.artifact_sha256, version.metrics, version.created_by) == (
            "f" * 64,
            {"auc": 0.8},
            "ann",
        )
        assert backend.aliases("m") == {"production": 1}
        # tables of revision 2 work
        assert backend.put_deployment("m", {"x": 1}, actor="a", reason="r") == 1
    finally:
        backend.close()


def test_a_database_from_a_newer_modelyard_is_refused(db_url: str) -> None:
    SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url)).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(DatabaseVersionError) as info:
        SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url))
    message = str(info.value)
    assert "0099" in message and schema.head_revision() in message
    # and nothing was touched
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert schema.current_revision(conn) == "0099"
    engine.dispose()


def test_opening_twice_migrates_once(db_url: str) -> None:
    SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url)).close()
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url))
    with backend.engine.connect() as conn:
        assert schema.current_revision(conn) == schema.head_revision()
    backend.close()


def test_a_revision_2_database_gains_code_hashes_and_forced_flags_with_its_data_intact(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    schema.upgrade(engine, "0002")
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(
            _timed("INSERT INTO models (name, description, created_at) VALUES ('m', '', :t)"), {"t": now}
        )
        conn.execute(
            _timed(
                "INSERT INTO versions (model_id, version, flavor, artifact_uri, artifact_sha256, "
                "artifact_size, feature_service, python_version, libraries, created_by, created_at, description) "
                "VALUES (1, 1, 'python', 'file:///x', :sha, 5, 'svc', '3.11', '{}', 'ann', :t, 'old')"
            ),
            {"sha": "f" * 64, "t": now},
        )
        conn.execute(
            _timed(
                "INSERT INTO alias_events (model_id, alias, from_version, to_version, action, actor, "
                "reason, at, revision) VALUES (1, 'production', NULL, 1, 'promote', 'ann', 'first', :t, 1)"
            ),
            {"t": now},
        )
    engine.dispose()

    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url))
    try:
        with backend.engine.connect() as conn:
            assert schema.current_revision(conn) == schema.head_revision()
        version = backend.get_version("m", 1)
        assert (version.artifact_sha256, version.description, version.code_sha256, version.config_sha256) == (
            "f" * 64,
            "old",
            None,
            None,
        )
        (event,) = backend.alias_history("m")
        assert (event.reason, event.forced) == ("first", False)
    finally:
        backend.close()


def test_a_revision_3_database_gains_store_columns_with_its_rows_intact(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    schema.upgrade(engine, "0003")
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    uri = "/old/place/objects/ff/" + "f" * 64
    with engine.begin() as conn:
        conn.execute(
            _timed("INSERT INTO models (name, description, created_at) VALUES ('m', '', :t)"), {"t": now}
        )
        conn.execute(
            _timed(
                "INSERT INTO versions (model_id, version, flavor, artifact_uri, artifact_sha256, "
                "artifact_size, feature_service, python_version, libraries, created_by, created_at, description, "
                "code_sha256) VALUES (1, 1, 'python', :uri, :sha, 5, 'svc', '3.11', '{}', 'ann', :t, 'old', :sha)"
            ),
            {"uri": uri, "sha": "f" * 64, "t": now},
        )
        conn.execute(
            _timed(
                "INSERT INTO snapshots (id, model, feature_service, uri, content_sha256, size, rows, "
                "feature_refs, created_at) VALUES ('s1', 'm', 'svc', :uri, :sha, 5, 3, '[]', :t)"
            ),
            {"uri": uri, "sha": "f" * 64, "t": now},
        )
    engine.dispose()

    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url))
    try:
        version = backend.get_version("m", 1)
        assert (version.artifact_uri, version.code_sha256, version.artifact_store) == (uri, "f" * 64, None)
        snapshot = backend.get_snapshot("s1")
        assert (snapshot.uri, snapshot.rows, snapshot.store) == (uri, 3, None)
    finally:
        backend.close()
