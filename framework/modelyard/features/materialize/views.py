"""What a materialization reads of a feature view, taken from Feast's objects or from its registry file.

:class:`ViewSpec` holds the few fields :mod:`.plan`, :mod:`.select` and :mod:`.redis_writer`
need. :func:`from_feast` builds it from a loaded ``feast.FeatureView``;
:meth:`modelyard.features.offline.registry_file.RegistryFile.materialize_views` builds the same
from the registry's protobuf without importing Feast (a test checks both agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.errors import FeatureError
from modelyard.features.expiry import ttl_ns

if TYPE_CHECKING:
    from feast import FeatureView


@dataclass(frozen=True)
class SourceSpec:
    """A view's batch source: its time columns, field mapping and, for a Parquet file source, its path."""

    name: str
    timestamp_field: str
    created_column: str | None
    field_mapping: tuple[tuple[str, str], ...]
    """(source column, Feast name) pairs."""
    parquet_path: str | None
    """The resolved path of a Parquet ``FileSource``; ``None``: rows come from the offline store's own read."""


@dataclass(frozen=True)
class ViewSpec:
    """One online feature view as a materialization reads it."""

    name: str
    keys: tuple[tuple[str, int], ...]
    """Entity columns: (name, Feast ``ValueType`` number), in the view's order."""
    features: tuple[tuple[str, int], ...]
    """Features: (name, Feast ``ValueType`` number), in the view's order."""
    ttl_ns: int | None
    source: SourceSpec | None
    last_end: datetime | None
    """Where the view's latest materialization ended (Feast's ``most_recent_end_time``, UTC)."""

    def batch_source(self) -> SourceSpec:
        """The batch source (a view without one is refused)."""
        if self.source is None:
            raise FeatureError(f"feature view {self.name!r} has no batch source to materialize from")
        return self.source


def from_feast(view: FeatureView, repo_path: str | Path | None) -> ViewSpec:
    """The spec of a Feast ``FeatureView`` (``repo_path``: where a relative file path starts)."""
    from feast.data_format import ParquetFormat
    from feast.infra.offline_stores.file_source import FileSource

    source = view.batch_source
    spec = None
    if source is not None:
        parquet = isinstance(source, FileSource) and (
            source.file_format is None or isinstance(source.file_format, ParquetFormat)
        )
        path = (
            FileSource.get_uri_for_file_path(repo_path, source.path) if isinstance(source, FileSource) else ""
        )
        spec = SourceSpec(
            name=source.name,
            timestamp_field=source.timestamp_field,
            created_column=source.created_timestamp_column or None,
            field_mapping=tuple((source.field_mapping or {}).items()),
            parquet_path=path if parquet else None,
        )
    last = view.most_recent_end_time
    return ViewSpec(
        name=view.name,
        keys=tuple((c.name, c.dtype.to_value_type().value) for c in view.entity_columns),
        features=tuple((f.name, f.dtype.to_value_type().value) for f in view.features),
        ttl_ns=ttl_ns(view.ttl),
        source=spec,
        last_end=None if last is None else _utc(last),
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
