"""The online reader interface: what serving and the feature facade read features through.

One FeatureService, many entities, one read. The readers: :class:`~modelyard.features.online.feast_reader.FeastOnlineReader`
(Feast's own call, every online store) and
:class:`~modelyard.features.online.redis.reader.RedisOnlineReader` (Feast's Redis store read
directly); :func:`~modelyard.features.online.build.online_reader` picks one. Both answer
``read(entities)`` with columns, the entity keys as given, then every feature of the service
in service order, and apply each view's ttl by the rule the training join applies
(:mod:`modelyard.features.expiry`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.errors import BadRequest
from modelyard.features.online.redis.codec import UnsupportedKey, key_encoder

Columns = dict[str, list[Any]]


class OnlineReader(ABC):
    """Reads the online feature vectors of one FeatureService."""

    #: the entity join keys a request must give, in the service's order
    entity_keys: tuple[str, ...]
    #: output feature column names, in service order
    feature_names: tuple[str, ...]
    #: what the store is, for error messages and metrics ("redis 127.0.0.1:6379")
    store_label: str
    #: whether this is the fast path (False: Feast's own get_online_features)
    fast: bool = False
    #: entity key -> Feast value type number (feast.value_type.ValueType), when known
    key_types: dict[str, int] = {}  # noqa: RUF012 - replaced per instance
    #: request data a read needs (on-demand views' RequestSource fields) -> Feast value type name
    request_fields: dict[str, str] = {}  # noqa: RUF012 - replaced per instance

    def check_key_values(self, entities: Mapping[str, Sequence[Any]]) -> None:
        """Every entity value has its key's type (what the fast path's encoders check as they go)."""
        for key, values in entities.items():
            if key not in self.key_types:
                continue
            try:
                encode = key_encoder(key, self.key_types[key])
            except UnsupportedKey:
                continue
            for v in values:
                encode(v)

    @abstractmethod
    def read(
        self, entities: Mapping[str, Sequence[Any]], request: Any = None, *, at_ns: int | None = None
    ) -> Columns:
        """Columns: each entity key as given, then every feature (``None`` where missing).

        ``request``: the request data on-demand views read (:attr:`request_fields`); readers
        of services without on-demand views ignore it (serving refuses it first, see
        :func:`modelyard.features.online.ondemand.no_request_data`). ``at_ns``: the time each
        view's ttl is judged at (Unix ns; default :func:`modelyard.features.expiry.now_ns`).

        Raises :class:`BadRequest` for unknown / missing entity keys, unequal column
        lengths or values of the wrong type, :class:`OnlineStoreUnavailable` when the store
        cannot be reached.
        """

    async def read_async(
        self, entities: Mapping[str, Sequence[Any]], request: Any = None, *, at_ns: int | None = None
    ) -> Columns:
        """:meth:`read` on an event loop. By default it is :meth:`read` itself (it blocks the
        loop for the read); readers with an asynchronous client let the loop serve other
        requests while the store answers.
        """
        return self.read(entities, request, at_ns=at_ns)

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""

    # -- shared checks -------------------------------------------------------------------

    def check_entities(self, entities: Mapping[str, Sequence[Any]]) -> int:
        """Validate the columnar entity mapping; return the number of rows."""
        if not isinstance(entities, Mapping):
            raise BadRequest("'entities' must be an object mapping each entity key to a list of values")
        unknown = [k for k in entities if k not in self.entity_keys]
        if unknown:
            raise BadRequest(
                f"unknown entity key(s) {sorted(unknown)}; this model takes: {list(self.entity_keys)}"
            )
        missing = [k for k in self.entity_keys if k not in entities]
        if missing:
            raise BadRequest(f"missing entity key(s) {missing}; this model takes: {list(self.entity_keys)}")
        n: int | None = None
        for key in self.entity_keys:
            values = entities[key]
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise BadRequest(f"entity key {key!r} must be a list of values, got {type(values).__name__}")
            if n is None:
                n = len(values)
            elif len(values) != n:
                raise BadRequest(
                    f"entity columns have different lengths: {self.entity_keys[0]!r} has {n}, "
                    f"{key!r} has {len(values)}"
                )
        if not n:
            raise BadRequest("no entities given: each entity key needs at least one value")
        return n


def timed_read(reader: OnlineReader, entities: Mapping[str, Sequence[Any]]) -> tuple[Columns, float]:
    """``reader.read(entities)`` and the seconds it took (for the feature-store latency metric)."""
    start = time.perf_counter()
    out = reader.read(entities)
    return out, time.perf_counter() - start
