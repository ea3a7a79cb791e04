"""The online read of a FeatureService with on-demand views: one read of the plain views, then the transformations.

:func:`plain_service` is the FeatureService's plain views plus every feature its on-demand
views read, so any reader (the Redis fast path, Feast's own call) fetches all inputs in one
read; :class:`OnDemandReader` then computes the on-demand features on those vectors and the
request's values (:class:`modelyard.features.ondemand.OnDemandViews`, the same Feast call a
training frame uses) and answers in service order, inputs the service does not take dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.errors import BadRequest, FeatureError
from modelyard.features.online.base import Columns, OnlineReader

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureService, FeatureStore

    from modelyard.features.ondemand import OnDemandViews


def plain_service(store: FeatureStore, service: FeatureService, views: OnDemandViews) -> FeatureService:
    """``service`` without its on-demand views, plus the plain features they read (a synthetic service)."""
    from feast import FeatureService

    on_demand = {odfv.name for odfv, _ in views.views}
    projections = []
    outputs: dict[str, str] = {}  # output name -> view (collisions would be ambiguous)
    needed = {name: list(features) for name, features in views.inputs.items()}
    for projection in service.feature_view_projections:
        if projection.name in on_demand:
            continue
        projection = copy.copy(projection)
        projection.features = list(projection.features)
        have = {f.name for f in projection.features}
        view = store.get_feature_view(projection.name)
        by_name = {f.name: f for f in view.features}
        for name in needed.pop(projection.name, []):
            if name not in have:
                projection.features.append(by_name[name])
        projections.append(projection)
    for view_name, names in needed.items():
        view = store.get_feature_view(view_name)
        projections.append(view[names].projection)
    for projection in projections:
        for feature in projection.features:
            if outputs.setdefault(feature.name, projection.name) != projection.name:
                raise FeatureError(
                    f"feature {feature.name!r} is read from views {outputs[feature.name]!r} and "
                    f"{projection.name!r} for FeatureService {service.name!r}'s on-demand views; "
                    "rename one in a projection"
                )
    plain = FeatureService(name=service.name, features=[])
    plain.feature_view_projections = projections
    return plain


class OnDemandReader(OnlineReader):
    """A reader for a service with on-demand views: ``base`` reads the inputs, the views compute the rest."""

    def __init__(self, base: OnlineReader, views: OnDemandViews, feature_names: Sequence[str]) -> None:
        self.base = base
        self.views = views
        self.entity_keys = base.entity_keys
        self.feature_names = tuple(feature_names)
        self.store_label = base.store_label
        self.fast = base.fast
        self.key_types = base.key_types
        self.request_fields = {name: f.value_type for name, f in views.request_fields.items()}

    def _finish(self, columns: Columns, request: Mapping[str, Sequence[Any]]) -> Columns:
        n = len(columns[self.entity_keys[0]])
        computed = self.views.compute(columns, request, n)
        out: Columns = {k: columns[k] for k in self.entity_keys}
        for name in self.feature_names:
            out[name] = computed[name] if name in computed else columns[name]
        return out

    def _request(self, entities: Mapping[str, Sequence[Any]], request: Any) -> dict[str, list[Any]]:
        n = self.base.check_entities(entities)
        return self.views.check_request(request, n)

    def read(
        self, entities: Mapping[str, Sequence[Any]], request: Any = None, *, at_ns: int | None = None
    ) -> Columns:
        values = self._request(entities, request)
        return self._finish(self.base.read(entities, at_ns=at_ns), values)

    async def read_async(
        self, entities: Mapping[str, Sequence[Any]], request: Any = None, *, at_ns: int | None = None
    ) -> Columns:
        values = self._request(entities, request)
        return self._finish(await self.base.read_async(entities, at_ns=at_ns), values)

    def close(self) -> None:
        self.base.close()


def no_request_data(reader: OnlineReader, request: Any) -> None:
    """Refuse request data for a model whose FeatureService has no on-demand view reading any."""
    if request and not reader.request_fields:
        raise BadRequest(
            "this model takes no request data (its FeatureService has no RequestSource); drop 'request'"
        )
