"""What each page of the web UI shows, read from the yard (registry, deployments, monitor results).

Plain functions returning plain data; the templates only lay it out. They do blocking registry
reads: the routes call them in the thread pool. A part that cannot be read (the registry is
down, a model was never registered) is reported in the data as an error text, and the rest of
the page still renders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelNotFound, ModelyardError

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

FRESHNESS_WINDOW = timedelta(hours=1)
"""The span of the prediction log a model card's expired share is measured over."""

LOOKBACK = (timedelta(hours=1), timedelta(days=1), timedelta(days=7), None)
"""How far back the overview reads stored monitor results: the first span holding a row of every
declared monitor of the model wins (``None``: everything), so a busy ``monitor watch`` costs one
hour of rows."""


@dataclass
class ModelCard:
    """One model on the overview and at the top of its page."""

    name: str
    feature_service: str
    task: str
    flavor: str
    description: str
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[Any] = field(default_factory=list)
    served: list[int] | None = None  # versions this worker has loaded (None: no serving worker)
    serving_error: str | None = None
    deployment: Any = None
    latest: list[dict[str, Any]] = field(default_factory=list)
    freshness: list[dict[str, Any]] = field(default_factory=list)
    freshness_error: str | None = None
    error: str | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.latest if r.get("drifted")]

    @property
    def latest_version(self) -> int | None:
        return self.versions[-1].version if self.versions else None


