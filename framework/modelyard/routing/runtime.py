"""RoutingTable: what a serving worker calls on every request to pick variants.

Integration (SERVING)::

    from modelyard.routing.runtime import RoutingTable

    table = RoutingTable(yard)                     # one per worker process; thread-safe
    decision = table.decide("trip_acceptance", routing_key=user_id,
                            entities={"driver_id": 7}, request_id=rid)
    decision.live      # Variant(name, version, weight, mode="live"): load/serve this version
    decision.shadows   # list[Variant]: score off the response path, log with mode="shadow"
    decision.revision  # deployment revision the decision came from

    table.deployment("trip_acceptance")   # the Deployment in force (for /status pages)
    table.refresh()                       # force a re-read now (tests, admin endpoints)

Freshness: the table caches each model's deployment and its router. At most every
``refresh_interval`` seconds (default ``serving.reload_interval`` of ``modelyard.yaml``),
the next ``decide`` for that model re-reads the stored state (one row) and, for
deployments declared only in config, the registry's ``alias_revision()`` counter; it
rebuilds only when something changed. Only one thread refreshes at a time, the others go
on with the cached state, and a failing refresh (database briefly down) keeps serving
the last good state, so a rollback reaches every worker within one interval and no
request fails because of it. ``decide`` itself does no I/O between refreshes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelyardError
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.router import Deployment, RouteDecision, Router, RouteRequest

if TYPE_CHECKING:
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)


@dataclass
class _Entry:
    deployment: Deployment
    router: Router
    raw: dict[str, Any] | None  # stored state as read, None when declared in config
    alias_revision: int | None  # alias counter when a declared deployment was planned
    checked_at: float


class RoutingTable:
    """Per-process cache of every model's deployment and router; see the module docstring."""

    def __init__(
        self,
        yard: Yard | None = None,
        *,
        store: DeploymentStore | None = None,
        refresh_interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if store is None:
            if yard is None:
                raise TypeError("RoutingTable needs a yard or a DeploymentStore")
            store = DeploymentStore.for_yard(yard)
        self.store = store
        if refresh_interval is None:
            refresh_interval = float(store.config.serving.reload_interval)
        self.refresh_interval = float(refresh_interval)
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # guards _entries writes
        self._refreshing: dict[str, threading.Lock] = {}

    # -- the request path ----------------------------------------------------------------

    def decide(
        self,
        model: str,
        routing_key: str | None = None,
        *,
        entities: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> RouteDecision:
        """The live variant and the shadows for one request of ``model``."""
        entry = self._entry(model)
        request = RouteRequest(
            model=model,
            routing_key=routing_key,
            entities=entities if isinstance(entities, dict) else dict(entities or {}),
            request_id=request_id,
        )
        decision = entry.router.route(request, entry.deployment)
        if decision.revision != entry.deployment.revision:
            decision = RouteDecision(
                live=decision.live, shadows=list(decision.shadows), revision=entry.deployment.revision
            )
        return decision

    def deployment(self, model: str) -> Deployment:
        """The deployment of ``model`` this worker is routing with now."""
        return self._entry(model).deployment

    def refresh(self, model: str | None = None) -> None:
        """Re-read ``model`` (or every model seen so far) now, rebuilding what changed."""
        models = [model] if model is not None else list(self._entries)
        for name in models:
            self._entries[name] = self._load(name, self._entries.get(name))

    # -- caching -------------------------------------------------------------------------

    def _entry(self, model: str) -> _Entry:
        entry = self._entries.get(model)
        if entry is None:
            with self._lock:
                entry = self._entries.get(model)
                if entry is None:
                    entry = self._load(model, None)  # first use: errors reach the caller
                    self._entries[model] = entry
            return entry
        if self._clock() - entry.checked_at < self.refresh_interval:
            return entry
        lock = self._refreshing.setdefault(model, threading.Lock())
        if not lock.acquire(blocking=False):
            return entry  # another thread is refreshing; serve the cached state meanwhile
        try:
            try:
                entry = self._load(model, entry)
            except ModelyardError as exc:
                logger.warning(
                    "keeping deployment %s of %s: refresh failed: %s", entry.deployment.revision, model, exc
                )
                entry.checked_at = self._clock()
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not fail requests
                logger.warning(
                    "keeping deployment %s of %s: refresh failed: %r", entry.deployment.revision, model, exc
                )
                entry.checked_at = self._clock()
            self._entries[model] = entry
            return entry
        finally:
            lock.release()

    def _load(self, model: str, previous: _Entry | None) -> _Entry:
        now = self._clock()
        raw = self.store.raw(model)
        if raw is not None:
            if previous is not None and previous.raw == raw:
                previous.checked_at = now
                return previous
            from modelyard.routing.deployment import from_stored

            deployment = from_stored(model, raw)
            router = self.store.build_router(deployment)
            logger.info(
                "routing %s with stored deployment revision %s (%s)",
                model,
                deployment.revision,
                deployment.router,
            )
            return _Entry(deployment, router, raw, None, now)
        alias_rev = self.store.backend.alias_revision()
        if previous is not None and previous.raw is None and previous.alias_revision == alias_rev:
            previous.checked_at = now
            return previous
        deployment = self.store.declared(model)
        router = self.store.build_router(deployment)
        logger.info("routing %s with its declared deployment (%s)", model, deployment.router)
        return _Entry(deployment, router, None, alias_rev, now)
