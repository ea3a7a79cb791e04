"""Building a reader for a FeatureService: the Redis fast path where it applies, else Feast's own read.

:func:`online_reader` is the one way serving and the feature facade
(:meth:`modelyard.features.store.FeatureFacade.online_vectors`) get a reader, so features
are read online by one path. A service with on-demand views gets an
:class:`~modelyard.features.online.ondemand.OnDemandReader` over a reader of its plain views.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from modelyard.errors import FeatureError
from modelyard.features import expiry
from modelyard.features.online.base import OnlineReader
from modelyard.features.online.feast_reader import FeastOnlineReader
from modelyard.features.online.redis import codec as redis_codec
from modelyard.features.online.redis.reader import (
    RedisClusterOnlineReader,
    RedisOnlineReader,
    Unsupported,
    cluster_wire,
    redis_wire,
    view_plans,
)

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

logger = logging.getLogger(__name__)


def online_reader(
    store: FeatureStore,
    feature_service: str,
    *,
    full_feature_names: bool = False,
    fast: bool = True,
    timeout: float = 1.0,
) -> OnlineReader:
    """The best reader for ``feature_service``: the Redis fast path when it applies, else Feast.

    ``timeout`` bounds each Redis connect and read (seconds), so an unreachable store
    answers quickly with :class:`OnlineStoreUnavailable` instead of hanging a worker.
    """
    from feast.errors import FeastObjectNotFoundException

    from modelyard.errors import FeatureServiceNotFound

    try:
        service = store.get_feature_service(feature_service)
    except FeastObjectNotFoundException as exc:
        raise FeatureServiceNotFound(
            f"the feature repo defines no FeatureService {feature_service!r} ({exc})"
        ) from None
    from modelyard.features.ondemand import OnDemandViews

    views = OnDemandViews.of(store, service)
    if views is not None:
        if full_feature_names:
            raise FeatureError(
                f"FeatureService {feature_service!r} has on-demand views: read it with short names"
            )
        from modelyard.features.online.ondemand import OnDemandReader, plain_service

        plain = plain_service(store, service, views)
        base = _reader(store, plain, feature_service, fast, timeout, registered=False)
        return OnDemandReader(base, views, _feature_names(service, full_feature_names))
    return _reader(store, service, feature_service, fast, timeout, full_feature_names)


def _reader(
    store: FeatureStore,
    service: Any,
    feature_service: str,
    fast: bool,
    timeout: float,
    full_feature_names: bool = False,
    *,
    registered: bool = True,
) -> OnlineReader:
    """The reader of ``service``'s plain views; an unregistered (synthetic) service is read by feature refs."""
    entity_keys = _entity_keys(store, service)
    online = store.config.online_store
    redis_type = str(getattr(online, "redis_type", "redis")).rpartition(".")[2]  # an enum in Feast
    if fast and getattr(online, "type", None) == "redis" and redis_type in ("redis", "redis_cluster"):
        try:
            plans = view_plans(store, service, full_feature_names)
            if store.config.entity_key_serialization_version < 3:
                raise Unsupported("entity key serialisation version < 3")
            reader: OnlineReader
            if redis_type == "redis_cluster":
                cluster, label = cluster_wire(online.connection_string, timeout=timeout)
                reader = RedisClusterOnlineReader(
                    cluster, store.config.project, plans, list(entity_keys), store_label=label
                )
            else:
                wire, label = redis_wire(online.connection_string, timeout=timeout)
                reader = RedisOnlineReader(
                    wire, store.config.project, plans, list(entity_keys), store_label=label
                )
            reader.key_types = entity_keys
            logger.info(
                "feature service %s: direct Redis reads, %s row decoder",
                feature_service,
                "Python" if redis_codec.compiled_rows is None else "compiled",
            )
            return reader
        except Unsupported as why:
            logger.info("feature service %s: Feast's own online read (%s)", feature_service, why)
    names = _feature_names(service, full_feature_names)
    features = (
        service
        if registered
        else [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]
    )
    slow = FeastOnlineReader(
        store,
        features,
        list(entity_keys),
        names,
        full_feature_names=full_feature_names,
        ttls=_feature_ttls(store, service, full_feature_names),
    )
    slow.key_types = entity_keys
    return slow


def _entity_keys(store: FeatureStore, service: Any) -> dict[str, int]:
    """Join keys of every view of the service (first-seen order) -> their Feast value type number."""
    from feast.errors import FeastObjectNotFoundException

    keys: dict[str, int] = {}
    for projection in service.feature_view_projections:
        try:
            view = store.get_feature_view(projection.name)
        except FeastObjectNotFoundException:  # an on-demand view: it takes request data, not join keys
            continue
        for field in view.entity_columns:
            name = projection.join_key_map.get(field.name, field.name)
            keys.setdefault(name, field.dtype.to_value_type().value)
    return keys


def _feature_ttls(store: FeatureStore, service: Any, full_feature_names: bool) -> dict[str, int | None]:
    """Output feature name -> its view's ttl in ns (on-demand views have none)."""
    from feast.errors import FeastObjectNotFoundException

    ttls: dict[str, int | None] = {}
    for projection in service.feature_view_projections:
        try:
            view = store.get_feature_view(projection.name)
        except FeastObjectNotFoundException:  # an on-demand view: computed at request time, no ttl
            continue
        table = projection.name_to_use()
        for f in projection.features:
            ttls[f"{table}__{f.name}" if full_feature_names else f.name] = expiry.ttl_ns(view.ttl)
    return ttls


def _feature_names(service: Any, full_feature_names: bool) -> list[str]:
    names: list[str] = []
    for projection in service.feature_view_projections:
        table = projection.name_to_use()
        names.extend(f"{table}__{f.name}" if full_feature_names else f.name for f in projection.features)
    return names
