"""A materialization straight from Feast's file registry, without importing Feast.

``import feast`` and building a ``FeatureStore`` cost more than writing a few hundred thousand
rows into Redis. For the common set-up (a local file registry, modelyard's ASOF offline store
over Parquet file sources, a plain Redis online store) a run needs only a few fields of the
registry and of ``feature_store.yaml``, and one change to the registry when a view is done:
the interval ``feast materialize`` records. :class:`FileRegistryRepo` reads those with
:func:`modelyard.features.offline.registry_file.registry_message` (a subset of Feast's
``Registry`` protobuf that keeps every field it does not declare) and records the interval
as Feast's ``Registry.apply_materialization`` does: the interval appended to the view's
``meta.materialization_intervals``, ``meta.last_updated_timestamp`` and the registry's
``last_updated`` set to now, the view's state ``AVAILABLE_ONLINE``, the view moved to the end
of the list, a new ``version_id``, the file written and synced. A test compares the result
with Feast's own on the same registry.

:func:`file_registry_repo` answers ``None`` whenever Feast must run the materialization
(anything else in ``feature_store.yaml`` than these settings, ``${ENV}`` references, another
online or offline store, a source that is not a Parquet file, an entity-less view...).
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.features.materialize.views import SourceSpec, ViewSpec
from modelyard.features.offline.registry_file import (
    DUMMY_KEY,
    RegistryFile,
    parquet_path,
    registry_message,
    view_ttl_ns,
)

if TYPE_CHECKING:
    from modelyard.features.online.redis.wire import RedisEndpoint

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_AVAILABLE_ONLINE = 4  # feast.core.FeatureViewState
#: feature_store.yaml keys a run from the registry file understands (any other: Feast runs it)
_TOP = {
    "project",
    "provider",
    "registry",
    "online_store",
    "offline_store",
    "entity_key_serialization_version",
}
_ONLINE = {
    "type",
    "connection_string",
    "redis_type",
    "key_ttl_seconds",
    "full_scan_for_deletion",
    "skip_dedup",
}
_OFFLINE = {"type", "threads", "memory_limit"}
_REGISTRY = {
    "registry_type",
    "path",
    "cache_ttl_seconds",
    "cache_mode",
    "enable_online_feature_view_versioning",
}


@dataclass(frozen=True)
class FileRegistryRepo:
    """What a run needs of a repo whose registry is a local file (see the module docs)."""

    registry: RegistryFile
    endpoint: RedisEndpoint
    threads: int | None
    memory_limit: str | None

    @property
    def project(self) -> str:
        return self.registry.project

    def views(self) -> list[ViewSpec] | None:
        """The project's online feature views, in registry order; ``None`` if Feast must run it."""
        registry = registry_message().FromString(self.registry.path.read_bytes())
        if not any(p.spec.name == self.project for p in registry.projects):
            return None  # Feast would add the project first
        views = []
        for view in registry.feature_views:
            spec = view.spec
            if spec.project != self.project or not spec.online:
                continue
            source = (
                _source(str(self.registry.repo), spec.batch_source) if spec.HasField("batch_source") else None
            )
            keys = tuple((c.name, c.value_type) for c in spec.entity_columns)
            if source is None or not keys or any(name == DUMMY_KEY for name, _ in keys):
                return None
            ends = [_datetime(i.end_time) for i in view.meta.materialization_intervals]
            views.append(
                ViewSpec(
                    name=spec.name,
                    keys=keys,
                    features=tuple((c.name, c.value_type) for c in spec.features),
                    ttl_ns=view_ttl_ns(spec),
                    source=source,
                    last_end=max(ends, default=None),
                )
            )
        return views

    def record(self, view: str, start: datetime, end: datetime) -> bool:
        """Record that ``view`` was materialized over ``[start, end]``, as Feast does; False if it is gone."""
        registry = registry_message().FromString(self.registry.path.read_bytes())
        for index, existing in enumerate(registry.feature_views):
            if existing.spec.name == view and existing.spec.project == self.project:
                now = datetime.now(timezone.utc)
                updated = registry.feature_views.add()
                updated.CopyFrom(existing)
                del registry.feature_views[index]
                interval = updated.meta.materialization_intervals.add()
                _set(interval.start_time, start)
                _set(interval.end_time, end)
                _set(updated.meta.last_updated_timestamp, now)
                updated.meta.state = _AVAILABLE_ONLINE
                registry.version_id = str(uuid.uuid4())
                _set(registry.last_updated, now)
                _write_atomically(self.registry.path, registry.SerializeToString())
                return True
        return False


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` whole: a crash leaves the old registry or the new one, never half of one.

    (Feast writes its file registry in place; a run stopped mid-write would leave a registry
    that no longer parses.)
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb", buffering=0) as f:
            f.write(data)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_registry_repo(repo: Path, config_file: Path) -> FileRegistryRepo | None:
    """The repo as a run from its registry file sees it, or ``None`` if Feast must run it (module docs)."""
    import yaml

    from modelyard.features.materialize.redis_writer import Unsupported, endpoint_of

    registry = RegistryFile.of_repo(repo, config_file)
    if registry is None:
        return None
    config = yaml.safe_load(config_file.read_text()) or {}
    online, offline, registry_config = (config.get(k) for k in ("online_store", "offline_store", "registry"))
    if (
        set(config) - _TOP
        or config.get("provider", "local") != "local"
        or config.get("entity_key_serialization_version", 3) != 3
        or not isinstance(online, dict)
        or set(online) - _ONLINE
        or online.get("type") != "redis"
        or (isinstance(offline, dict) and set(offline) - _OFFLINE)
        or (isinstance(registry_config, dict) and set(registry_config) - _REGISTRY)
    ):
        return None
    try:
        endpoint = endpoint_of(
            str(online.get("redis_type", "redis")),
            str(online.get("connection_string", "localhost:6379")),
            key_ttl_seconds=online.get("key_ttl_seconds"),
            versioning=bool(
                isinstance(registry_config, dict)
                and registry_config.get("enable_online_feature_view_versioning")
            ),
        )
    except Unsupported as why:
        logger.debug("materialize: Feast runs it (%s)", why)
        return None
    settings: dict[str, Any] = offline if isinstance(offline, dict) else {}
    return FileRegistryRepo(registry, endpoint, settings.get("threads"), settings.get("memory_limit"))


def _source(repo: str, source: Any) -> SourceSpec | None:
    """A Parquet file source's spec; ``None`` for any other source."""
    path = parquet_path(repo, source)
    if path is None:
        return None
    return SourceSpec(
        name=source.name,
        timestamp_field=source.timestamp_field,
        created_column=source.created_timestamp_column or None,
        field_mapping=tuple((e.key, e.value) for e in source.field_mapping),
        parquet_path=path,
    )


def _datetime(ts: Any) -> datetime:
    """A ``Timestamp`` as a UTC datetime, to the microsecond (protobuf's ``ToDatetime``)."""
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def _set(ts: Any, value: datetime) -> None:
    """Set a ``Timestamp`` to ``value`` (naive means UTC) as protobuf's ``FromDatetime`` does."""
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    delta = value - _EPOCH
    ts.Clear()  # proto3 writes no zero field: leave a zero unset
    if delta.days or delta.seconds:
        ts.seconds = delta.days * 86_400 + delta.seconds
    if delta.microseconds:
        ts.nanos = delta.microseconds * 1000
