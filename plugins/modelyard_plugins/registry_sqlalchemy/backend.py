"""The built-in registry backend: SQLAlchemy over SQLite (default) or PostgreSQL.

Concurrency: every write runs in one transaction. On PostgreSQL, version numbers are
allocated under a ``SELECT ... FOR UPDATE`` lock on the model's row, and alias moves under
a lock on the single ``alias_revision`` counter row, so concurrent processes serialise
and the history stays complete. On SQLite, writes start with ``BEGIN IMMEDIATE`` (one
writer at a time, readers unaffected in WAL mode).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import sqlalchemy as sa

from modelyard.errors import (
    ModelNotFound,
    NoPreviousHolder,
    RegistryError,
    SnapshotNotFound,
    VersionNotFound,
)
from modelyard.registry.backend import RegistryBackend
from modelyard.registry.history import rollback_target
from modelyard.registry.types import AliasAction, AliasEvent, ModelVersion, Snapshot, VersionDraft
from modelyard_plugins.registry_sqlalchemy import schema
from modelyard_plugins.registry_sqlalchemy import tables as t
from modelyard_plugins.registry_sqlalchemy.config import SqlAlchemyBackendConfig

if TYPE_CHECKING:
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

DEFAULT_DB_FILE = "registry.db"
_WRITE = schema.WRITE_OPTION


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _metric_value(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


class SqlAlchemyBackend(RegistryBackend):
    """Registry storage in a SQL database through SQLAlchemy Core; migrates the schema on open."""

    def __init__(
        self,
        config: SqlAlchemyBackendConfig | None = None,
        *,
        yard: Yard | None = None,
        migrate: bool = True,
        **_context: Any,
    ) -> None:
        self.config = config or SqlAlchemyBackendConfig()
        self.url = self._resolve_url(self.config.url, yard)
        self.engine = self._make_engine(self.url)
        if migrate:
            schema.upgrade(self.engine)

    # -- setup -----------------------------------------------------------------------

    @staticmethod
    def _resolve_url(url: str | None, yard: Yard | None) -> str:
        """The configured URL (``${VAR}`` already expanded by the config loader), else SQLite in the yard home."""
        if url:
            return url
        home = yard.home if yard is not None else Path.cwd() / ".modelyard"
        return f"sqlite:///{Path(home) / DEFAULT_DB_FILE}"

    def _make_engine(self, url: str) -> sa.Engine:
        parsed = sa.make_url(url)
        cfg = self.config
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                parsed,
                echo=cfg.echo,
                connect_args={"timeout": cfg.busy_timeout, "check_same_thread": False},
            )
            _sqlite_transactions(engine, cfg.busy_timeout)
            return engine
        return sa.create_engine(
            parsed,
            echo=cfg.echo,
            pool_size=cfg.pool_size,
            max_overflow=cfg.max_overflow,
            pool_recycle=cfg.pool_recycle,
            pool_pre_ping=cfg.pool_pre_ping,
        )

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _insert_ignore(self, conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> None:
        """INSERT that does nothing when the primary/unique key already exists."""
        dialect = conn.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(table).values(**values).on_conflict_do_nothing())
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            conn.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing())
        else:
            try:
                with conn.begin_nested():
                    conn.execute(table.insert().values(**values))
            except sa.exc.IntegrityError:
                pass

    # -- models ----------------------------------------------------------------------

    def _model_id(self, conn: sa.Connection, model: str, *, lock: bool = False) -> int:
        query = sa.select(t.models.c.id).where(t.models.c.name == model)
        if lock:
            query = query.with_for_update()
        model_id = conn.execute(query).scalar_one_or_none()
        if model_id is None:
            known = conn.execute(sa.select(t.models.c.name).order_by(t.models.c.name)).scalars().all()
            raise ModelNotFound(
                f"no model {model!r} in the registry; registered: {', '.join(known) or '(none)'}"
            )
        return model_id

    def list_models(self) -> list[str]:
        with self._read() as conn:
            return list(conn.execute(sa.select(t.models.c.name).order_by(t.models.c.name)).scalars())

    # -- versions --------------------------------------------------------------------

    def add_version(self, draft: VersionDraft) -> ModelVersion:
        with self._write() as conn:
            self._insert_ignore(
                conn, t.models, {"name": draft.model, "description": "", "created_at": _now()}
            )
            model_id = self._model_id(conn, draft.model, lock=True)
            last = conn.execute(
                sa.select(sa.func.max(t.versions.c.version)).where(t.versions.c.model_id == model_id)
            ).scalar_one()
            number = (last or 0) + 1
            version_id = conn.execute(
                t.versions.insert()
                .values(
                    model_id=model_id,
                    version=number,
                    flavor=draft.flavor,
                    artifact_uri=draft.artifact_uri,
                    artifact_sha256=draft.artifact_sha256,
                    artifact_size=draft.artifact_size,
                    snapshot_id=draft.snapshot_id,
                    feature_service=draft.feature_service,
                    schema_fingerprint=draft.schema_fingerprint,
                    git_commit=draft.git_commit,
                    git_dirty=draft.git_dirty,
                    python_version=draft.python_version,
                    libraries=dict(draft.libraries),
                    created_by=draft.created_by,
                    created_at=_now(),
                    description=draft.description,
                    code_sha256=draft.code_sha256,
                    config_sha256=draft.config_sha256,
                    artifact_store=draft.artifact_store,
                )
                .returning(t.versions.c.id)
            ).scalar_one()
            if draft.params:
                conn.execute(
                    t.version_params.insert(),
                    [
                        {
                            "version_id": version_id,
                            "key": str(key),
                            "value_json": json.dumps(value, sort_keys=True, default=str),
                            "value_num": float(value)
                            if isinstance(value, (int, float)) and not isinstance(value, bool)
                            else None,
                        }
                        for key, value in draft.params.items()
                    ],
                )
            if draft.metrics:
                conn.execute(
                    t.version_metrics.insert(),
                    [
                        {"version_id": version_id, "key": str(key), "value": _metric_value(value)}
                        for key, value in draft.metrics.items()
                    ],
                )
            return self._load_versions(conn, model_id, draft.model, version=number)[0]

    def get_version(self, model: str, version: int | None = None) -> ModelVersion:
        with self._read() as conn:
            model_id = self._model_id(conn, model)
            if version is None:
                version = conn.execute(
                    sa.select(sa.func.max(t.versions.c.version)).where(t.versions.c.model_id == model_id)
                ).scalar_one()
                if version is None:
                    raise VersionNotFound(f"model {model!r} has no versions")
            found = self._load_versions(conn, model_id, model, version=version)
            if not found:
                numbers = self._version_numbers(conn, model_id)
                raise VersionNotFound(
                    f"{model} has no version {version}; versions: {', '.join(map(str, numbers)) or '(none)'}"
                )
            return found[0]

    def list_versions(self, model: str) -> list[ModelVersion]:
        with self._read() as conn:
            model_id = self._model_id(conn, model)
            return self._load_versions(conn, model_id, model)

    def delete_version(self, model: str, version: int) -> None:
        with self._write() as conn:
            model_id = self._model_id(conn, model, lock=True)
            holders = (
                conn.execute(
                    sa.select(t.aliases.c.alias).where(
                        t.aliases.c.model_id == model_id, t.aliases.c.version == version
                    )
                )
                .scalars()
                .all()
            )
            if holders:
                raise RegistryError(
                    f"{model} v{version} holds the alias(es) {', '.join(holders)}; move them before deleting it"
                )
            version_id = conn.execute(
                sa.select(t.versions.c.id).where(
                    t.versions.c.model_id == model_id, t.versions.c.version == version
                )
            ).scalar_one_or_none()
            if version_id is None:
                raise VersionNotFound(f"{model} has no version {version}")
            conn.execute(t.version_params.delete().where(t.version_params.c.version_id == version_id))
            conn.execute(t.version_metrics.delete().where(t.version_metrics.c.version_id == version_id))
            conn.execute(t.versions.delete().where(t.versions.c.id == version_id))

    def _version_numbers(self, conn: sa.Connection, model_id: int) -> list[int]:
        return list(
            conn.execute(
                sa.select(t.versions.c.version)
                .where(t.versions.c.model_id == model_id)
                .order_by(t.versions.c.version)
            ).scalars()
        )

    def _load_versions(
        self, conn: sa.Connection, model_id: int, model: str, *, version: int | None = None
    ) -> list[ModelVersion]:
        query = sa.select(t.versions).where(t.versions.c.model_id == model_id)
        if version is not None:
            query = query.where(t.versions.c.version == version)
        rows = conn.execute(query.order_by(t.versions.c.version)).mappings().all()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        params: dict[int, dict[str, Any]] = {i: {} for i in ids}
        for row in conn.execute(
            sa.select(t.version_params).where(t.version_params.c.version_id.in_(ids))
        ).mappings():
            params[row["version_id"]][row["key"]] = json.loads(row["value_json"])
        metrics: dict[int, dict[str, float]] = {i: {} for i in ids}
        for row in conn.execute(
            sa.select(t.version_metrics).where(t.version_metrics.c.version_id.in_(ids))
        ).mappings():
            metrics[row["version_id"]][row["key"]] = (
                float("nan") if row["value"] is None else float(row["value"])
            )
        return [
            ModelVersion(
                model=model,
                version=row["version"],
                flavor=row["flavor"],
                artifact_uri=row["artifact_uri"],
                artifact_sha256=row["artifact_sha256"],
                params=dict(sorted(params[row["id"]].items())),
                metrics=dict(sorted(metrics[row["id"]].items())),
                snapshot_id=row["snapshot_id"],
                feature_service=row["feature_service"],
                schema_fingerprint=row["schema_fingerprint"],
                git_commit=row["git_commit"],
                git_dirty=row["git_dirty"],
                python_version=row["python_version"],
                libraries=dict(row["libraries"] or {}),
                created_by=row["created_by"],
                created_at=_utc(row["created_at"]),
                description=row["description"],
                artifact_size=row["artifact_size"],
                code_sha256=row["code_sha256"],
                config_sha256=row["config_sha256"],
                artifact_store=row["artifact_store"],
            )
            for row in rows
        ]

    # -- snapshots -------------------------------------------------------------------

    def add_snapshot(self, snapshot: Snapshot) -> Snapshot:
        with self._write() as conn:
            self._insert_ignore(
                conn,
                t.snapshots,
                {
                    "id": snapshot.id,
                    "model": snapshot.model,
                    "feature_service": snapshot.feature_service,
                    "uri": snapshot.uri,
                    "content_sha256": snapshot.content_sha256,
                    "size": snapshot.size,
                    "rows": snapshot.rows,
                    "start_time": _utc(snapshot.start),
                    "end_time": _utc(snapshot.end),
                    "feature_refs": list(snapshot.feature_refs),
                    "schema_fingerprint": snapshot.schema_fingerprint,
                    "profile": snapshot.profile,
                    "entities_uri": snapshot.entities_uri,
                    "entities_sha256": snapshot.entities_sha256,
                    "entities_size": snapshot.entities_size,
                    "store": snapshot.store,
                    "created_at": _utc(snapshot.created_at) or _now(),
                },
            )
            row = conn.execute(sa.select(t.snapshots).where(t.snapshots.c.id == snapshot.id)).mappings().one()
            return _snapshot(row)

    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(t.snapshots).where(t.snapshots.c.id == snapshot_id))
                .mappings()
                .one_or_none()
            )
        if row is None:
            raise SnapshotNotFound(
                f"no snapshot {snapshot_id!r} in the registry (see `modelyard snapshots list`)"
            )
        return _snapshot(row)

    def list_snapshots(self, model: str | None = None) -> list[Snapshot]:
        query = sa.select(t.snapshots).order_by(t.snapshots.c.created_at, t.snapshots.c.id)
        if model is not None:
            query = query.where(t.snapshots.c.model == model)
        with self._read() as conn:
            return [_snapshot(row) for row in conn.execute(query).mappings()]

    def delete_snapshot(self, snapshot_id: str) -> None:
        with self._write() as conn:
            deleted = conn.execute(t.snapshots.delete().where(t.snapshots.c.id == snapshot_id)).rowcount
        if not deleted:
            raise SnapshotNotFound(f"no snapshot {snapshot_id!r} in the registry")

    # -- aliases ---------------------------------------------------------------------

    def move_alias(
        self,
        model: str,
        alias: str,
        *,
        action: AliasAction,
        to_version: int | None = None,
        actor: str,
        reason: str,
        forced: bool = False,
    ) -> AliasEvent:
        if action not in ("promote", "rollback"):
            raise RegistryError(f"unknown alias action {action!r}; use 'promote' or 'rollback'")
        with self._write() as conn:
            # One counter row: taking its lock serialises every alias move of every model.
            conn.execute(
                t.counters.update()
                .where(t.counters.c.name == "alias_revision")
                .values(value=t.counters.c.value + 1)
            )
            revision = conn.execute(
                sa.select(t.counters.c.value).where(t.counters.c.name == "alias_revision")
            ).scalar_one()
            model_id = self._model_id(conn, model)
            current = conn.execute(
                sa.select(t.aliases.c.version).where(
                    t.aliases.c.model_id == model_id, t.aliases.c.alias == alias
                )
            ).scalar_one_or_none()
            if action == "promote":
                if to_version is None:
                    raise RegistryError("promote needs the version to move the alias to")
                target = to_version
            else:
                target_or_none = rollback_target(self._events(conn, model_id, model, alias))
                if target_or_none is None:
                    raise NoPreviousHolder(
                        f"cannot roll back {model}@{alias}: "
                        + (
                            "no version holds it"
                            if current is None
                            else f"v{current} is its first holder in the history"
                        )
                    )
                target = target_or_none
            exists = conn.execute(
                sa.select(t.versions.c.id).where(
                    t.versions.c.model_id == model_id, t.versions.c.version == target
                )
            ).scalar_one_or_none()
            if exists is None:
                numbers = self._version_numbers(conn, model_id)
                raise VersionNotFound(
                    f"{model} has no version {target}"
                    + (" (it was garbage-collected)" if action == "rollback" else "")
                    + f"; versions: {', '.join(map(str, numbers)) or '(none)'}"
                )
            at = _now()
            if current is None:
                conn.execute(
                    t.aliases.insert().values(model_id=model_id, alias=alias, version=target, updated_at=at)
                )
            else:
                conn.execute(
                    t.aliases.update()
                    .where(t.aliases.c.model_id == model_id, t.aliases.c.alias == alias)
                    .values(version=target, updated_at=at)
                )
            conn.execute(
                t.alias_events.insert().values(
                    model_id=model_id,
                    alias=alias,
                    from_version=current,
                    to_version=target,
                    action=action,
                    actor=actor,
                    reason=reason,
                    at=at,
                    revision=revision,
                    forced=forced,
                )
            )
            return AliasEvent(
                model=model,
                alias=alias,
                from_version=current,
                to_version=target,
                action=action,
                actor=actor,
                reason=reason,
                at=at,
                revision=revision,
                forced=forced,
            )

    def aliases(self, model: str) -> dict[str, int]:
        with self._read() as conn:
            model_id = self._model_id(conn, model)
            rows = conn.execute(
                sa.select(t.aliases.c.alias, t.aliases.c.version)
                .where(t.aliases.c.model_id == model_id)
                .order_by(t.aliases.c.alias)
            ).all()
        return {alias: version for alias, version in rows}

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasEvent]:
        with self._read() as conn:
            model_id = self._model_id(conn, model)
            return self._events(conn, model_id, model, alias)

    def _events(self, conn: sa.Connection, model_id: int, model: str, alias: str | None) -> list[AliasEvent]:
        query = sa.select(t.alias_events).where(t.alias_events.c.model_id == model_id)
        if alias is not None:
            query = query.where(t.alias_events.c.alias == alias)
        return [
            AliasEvent(
                model=model,
                alias=row["alias"],
                from_version=row["from_version"],
                to_version=row["to_version"],
                action=row["action"],
                actor=row["actor"],
                reason=row["reason"],
                at=_utc(row["at"]),
                revision=row["revision"],
                forced=bool(row["forced"]),
            )
            for row in conn.execute(query.order_by(t.alias_events.c.revision)).mappings()
        ]

    def alias_revision(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    sa.select(t.counters.c.value).where(t.counters.c.name == "alias_revision")
                ).scalar_one()
            )

    # -- deployments -----------------------------------------------------------------

    def get_deployment(self, model: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(t.deployments).where(t.deployments.c.model == model))
                .mappings()
                .one_or_none()
            )
        if row is None or row["revision"] == 0:
            return None
        return dict(row["state"])

    def put_deployment(self, model: str, state: dict[str, Any], *, actor: str, reason: str) -> int:
        try:
            state = json.loads(json.dumps(state))
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"deployment state of {model!r} is not JSON-serialisable: {exc}") from exc
        with self._write() as conn:
            at = _now()
            # Revision 0 is a placeholder row that exists only so there is a row to lock.
            self._insert_ignore(
                conn,
                t.deployments,
                {"model": model, "revision": 0, "state": {}, "actor": "", "updated_at": at},
            )
            previous = conn.execute(
                sa.select(t.deployments.c.revision).where(t.deployments.c.model == model).with_for_update()
            ).scalar_one()
            revision = previous + 1
            conn.execute(
                t.deployments.update()
                .where(t.deployments.c.model == model)
                .values(revision=revision, state=state, actor=actor, updated_at=at)
            )
            conn.execute(
                t.deployment_events.insert().values(
                    model=model, revision=revision, state=state, actor=actor, reason=reason, at=at
                )
            )
        return revision

    def deployment_history(self, model: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.deployment_events)
                .where(t.deployment_events.c.model == model)
                .order_by(t.deployment_events.c.revision)
            ).mappings()
            return [
                {
                    "model": row["model"],
                    "revision": row["revision"],
                    "state": dict(row["state"]),
                    "actor": row["actor"],
                    "reason": row["reason"],
                    "at": _utc(row["at"]),
                }
                for row in rows
            ]

    # -- monitoring results ----------------------------------------------------------

    _MONITOR_COLUMNS = frozenset(c.name for c in t.monitor_results.columns) - {"id"}

    def add_monitor_results(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        now = _now()
        values = []
        for row in rows:
            unknown = set(row) - self._MONITOR_COLUMNS
            if unknown:
                raise RegistryError(
                    f"monitor result has unknown column(s) {sorted(unknown)}; "
                    f"columns: {', '.join(sorted(self._MONITOR_COLUMNS))}"
                )
            value = {name: row.get(name) for name in self._MONITOR_COLUMNS}
            for name in ("window_start", "window_end"):
                value[name] = _utc(value[name])
            value["created_at"] = _utc(value["created_at"]) or now
            value["details"] = json.loads(json.dumps(value["details"] or {}, default=str))
            for name in ("p_value", "score", "threshold"):
                if value[name] is not None:
                    value[name] = _metric_value(value[name])
            if value["drifted"] is not None:
                value["drifted"] = bool(value["drifted"])
            values.append(value)
        with self._write() as conn:
            conn.execute(t.monitor_results.insert(), values)

    def monitor_results(self, model: str, since: datetime | None = None) -> list[dict[str, Any]]:
        query = sa.select(t.monitor_results).where(t.monitor_results.c.model == model)
        if since is not None:
            query = query.where(t.monitor_results.c.created_at >= _utc(since))
        with self._read() as conn:
            rows = conn.execute(
                query.order_by(t.monitor_results.c.created_at, t.monitor_results.c.id)
            ).mappings()
            out = []
            for row in rows:
                item = dict(row)
                for name in ("window_start", "window_end", "created_at"):
                    item[name] = _utc(item[name])
                out.append(item)
            return out


def _snapshot(row: Any) -> Snapshot:
    return Snapshot(
        id=row["id"],
        model=row["model"],
        uri=row["uri"],
        content_sha256=row["content_sha256"],
        rows=row["rows"],
        start=_utc(row["start_time"]),
        end=_utc(row["end_time"]),
        feature_refs=tuple(row["feature_refs"] or ()),
        schema_fingerprint=row["schema_fingerprint"],
        profile=row["profile"],
        entities_uri=row["entities_uri"],
        created_at=_utc(row["created_at"]),
        feature_service=row["feature_service"],
        size=row["size"],
        entities_sha256=row["entities_sha256"],
        entities_size=row["entities_size"],
        store=row["store"],
    )


def _sqlite_transactions(engine: sa.Engine, busy_timeout: float) -> None:
    """Let SQLAlchemy, not pysqlite, start transactions: writers take the lock up front."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")
