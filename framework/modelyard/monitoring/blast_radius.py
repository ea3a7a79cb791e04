"""Blast radius: where a drifted feature comes from and who else reads it.

From the Feast registry: the feature views a model's FeatureService takes the feature from,
and those views' data sources; from modelyard's config (and the stored deployments): every
declared model whose FeatureService reads the same view's feature, with its deployed variants.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import FeatureServiceNotFound

if TYPE_CHECKING:
    from feast import FeatureStore

    from modelyard.config.schema import ModelConfig
    from modelyard.monitoring.alerts import Alert
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlastRadius:
    """The views and sources drifted features come from, and the models (``model/variant``) reading them."""

    feature_views: list[str] = field(default_factory=list)
    data_sources: list[str] = field(default_factory=list)
    affected_models: list[str] = field(default_factory=list)


def _service_features(store: FeatureStore, service_name: str) -> list[tuple[str, str, set[str]]]:
    """``(view, feature, output names)`` for every feature of a FeatureService."""
    from feast.errors import FeatureServiceNotFoundException

    try:
        service = store.get_feature_service(service_name, allow_cache=True)
    except FeatureServiceNotFoundException:
        raise FeatureServiceNotFound(
            f"the Feast registry has no FeatureService {service_name!r}; run `modelyard features apply`"
        ) from None
    out = []
    for projection in service.feature_view_projections:
        view = projection.name
        alias = projection.name_alias or view
        for feat in projection.features:
            names = {feat.name, f"{alias}__{feat.name}", f"{view}:{feat.name}"}
            out.append((view, feat.name, names))
    return out


def _sources_of(store: FeatureStore, view_name: str) -> list[str]:
    from feast.errors import FeatureViewNotFoundException

    try:
        view = store.get_feature_view(view_name, allow_registry_cache=True)
    except FeatureViewNotFoundException:
        try:
            odfv = store.get_on_demand_feature_view(view_name, allow_registry_cache=True)
        except FeatureViewNotFoundException:
            return []
        return sorted(odfv.source_feature_view_projections) + sorted(odfv.source_request_sources)
    sources = [view.batch_source.name] if view.batch_source is not None else []
    stream = getattr(view, "stream_source", None)
    if stream is not None:
        sources.append(stream.name)
    return sources


def blast_radius(
    store: FeatureStore,
    models: Mapping[str, ModelConfig],
    model: str,
    features: Iterable[str],
    *,
    deployments: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> BlastRadius:
    """The blast radius of ``features`` drifting in ``model``'s inputs.

    ``features`` are output column names as the model sees them (``rating``, or
    ``driver_stats__rating`` with full feature names). ``deployments`` maps model names to
    their stored deployment state (``{"variants": [{"name": ...}, ...]}``), to name variants.
    """
    wanted = set(features)
    if not wanted:
        return BlastRadius()
    pairs = {
        (view, feat)
        for view, feat, names in _service_features(store, models[model].feature_service)
        if names & wanted
    }
    views = sorted({view for view, _ in pairs})
    sources = sorted({s for view in views for s in _sources_of(store, view)})
    affected: list[str] = []
    for name, cfg in models.items():
        try:
            reads = {(view, feat) for view, feat, _ in _service_features(store, cfg.feature_service)}
        except FeatureServiceNotFound:
            logger.warning(
                "model %s names FeatureService %s, which Feast does not know", name, cfg.feature_service
            )
            continue
        if not reads & pairs:
            continue
        state = (deployments or {}).get(name) or {}
        variants = [v.get("name") for v in state.get("variants", ()) if v.get("name")]
        affected.extend([f"{name}/{v}" for v in variants] or [name])
    return BlastRadius(feature_views=views, data_sources=sources, affected_models=affected)


def annotate(alert: Alert, yard: Yard) -> Alert:
    """Fill in ``alert``'s feature views, data sources and affected models from ``yard``."""
    deployments: dict[str, Any] = {}
    registry = yard.__dict__.get("registry")  # only if already built: never open a database for this
    backend = getattr(registry, "backend", None)
    if backend is not None:
        deployments = {name: backend.get_deployment(name) for name in yard.config.models}
    radius = blast_radius(
        yard.feature_store, yard.config.models, alert.model, alert.features, deployments=deployments
    )
    alert.feature_views = radius.feature_views
    alert.data_sources = radius.data_sources
    alert.affected_models = radius.affected_models
    return alert
