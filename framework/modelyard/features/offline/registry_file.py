"""Feast's file registry read without Feast: what a training frame or a batch run needs of a FeatureService.

``import feast`` costs seconds (most of a cold ``modelyard score``), yet a point-in-time join
over Parquet file sources needs only a few fields of the registry: the service's projections,
each view's join keys, features and their value types, ttl, and its batch source's path,
timestamp columns and field mapping. The registry file is a serialised ``feast.core.Registry``
protobuf; this module declares a subset of its messages with the same field numbers (protobuf
skips the fields it does not declare) and parses it with protobuf's own parser.

:func:`service_plan` answers ``None`` whenever the answer could differ from Feast's, and the
caller then asks Feast: a registry that is not a local file (SQL, remote), another offline
store than modelyard's, ``${ENV}`` references in ``feature_store.yaml``, a service reading an
on-demand or stream feature view, a versioned projection, an entity-less view, a source
that is not a Parquet file, or a value type outside the plain scalar and list types. A test
compares every plan with Feast's view of the same repo.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.features.expiry import SECOND_NS
from modelyard.features.offline.pit import ViewRead, source_path

#: the offline store whose join :mod:`modelyard.features.offline.pit` is
ASOF_STORE = "modelyard.features.offline.asof.AsofDuckDBOfflineStore"

#: Feast ``ValueType`` numbers this reader maps (the scalar and list types); any other falls back to Feast
VALUE_TYPES = {
    1: "BYTES",
    2: "STRING",
    3: "INT32",
    4: "INT64",
    5: "DOUBLE",
    6: "FLOAT",
    7: "BOOL",
    8: "UNIX_TIMESTAMP",
    11: "BYTES_LIST",
    12: "STRING_LIST",
    13: "INT32_LIST",
    14: "INT64_LIST",
    15: "DOUBLE_LIST",
    16: "FLOAT_LIST",
    17: "BOOL_LIST",
    18: "UNIX_TIMESTAMP_LIST",
}
#: ``feast.core.DataSource.SourceType.BATCH_FILE``
_BATCH_FILE = 1
#: the join key Feast gives an entity-less view
DUMMY_KEY = "__dummy_id"


@dataclass(frozen=True)
class ServicePlan:
    """A FeatureService as the join reads it."""

    name: str
    #: (output name, Feast value type name) in service order, as :func:`modelyard.features.schema.service_fields`
    fields: tuple[tuple[str, str], ...]
    views: tuple[ViewRead, ...]


@dataclass(frozen=True)
class RegistryFile:
    """The registry file and project a repo's ``feature_store.yaml`` names (when the fast path applies)."""

    repo: Path
    path: Path
    project: str

    @classmethod
    def of_repo(cls, repo: str | os.PathLike[str], config_file: Path) -> RegistryFile | None:
        """The repo's file registry, or ``None`` if Feast must answer (see the module docs)."""
        import yaml

        text = config_file.read_text()
        if "${" in text:
            return None
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            return None  # Feast reports it in its own words
        offline = config.get("offline_store")
        offline_type = offline.get("type") if isinstance(offline, dict) else offline
        if offline_type != ASOF_STORE or not isinstance(config.get("project"), str):
            return None
        registry = config.get("registry")
        if isinstance(registry, dict):
            if registry.get("registry_type", "file") != "file" or registry.get("registry_store_type"):
                return None
            registry = registry.get("path")
        if not isinstance(registry, str) or "://" in registry:
            return None
        path = Path(registry)
        path = path if path.is_absolute() else Path(repo) / path
        if not path.is_file():
            return None
        return cls(Path(repo), path, config["project"])

    def service_plan(self, service: str) -> ServicePlan | None:
        """The plan of FeatureService ``service``; ``None`` if it is not there or Feast must answer."""
        stat = self.path.stat()
        return _plan(str(self.repo), str(self.path), stat.st_mtime_ns, stat.st_size, self.project, service)


@functools.lru_cache(maxsize=32)
def _plan(repo: str, path: str, mtime_ns: int, size: int, project: str, service: str) -> ServicePlan | None:
    """Cached per registry file version (path, mtime, size): a ``feast apply`` makes a new entry."""
    registry = registry_message().FromString(Path(path).read_bytes())
    services = [s.spec for s in registry.feature_services if s.spec.project == project]
    wanted = next((s for s in services if s.name == service), None)
    if wanted is None:
        return None
    views = {v.spec.name: v.spec for v in registry.feature_views if v.spec.project == project}
    fields: list[tuple[str, str]] = []
    reads: list[ViewRead] = []
    for projection in wanted.features:
        spec = views.get(projection.feature_view_name)
        if spec is None or projection.HasField("version_tag"):
            return None  # an on-demand or stream view, or a versioned read: Feast's business
        read = _view_read(repo, spec, projection)
        if read is None:
            return None
        for column in projection.feature_columns:
            type_name = VALUE_TYPES.get(column.value_type)
            if type_name is None:
                return None
            fields.append((column.name, type_name))
        reads.append(read)
    return ServicePlan(service, tuple(fields), tuple(reads))


def parquet_path(repo: str, source: Any) -> str | None:
    """The path of a ``DataSource`` message that is a Parquet file source; ``None`` for any other
    source (not a file, a Delta table, a file behind an S3 endpoint override)."""
    options = source.file_options
    if source.type != _BATCH_FILE or not options.uri or options.s3_endpoint_override:
        return None
    if options.HasField("file_format") and not options.file_format.HasField("parquet_format"):
        return None
    return source_path(repo, options.uri)