def latest_results(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the latest stored run of each (monitor, version, variant), failed first.

    One run of one monitor on one part of a window is stored in one batch, so its rows share
    ``created_at``; the latest run is the group's rows at its greatest ``created_at``.
    """
    newest: dict[tuple[Any, ...], datetime] = {}
    for row in rows:
        key = (row["monitor"], row["version"], row["variant"])
        if key not in newest or row["created_at"] > newest[key]:
            newest[key] = row["created_at"]
    latest = [r for r in rows if r["created_at"] == newest[(r["monitor"], r["version"], r["variant"])]]
    return sorted(
        latest,
        key=lambda r: (
            not r.get("drifted"),
            r["monitor"],
            -(r["version"] or 0),
            r["variant"] or "",
            r["feature"] is not None,
            r["feature"] or "",
        ),
    )


def recent_results(yard: Yard, name: str) -> list[dict[str, Any]]:
    """Stored results of ``name`` over the shortest :data:`LOOKBACK` span where every declared monitor ran."""
    from modelyard.monitoring.runner import DEFAULT_MONITORS

    declared = {m.name for m in (yard.model(name).monitors or DEFAULT_MONITORS)}
    now = datetime.now(timezone.utc)
    rows: list[dict[str, Any]] = []
    for span in LOOKBACK:
        rows = yard.registry.backend.monitor_results(name, since=now - span if span is not None else None)
        if declared <= {r["monitor"] for r in rows}:
            break
    return rows


def deployment_store(yard: Yard) -> Any:
    from modelyard.routing.deployment import DeploymentStore

    return DeploymentStore.for_yard(yard)


def model_card(yard: Yard, name: str, *, served: dict[str, Any] | None = None) -> ModelCard:
    """Aliases, versions, live deployment and latest verdicts of ``name`` (ModelNotFound if undeclared)."""
    config = yard.model(name)
    card = ModelCard(
        name=name,
        feature_service=config.feature_service,
        task=config.task,
        flavor=config.flavor,
        description=config.description,
    )
    if served is not None:
        entry = served.get(name)
        card.served = sorted(entry.versions) if entry is not None else []
        if not card.served:
            card.serving_error = (entry.error if entry is not None else None) or "this worker did not load it"
    try:
        try:
            card.aliases = dict(sorted(yard.registry.aliases(name).items()))
            card.versions = yard.registry.list_versions(name)
        except ModelNotFound:  # declared, never registered
            pass
        card.deployment = deployment_store(yard).current(name) if card.versions else None
        card.latest = latest_results(recent_results(yard, name))
    except Exception as exc:  # noqa: BLE001 - shown on the page; the other models still render
        logger.warning("web UI: reading %s from the registry failed: %s", name, exc)
        card.error = f"{type(exc).__name__}: {exc}"
    try:
        card.freshness = feature_freshness(yard, name)
    except Exception as exc:  # noqa: BLE001 - shown on the page; the rest still renders
        logger.warning("web UI: reading the freshness of %s's features failed: %s", name, exc)
        card.freshness_error = f"{type(exc).__name__}: {exc}"
    return card


def feature_freshness(yard: Yard, name: str, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every online view ``name`` reads: its ttl, last materialization and push, lag (also as a
    share of the ttl), and the share of the model's logged rows of the last
    :data:`FRESHNESS_WINDOW` where all of the view's features were missing (expired or never
    loaded); ``expired_share`` is None when no row was logged in that span."""
    from modelyard.monitoring.freshness import missing_share
    from modelyard.predictions.records import expand
    from modelyard.rollout.traffic import open_log_sink, read_window

    now = now or datetime.now(timezone.utc)
    wanted = set(yard.features.views_of(name))
    model_features = set(yard.features.feature_names(name))
    views = [v for v in yard.features.freshness(now=now) if v.view in wanted]
    if not views:
        return []
    log = read_window(open_log_sink(yard), name, now - FRESHNESS_WINDOW, now + timedelta(seconds=1))
    log = expand(log) if len(log) else log
    out = []
    for view in views:
        served = [f for f in view.features if f in model_features and f in log.columns]
        out.append(
            {
                "view": view.view,
                "ttl": view.ttl,
                "last_materialized": view.last_materialized,
                "last_pushed": view.last_pushed,
                "lag": view.lag,
                "lag_share_of_ttl": view.lag_share_of_ttl,
                "expired_share": missing_share(log, served) if len(log) and served else None,
                "rows": len(log),
                "stale": view.lag is None or (view.lag_share_of_ttl or 0) > 1,
            }
        )
    return out


def guard_values(yard: Yard, deployment: Any, *, now: datetime | None = None) -> list[Any]:
    """The current value of every guard of ``deployment`` for each candidate variant, as the rollout
    policy would judge it now (empty when the deployment has no guards or is not an experiment)."""
    from modelyard.rollout.policy import candidate_variants, control_variant
    from modelyard.rollout.traffic import open_log_sink, read_window
    from modelyard.routing.guards import check_all, parse_guards

    if deployment is None or not deployment.guards or deployment.router not in ("canary", "ab"):
        return []
    now = now or datetime.now(timezone.utc)
    guards = parse_guards(deployment.guards, model=deployment.model)
    since = now - timedelta(seconds=max(g.window_seconds for g in guards))
    log = read_window(open_log_sink(yard), deployment.model, since, now + timedelta(seconds=1))
    monitors = list(yard.registry.backend.monitor_results(deployment.model, since=since))
    control = control_variant(deployment)
    results: list[Any] = []
    for variant in candidate_variants(deployment):
        results += check_all(
            deployment.guards,
            model=deployment.model,
            variant=variant,
            control=control,
            log=log,
            monitor_rows=monitors,
            now=now,
        )
    return results


def overview(yard: Yard, *, served: dict[str, Any] | None = None) -> list[ModelCard]:
    """A card per declared model, in the config's order."""
    return [model_card(yard, name, served=served) for name in yard.config.models]


def alias_history(yard: Yard, name: str) -> list[Any]:
    """Every alias move of ``name``, newest first."""
    try:
        return list(reversed(yard.registry.history(name)))
    except ModelNotFound:
        return []


def deployment_history(yard: Yard, name: str) -> list[Any]:
    """Every stored deployment change of ``name``, newest first."""
    try:
        return list(reversed(deployment_store(yard).history(name)))
    except ModelyardError:
        return []


@dataclass
class VersionPage:
    version: Any
    snapshot: Any
    snapshot_error: str | None
    aliases: list[str]
    deployed_as: list[Any]  # variants of the deployment in force that run this version


def version_page(yard: Yard, name: str, number: int) -> VersionPage:
    """Lineage of one version and where it is deployed (VersionNotFound if it does not exist)."""
    yard.model(name)
    version = yard.registry.get_version(name, number)
    snapshot, snapshot_error = None, None
    if version.snapshot_id:
        try:
            snapshot = yard.registry.get_snapshot(version.snapshot_id)
        except ModelyardError as exc:
            snapshot_error = str(exc)
    aliases = sorted(a for a, v in yard.registry.aliases(name).items() if v == number)
    try:
        deployment = deployment_store(yard).current(name)
        deployed_as = [v for v in deployment.variants if v.version == number]
    except ModelyardError:
        deployed_as = []
    return VersionPage(version, snapshot, snapshot_error, aliases, deployed_as)


def experiment(yard: Yard, name: str) -> Any:
    """The experiment report of the deployment in force (``modelyard experiment report``)."""
    from modelyard.rollout.experiment import experiment_report

    yard.model(name)
    return experiment_report(yard, name, store=deployment_store(yard))


def confidence_rows(report: Any) -> list[tuple[str, float | None, float | None, float | None]]:
    """``(label, difference, ci low, ci high)`` per comparison, for the interval chart."""
    return [(f"{c.treatment} {c.metric}", c.difference, c.ci_low, c.ci_high) for c in report.comparisons]
