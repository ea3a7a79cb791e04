"""Garbage collection: delete what the retention policy does not keep and nothing in use.

A version is kept when any of these holds, and :class:`GcReport` says which (``reasons``):

- it is one of the ``retention.keep_last`` newest versions of its model;
- an alias holds it now, or held it at any time in the last ``retention.keep_alias_days`` days;
- it is where a rollback of one of its model's aliases would go now;
- a variant of the model's stored deployment names it, whatever the deployment's status
  (live, shadow or canary arm; a paused or aborted deployment still serves its variants),
  which covers a running experiment's arms and control;
- a variant of the deployment the yard's ``modelyard.yaml`` declares names it (when the
  registry belongs to a yard; see :meth:`modelyard.yard.Yard.deployment_needs`).

Every other version is deleted, its alias history kept. Snapshots are kept while a
remaining version trained on them, or while younger than ``grace`` (a training run may be
between snapshot and registration). Artifacts are matched to what the registry references
**by content hash**: every record resolves to (store, sha256), its relative URI placed in the
store recorded beside it (``versions.artifact_store``, ``snapshots.store``) and an absolute
URI naming its store itself (:func:`modelyard.artifacts.store.recorded_address`), the store
URL normalised (``file:///data/store``, ``/data/store/`` and a symlink to it are one store).
A record under another store URL whose content hash is stored here (a yard since copied or
moved, rows an older modelyard wrote with absolute paths) is re-resolved by hash. If the
registry references any artifact (of a version or snapshot, kept or not) under a store this
gc cannot reconcile that way, :class:`GcRefused` is raised before anything is deleted,
naming the stores: another yard shares the registry with a different artifact store, and
deleting by this store's view could lose its files.
An artifact nothing references is deleted unless it was stored less than ``grace`` ago
(a registration may be in flight). ``dry_run`` reports the same and deletes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from modelyard.errors import GcRefused
from modelyard.registry.history import holder_stack

if TYPE_CHECKING:
    from modelyard.registry.service import Registry
    from modelyard.registry.types import AliasEvent, Snapshot

logger = logging.getLogger(__name__)

#: Snapshots and unreferenced artifacts younger than this are never collected.
DEFAULT_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class VersionNeed:
    """Something needs version ``version`` of ``model``; ``reason`` says what, for people."""

    model: str
    version: int
    reason: str


@dataclass(frozen=True)
class KeptItem:
    """A version, snapshot or artifact gc keeps, and every reason it is kept."""

    kind: str
    what: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class GcReport:
    """What :func:`collect_garbage` deleted (or, with ``dry_run``, would delete) and what it kept."""

    dry_run: bool
    versions: list[tuple[str, int]] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    artifacts: list[tuple[str, int]] = field(default_factory=list)
    kept: dict[str, list[int]] = field(default_factory=dict)
    reasons: list[KeptItem] = field(default_factory=list)

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
            "reasons": [item.to_dict() for item in self.reasons],
        }


def alias_needs(
    model: str,
    numbers: list[int],
    events: list[AliasEvent],
    current: Mapping[str, int],
    *,
    keep_last: int,
    keep_alias_days: int,
    now: datetime,
) -> list[VersionNeed]:
    """Why the retention policy and the aliases keep versions of one model."""
    needs = [
        VersionNeed(model, n, f"one of the {keep_last} newest versions (retention.keep_last)")
        for n in sorted(numbers)[-keep_last:]
    ]
    needs += [VersionNeed(model, v, f"holds alias {alias!r}") for alias, v in sorted(current.items())]
    cutoff = now - timedelta(days=keep_alias_days)
    by_alias: dict[str, list[AliasEvent]] = {}
    for event in events:
        by_alias.setdefault(event.alias, []).append(event)
    for alias, alias_events in sorted(by_alias.items()):
        for event, following in zip(alias_events, [*alias_events[1:], None], strict=True):
            held_until = following.at if following is not None else now
            if held_until >= cutoff and current.get(alias) != event.to_version:
                needs.append(
                    VersionNeed(
                        model,
                        event.to_version,
                        f"held alias {alias!r} within the last {keep_alias_days} days "
                        "(retention.keep_alias_days)",
                    )
                )
        stack = holder_stack(alias_events)
        if len(stack) >= 2:
            needs.append(VersionNeed(model, stack[-2], f"rollback target of alias {alias!r}"))
    return needs


def deployment_state_needs(model: str, state: Mapping[str, Any] | None) -> list[VersionNeed]:
    """The versions a stored deployment state (``RegistryBackend.get_deployment``) serves.

    Every variant counts, live or shadow, whatever the status: a server started on this
    state loads them all. An ab/canary/shadow deployment that is active or paused is a
    running experiment and says so.
    """
    if not state:
        return []
    router = str(state.get("router", ""))
    status = str(state.get("status", "active"))
    revision = state.get("revision")
    what = f"{router} deployment, {status}" + (f", revision {revision}" if revision is not None else "")
    if router in ("ab", "canary", "shadow") and status in ("active", "paused"):
        what = f"running {router} experiment ({status}" + (
            f", revision {revision})" if revision is not None else ")"
        )
    needs = []
    for variant in state.get("variants") or ():
        try:
            number = int(variant["version"])
        except (KeyError, TypeError, ValueError):
            continue
        name = variant.get("name") or f"v{number}"
        mode = variant.get("mode", "live")
        needs.append(VersionNeed(model, number, f"{mode} variant {name!r} of the {what}"))
    return needs


def collect_garbage(
    registry: Registry, *, dry_run: bool = False, grace: timedelta = DEFAULT_GRACE
) -> GcReport:
    """Delete (or with ``dry_run`` list) what nothing keeps; see the module docstring for the rules."""
    backend = registry.backend
    policy = registry.retention
    now = datetime.now(timezone.utc)
    models = backend.list_models()

    needs: list[VersionNeed] = []
    for model in models:
        needs += alias_needs(
            model,
            [v.version for v in backend.list_versions(model)],
            backend.alias_history(model),
            backend.aliases(model),
            keep_last=policy.keep_last,
            keep_alias_days=policy.keep_alias_days,
            now=now,
        )
        needs += deployment_state_needs(model, backend.get_deployment(model))
    if registry.yard is not None:
        needs += registry.yard.deployment_needs()
    why: dict[tuple[str, int], list[str]] = {}
    for need in needs:
        reasons = why.setdefault((need.model, need.version), [])
        if need.reason not in reasons:
            reasons.append(need.reason)

    doomed_versions: list[tuple[str, int]] = []
    kept: dict[str, list[int]] = {}
    kept_items: list[KeptItem] = []
    remaining = []
    for model in models:
        kept[model] = []
        for v in backend.list_versions(model):
            if (model, v.version) in why:
                remaining.append(v)
                kept[model].append(v.version)
                kept_items.append(KeptItem("version", v.label, tuple(why[model, v.version])))
            else:
                doomed_versions.append((model, v.version))

    doomed_snapshots: list[str] = []
    kept_snapshots = []
    trained_on: dict[str, list[str]] = {}
    for v in remaining:
        if v.snapshot_id:
            trained_on.setdefault(v.snapshot_id, []).append(f"training data of {v.label}")
    for snap in backend.list_snapshots():
        reasons = list(trained_on.get(snap.id, []))
        if snap.created_at > now - grace:
            reasons.append(f"taken less than {_span(grace)} ago (a registration may follow)")
        if reasons:
            kept_snapshots.append(snap)
            kept_items.append(KeptItem("snapshot", snap.id, tuple(reasons)))
        else:
            doomed_snapshots.append(snap.id)

    references = [Reference(v.artifact_uri, v.artifact_store, f"artifact of {v.label}") for v in remaining]
    for snap in kept_snapshots:
        references += _snapshot_references(snap)
    doomed_references = [
        Reference(v.artifact_uri, v.artifact_store, f"artifact of {v.label}")
        for v in (backend.get_version(m, n) for m, n in doomed_versions)
    ]
    for snap in backend.list_snapshots():
        if snap.id in doomed_snapshots:
            doomed_references += _snapshot_references(snap)
    hashes = _reconcile(registry, references + doomed_references)
    by_hash: dict[str, list[str]] = {}
    for ref in references:
        by_hash.setdefault(hashes[ref], []).append(ref.what)
    # what only deleted records pointed at may go at once, grace or not
    released = {hashes[ref] for ref in doomed_references}

    doomed_artifacts: list[tuple[str, int]] = []
    for stored in registry.artifacts.uris():
        if stored.sha256 in by_hash:
            kept_items.append(KeptItem("artifact", stored.uri, tuple(by_hash[stored.sha256])))
            continue
        if stored.sha256 not in released:
            stored_at = registry.artifacts.stored_at(stored.uri)
            if stored_at is not None and stored_at > now - grace:
                reason = f"stored less than {_span(grace)} ago and not referenced yet (a registration may be in flight)"
                kept_items.append(KeptItem("artifact", stored.uri, (reason,)))
                continue
        doomed_artifacts.append((stored.uri, stored.size))

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
        reasons=kept_items,
    )


@dataclass(frozen=True)
class Reference:
    """An artifact a registry record names: its URI, the store recorded beside it, and whose it is."""

    uri: str
    store: str | None
    what: str


def _snapshot_references(snap: Snapshot) -> list[Reference]:
    refs = [Reference(snap.uri, snap.store, f"training frame of snapshot {snap.id}")]
    if snap.entities_uri:
        refs.append(Reference(snap.entities_uri, snap.store, f"entity frame of snapshot {snap.id}"))
    return refs


def _reconcile(registry: Registry, references: Iterable[Reference]) -> dict[Reference, str]:
    """``reference -> content sha256`` for every reference; GcRefused, before anything is deleted,
    naming each store whose objects this store cannot account for.

    A reference is this store's to judge when its recorded store is this one in any spelling
    (``file:///p``, ``/p/``, a symlink to ``p``), or when its content hash is stored here: an
    absolute URI of a yard since copied or moved, another mount of one store, or a relative URI
    recorded before modelyard kept the store beside it, is re-resolved by hash.
    """
    from modelyard.artifacts.store import recorded_address

    out: dict[Reference, str] = {}
    foreign: dict[str, list[Reference]] = {}
    for ref in references:
        address = recorded_address(ref.uri, ref.store)
        if address is None or not registry.artifacts.reconciles(address):
            if address is None:
                store = f"{ref.uri} (not a modelyard artifact URI)"
            else:
                store = address.store or "a store not recorded (the row predates store tracking)"
            foreign.setdefault(store, []).append(ref)
            continue
        out[ref] = address.sha256
    if foreign:
        listed = "; ".join(
            f"{store} ({len(refs)} object(s) missing here, e.g. the {refs[0].what})"
            for store, refs in sorted(foreign.items())
        )
        raise GcRefused(
            f"gc deleted nothing: the registry references artifacts under a store this yard's store "
            f"{registry.artifacts.canonical_url} cannot reconcile with its own: {listed}. Another yard "
            "shares this registry with a different artifact store: point artifacts.url at the same "
            "store in both (any spelling of one path works), or run gc where every reference resolves"
        )
    return out


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes >= 60 else f"{minutes} min"