def view_ttl_ns(spec: Any) -> int | None:
    """A ``FeatureViewSpec`` message's ttl in nanoseconds, as Feast keeps it (a timedelta: whole
    microseconds); ``None`` for no ttl."""
    ttl = spec.ttl.seconds * SECOND_NS + spec.ttl.nanos if spec.HasField("ttl") else 0
    return ttl // 1000 * 1000 or None


def _view_read(repo: str, spec: Any, projection: Any) -> ViewRead | None:
    source = spec.batch_source
    path = parquet_path(repo, source)
    if path is None:
        return None
    key_map = {e.key: e.value for e in projection.join_key_map}
    keys = tuple((k, v) for k, v in key_map.items()) or tuple((c.name, c.name) for c in spec.entity_columns)
    if any(k == DUMMY_KEY for k, _ in keys):
        return None
    name = projection.feature_view_name_alias or projection.feature_view_name
    return ViewRead(
        name=name,
        base=name,
        join_keys=keys,
        features=tuple(c.name for c in projection.feature_columns),
        path=path,
        source_name=source.name,
        timestamp_field=source.timestamp_field,
        created_column=source.created_timestamp_column or None,
        ttl_ns=view_ttl_ns(spec),
        field_mapping=tuple((e.key, e.value) for e in source.field_mapping),
    )


@functools.cache
def registry_message() -> Any:
    """The subset of ``feast.core.Registry`` modelyard reads (and, for materialization, updates) as a
    protobuf message class. Fields it does not declare are kept as unknown fields, so a parsed
    registry serialises back with all of them."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    spec = descriptor_pb2.FileDescriptorProto(
        name="modelyard/feast_registry_subset.proto", package="modelyard.feastreg", syntax="proto2"
    )
    string, int64, int32, message = f.TYPE_STRING, f.TYPE_INT64, f.TYPE_INT32, f.TYPE_MESSAGE
    one, many = f.LABEL_OPTIONAL, f.LABEL_REPEATED
    layout: dict[str, list[tuple[int, str, int, int, str]]] = {
        "Registry": [
            (4, "version_id", string, one, ""),
            (5, "last_updated", message, one, "Timestamp"),
            (6, "feature_views", message, many, "FeatureView"),
            (7, "feature_services", message, many, "FeatureService"),
            (17, "projects", message, many, "Project"),
        ],
        "Project": [(1, "spec", message, one, "ProjectSpec")],
        "ProjectSpec": [(1, "name", string, one, "")],
        "Timestamp": [(1, "seconds", int64, one, ""), (2, "nanos", int32, one, "")],
        "Pair": [(1, "key", string, one, ""), (2, "value", string, one, "")],
        "Duration": [(1, "seconds", int64, one, ""), (2, "nanos", int32, one, "")],
        "FeatureSpec": [(1, "name", string, one, ""), (2, "value_type", int32, one, "")],
        "FileOptions": [
            (1, "file_format", message, one, "FileFormat"),
            (2, "uri", string, one, ""),
            (3, "s3_endpoint_override", string, one, ""),
        ],
        "FileFormat": [
            (1, "parquet_format", message, one, "Empty"),
            (2, "delta_format", message, one, "Empty"),
        ],
        "Empty": [],
        "DataSource": [
            (20, "name", string, one, ""),
            (1, "type", int32, one, ""),
            (2, "field_mapping", message, many, "Pair"),
            (3, "timestamp_field", string, one, ""),
            (5, "created_timestamp_column", string, one, ""),
            (11, "file_options", message, one, "FileOptions"),
        ],
        "FeatureViewSpec": [
            (1, "name", string, one, ""),
            (2, "project", string, one, ""),
            (4, "features", message, many, "FeatureSpec"),
            (6, "ttl", message, one, "Duration"),
            (7, "batch_source", message, one, "DataSource"),
            (8, "online", f.TYPE_BOOL, one, ""),
            (12, "entity_columns", message, many, "FeatureSpec"),
        ],
        "FeatureView": [
            (1, "spec", message, one, "FeatureViewSpec"),
            (2, "meta", message, one, "FeatureViewMeta"),
        ],
        "FeatureViewMeta": [
            (2, "last_updated_timestamp", message, one, "Timestamp"),
            (3, "materialization_intervals", message, many, "MaterializationInterval"),
            (6, "state", int32, one, ""),
        ],
        "MaterializationInterval": [
            (1, "start_time", message, one, "Timestamp"),
            (2, "end_time", message, one, "Timestamp"),
        ],
        "Projection": [
            (1, "feature_view_name", string, one, ""),
            (2, "feature_columns", message, many, "FeatureSpec"),
            (3, "feature_view_name_alias", string, one, ""),
            (4, "join_key_map", message, many, "Pair"),
            (10, "version_tag", int32, one, ""),
        ],
        "FeatureServiceSpec": [
            (1, "name", string, one, ""),
            (2, "project", string, one, ""),
            (3, "features", message, many, "Projection"),
        ],
        "FeatureService": [(1, "spec", message, one, "FeatureServiceSpec")],
    }
    for name, fields in layout.items():
        added = spec.message_type.add(name=name)
        for number, field_name, kind, label, type_name in fields:
            field = added.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".modelyard.feastreg.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(spec)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("modelyard.feastreg.Registry"))
