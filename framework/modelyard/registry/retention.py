"""Garbage collection: apply the retention policy of ``modelyard.yaml`` to the registry.

A version is kept when any of these holds (``retention`` in config):

- it is one of the ``keep_last`` newest versions of its model;
- an alias holds it now, or held it at any time in the last ``keep_alias_days`` days;
- it is where a rollback of one of its model's aliases would go now (so ``rollback``
  keeps working whatever the retention).

Every other version is deleted, its alias history kept. Then snapshots that no remaining
version references (and older than ``grace``, so a training run between snapshot and
registration is not robbed) are deleted, and finally every artifact in the store that no
remaining version or snapshot references. ``dry_run`` reports the same lists and
deletes nothing. Do not run gc while another process registers versions: an artifact
stored a moment before its version row is written would look unreferenced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from modelyard.registry.history import holder_stack

if TYPE_CHECKING:
    from modelyard.registry.service import Registry
    from modelyard.registry.types import AliasEvent

logger = logging.getLogger(__name__)

#: Snapshots younger than this are never collected (a training run may be about to register).
DEFAULT_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class GcReport:
    """What :func:`collect_garbage` deleted (or, with ``dry_run``, would delete)."""

    dry_run: bool
    versions: list[tuple[str, int]] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    artifacts: list[tuple[str, int]] = field(default_factory=list)
    kept: dict[str, list[int]] = field(default_factory=dict)

    @property
    def bytes_freed(self) -> int:
        """Bytes of the artifacts removed (or that would be)."""
        return sum(size for _, size in self.artifacts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "versions": [{"model": m, "version": v} for m, v in self.versions],
            "snapshots": list(self.snapshots),
            "artifacts": [{"uri": u, "size": s} for u, s in self.artifacts],
            "bytes_freed": self.bytes_freed,
            "kept": {m: list(vs) for m, vs in self.kept.items()},
        }


def versions_to_keep(
    numbers: list[int],
    events: list[AliasEvent],
    current: dict[str, int],
    *,
    keep_last: int,
    keep_alias_days: int,
    now: datetime,
) -> set[int]:
    """The version numbers of one model the retention policy keeps."""
    keep = set(sorted(numbers)[-keep_last:])
    keep |= set(current.values())
    cutoff = now - timedelta(days=keep_alias_days)
    by_alias: dict[str, list[AliasEvent]] = {}
    for event in events:
        by_alias.setdefault(event.alias, []).append(event)
    for alias_events in by_alias.values():
        for event, following in zip(alias_events, [*alias_events[1:], None], strict=True):
            held_until = following.at if following is not None else now
            if held_until >= cutoff:
                keep.add(event.to_version)
        stack = holder_stack(alias_events)
        if len(stack) >= 2:
            keep.add(stack[-2])
    return keep


def collect_garbage(
    registry: Registry, *, dry_run: bool = False, grace: timedelta = DEFAULT_GRACE
) -> GcReport:
    """Delete (or with ``dry_run`` list) what the retention policy does not keep."""
    backend = registry.backend
    policy = registry.retention
    now = datetime.now(timezone.utc)
    doomed_versions: list[tuple[str, int]] = []
    kept: dict[str, list[int]] = {}
    remaining = []
    for model in backend.list_models():
        versions = backend.list_versions(model)
        keep = versions_to_keep(
            [v.version for v in versions],
            backend.alias_history(model),
            backend.aliases(model),
            keep_last=policy.keep_last,
            keep_alias_days=policy.keep_alias_days,
            now=now,
        )
        kept[model] = sorted(v.version for v in versions if v.version in keep)
        for v in versions:
            if v.version in keep:
                remaining.append(v)
            else:
                doomed_versions.append((model, v.version))

    used_snapshots = {v.snapshot_id for v in remaining if v.snapshot_id}
    doomed_snapshots = []
    references = {v.artifact_uri.rstrip("/") for v in remaining}
    for snap in backend.list_snapshots():
        if snap.id in used_snapshots or snap.created_at > now - grace:
            references |= {u.rstrip("/") for u in (snap.uri, snap.entities_uri) if u}
        else:
            doomed_snapshots.append(snap.id)

    doomed_artifacts = [
        (stored.uri, stored.size)
        for stored in registry.artifacts.uris()
        if not any(ref == stored.uri or ref.startswith(stored.uri + "/") for ref in references)
    ]

    if not dry_run:
        for model, number in doomed_versions:
            backend.delete_version(model, number)
            logger.info("gc: deleted %s v%d", model, number)
        for snapshot_id in doomed_snapshots:
            backend.delete_snapshot(snapshot_id)
            logger.info("gc: deleted snapshot %s", snapshot_id)
        for uri, _size in doomed_artifacts:
            registry.artifacts.delete(uri)
            logger.info("gc: deleted artifact %s", uri)
    return GcReport(
        dry_run=dry_run,
        versions=doomed_versions,
        snapshots=doomed_snapshots,
        artifacts=doomed_artifacts,
        kept=kept,
    )
