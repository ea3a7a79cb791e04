"""The registry-backend role: where models, versions, snapshots and alias history live.

A backend is a plugin (``modelyard_registry_backends`` hook). The built-in one,
``sqlalchemy``, keeps everything in SQLite or PostgreSQL; another could sit on MLflow or
a cloud service. A backend only stores and answers: artifacts, flavors, schema checks
and event hooks are the job of :class:`modelyard.registry.service.Registry`, which wraps
whichever backend the yard chose.

Contract every implementation keeps (``tests/registry`` runs one suite over each):

- version numbers are allocated per model, atomically, starting at 1, never reused;
  a stored version never changes;
- alias moves are atomic and each one appends exactly one :class:`AliasEvent`;
  the history is never rewritten;
- unknown names raise :class:`~modelyard.errors.ModelNotFound`,
  :class:`~modelyard.errors.VersionNotFound`, :class:`~modelyard.errors.SnapshotNotFound`
  or :class:`~modelyard.errors.NoPreviousHolder`, and a failed call changes nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from modelyard.registry.types import AliasAction, AliasEvent, ModelVersion, Snapshot, VersionDraft


class RegistryBackend(ABC):
    """Storage of the registry. Methods are grouped by what they keep."""

    # -- versions --------------------------------------------------------------------

    @abstractmethod
    def add_version(self, draft: VersionDraft) -> ModelVersion:
        """Store a new version, creating the model on first use; the number is the next free one."""

    @abstractmethod
    def get_version(self, model: str, version: int | None = None) -> ModelVersion:
        """Version ``version`` of ``model``, or its latest when ``None``."""

    @abstractmethod
    def list_versions(self, model: str) -> list[ModelVersion]:
        """Every stored version of ``model``, oldest first (ModelNotFound if it has none)."""

    @abstractmethod
    def list_models(self) -> list[str]:
        """Names of the models with at least one stored version, sorted."""

    @abstractmethod
    def delete_version(self, model: str, version: int) -> None:
        """Remove a version (garbage collection only). Its alias history stays."""

    # -- snapshots -------------------------------------------------------------------

    @abstractmethod
    def add_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """Store a snapshot record; one with the same ``id`` already stored is returned unchanged."""

    @abstractmethod
    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        """The snapshot ``snapshot_id`` (SnapshotNotFound if none)."""

    @abstractmethod
    def list_snapshots(self, model: str | None = None) -> list[Snapshot]:
        """Snapshots of ``model`` (or all), oldest first."""

    @abstractmethod
    def delete_snapshot(self, snapshot_id: str) -> None:
        """Remove a snapshot record (garbage collection only)."""

    # -- aliases ---------------------------------------------------------------------

    @abstractmethod
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
        """Move ``alias`` atomically and append the event to its history.

        ``forced`` is stored with the event: a promotion forced past failing gates.

        ``action="promote"`` moves it to ``to_version`` (which must exist).
        ``action="rollback"`` ignores ``to_version`` and moves it back to the holder
        before the current one, as the history records it (a rollback undoes the
        promotion that installed the current holder; repeated rollbacks walk further
        back); NoPreviousHolder when there is none. The check and the move happen under
        one lock, so concurrent movers serialise.
        """

    @abstractmethod
    def aliases(self, model: str) -> dict[str, int]:
        """Current ``alias -> version`` of ``model``."""

    @abstractmethod
    def alias_history(self, model: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of ``model``'s aliases (or of one alias), oldest first."""

    @abstractmethod
    def alias_revision(self) -> int:
        """A counter that grows with every alias move of any model; cheap to poll."""

    # -- deployments (rollout state) -------------------------------------------------

    @abstractmethod
    def get_deployment(self, model: str) -> dict[str, Any] | None:
        """The current deployment state of ``model`` (as last put), or ``None``."""

    @abstractmethod
    def put_deployment(self, model: str, state: dict[str, Any], *, actor: str, reason: str) -> int:
        """Replace the deployment state and append it to its history; returns the new revision (1, 2...)."""

    @abstractmethod
    def deployment_history(self, model: str) -> list[dict[str, Any]]:
        """Every state ever put for ``model``, oldest first: revision, state, actor, reason, at."""

    # -- monitoring results ----------------------------------------------------------

    @abstractmethod
    def add_monitor_results(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append detector results (columns as in ``monitor_results``; ``details`` a dict)."""

    @abstractmethod
    def monitor_results(self, model: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """Stored results of ``model`` created at or after ``since``, oldest first."""

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections. Safe to call twice."""
