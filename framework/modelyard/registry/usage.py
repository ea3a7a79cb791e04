"""Storage cost per model: bytes of artifacts, snapshots and prediction logs.

Artifacts are counted once per distinct artifact (two versions with identical bytes
share one), snapshots by the sizes recorded with them (training frame + entity frame),
prediction logs as the files under ``<yard home>/logs/<model>/``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import RegistryError

if TYPE_CHECKING:
    from modelyard.registry.service import Registry


@dataclass(frozen=True)
class ModelUsage:
    """Bytes one model takes, by kind."""

    model: str
    versions: int
    artifacts_bytes: int
    snapshots: int
    snapshots_bytes: int
    logs_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.artifacts_bytes + self.snapshots_bytes + self.logs_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_bytes": self.total_bytes}


def directory_bytes(path: Path) -> int:
    """Total size of the regular files under ``path`` (0 if it does not exist)."""
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def storage_usage(registry: Registry) -> list[ModelUsage]:
    """One :class:`ModelUsage` per model with versions, snapshots or logs, sorted by name."""
    backend = registry.backend
    snapshots_by_model: dict[str, list[Any]] = {}
    for snap in backend.list_snapshots():
        snapshots_by_model.setdefault(snap.model, []).append(snap)
    logs_dir = registry.logs_dir
    log_models = (
        {p.name for p in logs_dir.iterdir() if p.is_dir()} if logs_dir and logs_dir.is_dir() else set()
    )
    models = sorted(set(backend.list_models()) | set(snapshots_by_model) | log_models)
    registered = set(backend.list_models())
    out = []
    for model in models:
        versions = backend.list_versions(model) if model in registered else []
        sizes: dict[str, int] = {}
        for v in versions:  # by content hash: one artifact recorded under two URIs counts once
            if v.artifact_sha256 not in sizes:
                try:
                    sizes[v.artifact_sha256] = registry.artifacts.size(v.artifact_uri)
                except RegistryError:  # missing, or the store moved
                    sizes[v.artifact_sha256] = 0
        snaps = snapshots_by_model.get(model, [])
        out.append(
            ModelUsage(
                model=model,
                versions=len(versions),
                artifacts_bytes=sum(sizes.values()),
                snapshots=len(snaps),
                snapshots_bytes=sum(s.size + s.entities_size for s in snaps),
                logs_bytes=directory_bytes(logs_dir / model) if logs_dir else 0,
            )
        )
    return out
