"""The registry's records: versions, snapshots, alias events.

These are plain frozen dataclasses, independent of any backend: a
:class:`~modelyard.registry.backend.RegistryBackend` stores and returns them, the
:class:`~modelyard.registry.service.Registry` facade hands them to the rest of modelyard,
and event hooks (``on_promote`` / ``on_rollback``) receive :class:`AliasEvent`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

AliasAction = Literal["promote", "rollback"]
"""What moved an alias: a promotion to a chosen version, or a rollback to the previous holder."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class VersionDraft:
    """Everything about a new version except its number and creation time.

    The service builds one at registration; the backend allocates the version number
    atomically, stamps ``created_at`` and returns the :class:`ModelVersion`.
    """

    model: str
    flavor: str
    artifact_uri: str
    artifact_sha256: str
    artifact_size: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    snapshot_id: str | None = None
    feature_service: str = ""
    schema_fingerprint: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    python_version: str = ""
    libraries: dict[str, str] = field(default_factory=dict)
    created_by: str = ""
    description: str = ""
    code_sha256: str | None = None
    config_sha256: str | None = None
    artifact_store: str | None = None


@dataclass(frozen=True)
class ModelVersion:
    """One immutable registered version of a model and its lineage."""

    model: str
    version: int
    flavor: str
    artifact_uri: str
    artifact_sha256: str
    params: dict[str, Any]
    metrics: dict[str, float]
    snapshot_id: str | None
    feature_service: str
    schema_fingerprint: str | None
    git_commit: str | None
    git_dirty: bool | None
    python_version: str
    libraries: dict[str, str]
    created_by: str
    created_at: datetime
    description: str = ""
    artifact_size: int = 0
    code_sha256: str | None = None
    """sha256 of the training function's source file when it was registered (``None``: unknown)."""
    config_sha256: str | None = None
    """sha256 of the yard's ``modelyard.yaml`` when it was registered (``None``: no yard)."""
    artifact_store: str | None = None
    """The normalised URL of the artifact store ``artifact_uri`` was written to (``None``: recorded
    before modelyard kept it; an absolute URI names its store itself)."""

    @property
    def label(self) -> str:
        """How messages name this version: ``"trip_acceptance v3"``."""
        return f"{self.model} v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (times as ISO 8601)."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Snapshot:
    """A stored training frame: Parquet + content hash, entity frame, schema and reference profile.

    ``id`` is derived from the content hash, so saving the same frame twice gives the same
    snapshot. ``profile`` is :meth:`modelyard.monitoring.profile.Profile.to_dict` output.
    ``start``/``end`` are the event-time range of the rows (``None`` without timestamps).
    """

    id: str
    model: str
    uri: str
    content_sha256: str
    rows: int
    start: datetime | None
    end: datetime | None
    feature_refs: tuple[str, ...]
    schema_fingerprint: str | None
    profile: dict[str, Any] | None
    entities_uri: str | None
    created_at: datetime
    feature_service: str = ""
    size: int = 0
    entities_sha256: str | None = None
    entities_size: int = 0
    store: str | None = None
    """The normalised URL of the artifact store ``uri`` and ``entities_uri`` were written to
    (``None``: recorded before modelyard kept it)."""

    def to_dict(self, *, with_profile: bool = True) -> dict[str, Any]:
        """A JSON-serialisable dict; ``with_profile=False`` leaves the (large) profile out."""
        data = asdict(self)
        if not with_profile:
            data.pop("profile")
        return _jsonable(data)


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias, as the append-only history keeps it.

    ``from_version`` is ``None`` when the alias had no holder. ``revision`` is the global,
    monotonically increasing alias revision this move produced (see
    :meth:`~modelyard.registry.backend.RegistryBackend.alias_revision`). ``forced`` marks a
    promotion forced past failing promotion gates (the reason says which and why).
    """

    model: str
    alias: str
    from_version: int | None
    to_version: int
    action: AliasAction
    actor: str
    reason: str
    at: datetime
    revision: int = 0
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (time as ISO 8601)."""
        return _jsonable(asdict(self))
