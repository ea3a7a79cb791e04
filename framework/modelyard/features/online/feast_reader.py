"""Feast's own online read, ``get_online_features``, behind :class:`~modelyard.features.online.base.OnlineReader`.

It reads every online store Feast supports and every kind of view; the Redis fast path
(:mod:`modelyard.features.online.redis.reader`) covers the common case faster. Feast does not
apply a view's ttl when reading online: this reader does, by the training join's rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.errors import BadRequest, FeatureError, OnlineStoreUnavailable
from modelyard.features import expiry
from modelyard.features.online.base import Columns, OnlineReader
from modelyard.features.sqlite_codecs import guard_sqlite_codecs
from modelyard.features.unavailable import is_connection_error

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore


class FeastOnlineReader(OnlineReader):
    """Feast's own ``get_online_features`` (every online store, on-demand views, everything)."""

    fast = False

    def __init__(
        self,
        store: FeatureStore,
        feature_service: Any,
        entity_keys: Sequence[str],
        feature_names: Sequence[str],
        *,
        full_feature_names: bool = False,
        ttls: Mapping[str, int | None] | None = None,
    ) -> None:
        self.store = store
        self.service = feature_service
        self.entity_keys = tuple(entity_keys)
        self.feature_names = tuple(feature_names)
        self.full_feature_names = full_feature_names
        self.store_label = f"{store.config.online_store.type}"
        #: output feature name -> its view's ttl in ns (Feast does not apply it when reading)
        self.ttls = {k: v for k, v in (ttls or {}).items() if v is not None}
        _answer_versioned_read_probe(store)

    def read(
        self, entities: Mapping[str, Sequence[Any]], request: Any = None, *, at_ns: int | None = None
    ) -> Columns:
        self.check_entities(entities)
        self.check_key_values(entities)
        guard_sqlite_codecs(self.store)
        try:
            response = self.store.get_online_features(
                features=self.service,
                entity_rows={k: list(entities[k]) for k in self.entity_keys},
                full_feature_names=self.full_feature_names,
            )
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise OnlineStoreUnavailable(
                f"the Feast online store ({self.store_label}) is unreachable: {exc}"
            ) from None
        except Exception as exc:  # Feast raises many types; classify them
            if is_connection_error(exc):
                raise OnlineStoreUnavailable(
                    f"the Feast online store ({self.store_label}) is unreachable: {exc}"
                ) from None
            if isinstance(exc, (TypeError, ValueError, KeyError)):
                raise BadRequest(f"Feast refused the entity values: {exc}") from None
            raise FeatureError(f"reading the Feast online store ({self.store_label}) failed: {exc}") from exc
        data = response.to_dict()
        if self.ttls:
            expiry.blank_expired(data, response, self.ttls, expiry.now_ns() if at_ns is None else at_ns)
        out: Columns = {k: list(entities[k]) for k in self.entity_keys}
        for name in self.feature_names:
            out[name] = data[name]
        return out


def _answer_versioned_read_probe(store: FeatureStore) -> None:
    """Spare the first read of a SQLite online store Feast's probe of every other store.

    On its first ``get_online_features`` Feast asks whether its online store supports
    versioned reads by importing the store modules it knows (Redis, PostgreSQL, MySQL, FAISS,
    DynamoDB, Milvus: about half a second of a worker's first answer) to test ``isinstance``
    against each. SQLite's store is the first it accepts, so for it the answer is known without
    them; it is set where Feast caches it. Any other store (or a Feast without that cache) is
    left to Feast.
    """
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    online = getattr(store._get_provider(), "online_store", None)
    if isinstance(online, SqliteOnlineStore) and getattr(online, "_versioned_read_supported", False) is None:
        online._versioned_read_supported = True
