"""The Redis fast path: one FeatureService, many entities, one Redis round trip.

Feast's ``get_online_features`` spends most of its time in Python around the store
(protobuf entity keys, response protos, type conversion): about 6x the raw cost of the
Redis ``HMGET`` calls underneath. For the Redis online store this module reads the same
hashes Feast writes, with the same layout, directly:

* key   = ``serialize_entity_key(join keys of the view, sorted) + project`` (entity key
  serialisation version 3);
* field = ``mmh3("<view>:<feature>")`` (4 bytes, little endian), one per feature, plus
  ``_ts:<view>`` for the event time, read in the same ``HMGET`` for views with a ttl;
* value = a serialised ``feast.types.Value`` protobuf.

:class:`RedisOnlineReader` sends every view's ``HMGET`` commands in one pipelined round
trip (:class:`~modelyard.features.online.redis.wire.RedisWire`) and decodes the replies itself, so
values are identical to what ``get_online_features(...).to_dict()`` returns. Its target is
at most twice the bare round trip (``bench/bench_online_read.py``: the same commands
prebuilt, replies parsed by hiredis, not decoded) at 1, 10 and 100 entities, so the Python
around the round trip must cost no more than the round trip itself:

* commands: for views keyed by INT64 / INT32 join keys every command has the same bytes but
  the key values, so the payload is a per-view template repeated, with each key column
  packed once (one ``struct`` call, type-checked in C) and put in place; string keys are
  built key by key;
* checks: a well-formed request (a dict of equal-length lists) is recognised in a few C
  calls; anything else goes through :meth:`~modelyard.features.online.base.OnlineReader.check_entities` for its message;
* decoding: by the compiled row decoder (``modelyard.features.online.redis._redis_rows``, built at install
  where a C compiler is present), one pass over a view's rows for every column of the
  common scalar types. Without it, and for any column it hands back (lists, an unexpected
  value): one entity value by value with each type's usual shape tried first; more
  entities column by column in a few C calls (``struct`` for fixed-size values, protobuf's
  parser for varints, numpy for fixed-length lists), falling back to the per-value decoder
  for any column that holds something unexpected. The codecs live in
  :mod:`modelyard.features.online.redis.codec`.

Feast's store in cluster mode (``redis_type: redis_cluster``) holds the same hashes spread
over the cluster's hash slots: :class:`RedisClusterOnlineReader` builds the same commands
key by key, and :class:`~modelyard.features.online.redis.cluster.RedisClusterWire` sends them
grouped by node, one pipelined round trip per node (all nodes at once), following ``MOVED``
and ``ASK`` redirections; the replies are decoded as for one server.

Anything the fast path does not cover (other online stores, on-demand views, join-key
maps, versioned views, Redis Sentinel, TLS, other join-key types) is served by
:class:`~modelyard.features.online.feast_reader.FeastOnlineReader`, which is Feast's own call.

Build one with :func:`~modelyard.features.online.build.online_reader`; both readers answer ``read(entities)`` with columns:
the entity keys as given, then every feature of the service in service order. Both apply
each view's ttl at :func:`modelyard.features.expiry.now_ns` by the rule the training join
applies (:mod:`modelyard.features.expiry`): a stale value is missing, so the model's
missing-value policy applies, exactly as it would to the training-frame row at that time.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

from modelyard.errors import FeatureError, OnlineStoreUnavailable
from modelyard.features import expiry
from modelyard.features.online.base import Columns, OnlineReader
from modelyard.features.online.redis import codec as redis_codec
from modelyard.features.online.redis.codec import (
    FIXED_WIDTH_KEYS,
    STRING,
    HmgetBatch,
    HmgetTemplate,
    RowsDecoder,
    UnsupportedKey,
    key_encoder,
)
from modelyard.features.online.redis.wire import RedisWireError

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

    from modelyard.features.online.redis.async_wire import AsyncRedisWire
    from modelyard.features.online.redis.cluster import RedisClusterWire
    from modelyard.features.online.redis.wire import RedisWire

_pack_u32 = struct.Struct("<I").pack
_JUST_LIST = {list}


class Unsupported(Exception):
    """This FeatureService cannot use the fast path (internal: the builder falls back to Feast)."""


@dataclass(frozen=True)
class _ViewPlan:
    """What to read from one feature view of the service."""

    name: str
    join_keys: tuple[str, ...]  # sorted, as Feast serialises them
    encoders: tuple[Callable[[Any], bytes], ...]
    prefix: bytes  # key count and the encoded join-key names
    fields: tuple[bytes, ...]
    outputs: tuple[str, ...]
    decode: RowsDecoder  # HMGET replies (rows) -> feature columns
    resp_fields: bytes = b""  # RESP encoding of ``fields`` (built once)
    key_types: tuple[int, ...] = ()  # Feast value type of each join key
    ttl: int | None = None  # the view's ttl in ns; then ``fields`` ends with ``_ts:<view>``

    @property
    def resp_head(self) -> bytes:
        """RESP of ``HMGET``'s argument count and name (the key and ``resp_fields`` follow)."""
        return b"*%d\r\n$5\r\nHMGET\r\n" % (len(self.fields) + 2)


def _hmget_template(plan: _ViewPlan, project: bytes) -> HmgetTemplate | None:
    """The command template of ``plan`` when all its join keys are fixed-width integers."""
    if not plan.key_types or any(t not in FIXED_WIDTH_KEYS for t in plan.key_types):
        return None
    widths = [FIXED_WIDTH_KEYS[t] for t in plan.key_types]
    heads = [_pack_u32(t) + _pack_u32(w) for t, w in zip(plan.key_types, widths, strict=True)]
    key_size = len(plan.prefix) + sum(len(h) + w for h, w in zip(heads, widths, strict=True)) + len(project)
    segments = [plan.resp_head + b"$%d\r\n" % key_size + plan.prefix + heads[0]]
    segments += heads[1:]
    segments.append(project + b"\r\n" + plan.resp_fields)
    return HmgetTemplate(segments, plan.join_keys, plan.key_types)


class RedisOnlineReader(OnlineReader):
    """Feast's Redis online store read directly, every view in one pipelined round trip."""

    fast = True

    def __init__(
        self,
        wire: RedisWire,
        project: str,
        plans: Sequence[_ViewPlan],
        entity_keys: Sequence[str],
        *,
        store_label: str,
    ) -> None:
        self.wire = wire
        self._setup(project, plans, entity_keys, store_label)
        self.async_wire: AsyncRedisWire | None = None  # opened by the first read_async
        # the commands of views with fixed-width join keys come from templates (all views: one batch)
        templates = [_hmget_template(plan, self.project) for plan in self.plans]
        fixed = [t for t in templates if t is not None]
        self._batch = HmgetBatch(fixed) if len(fixed) == len(templates) else None
        self._batches = tuple(None if t is None else HmgetBatch([t]) for t in templates)

    def _setup(
        self, project: str, plans: Sequence[_ViewPlan], entity_keys: Sequence[str], store_label: str
    ) -> None:
        """What every Redis layout shares: the views' plans, the answer's columns, the decoders."""
        self.project = project.encode("utf-8")
        self.plans = tuple(plans)
        self.entity_keys = tuple(entity_keys)
        self.feature_names = tuple(name for plan in self.plans for name in plan.outputs)
        self.store_label = store_label
        self._key_set = frozenset(self.entity_keys)
        self._outputs = tuple((plan.outputs, plan.decode, plan.ttl) for plan in self.plans)
        self._value_decoders = tuple(d for plan in self.plans for d in plan.decode.values)
        self._ttl = any(plan.ttl is not None for plan in self.plans)

    def keys(self, plan: _ViewPlan, entities: Mapping[str, Sequence[Any]], n: int) -> list[bytes]:
        """The Redis keys of ``plan``'s view for each entity row (Feast's serialisation)."""
        project = self.project
        prefix = plan.prefix
        if len(plan.join_keys) == 1:
            enc = plan.encoders[0]
            return [prefix + enc(v) + project for v in entities[plan.join_keys[0]]]
        cols = [entities[k] for k in plan.join_keys]
        encoders = plan.encoders
        return [
            prefix + b"".join(e(c[i]) for e, c in zip(encoders, cols, strict=True)) + project
            for i in range(n)
        ]

    def _rows(self, entities: Mapping[str, Sequence[Any]]) -> int:
        """The number of entity rows (the common well-formed request checked in a few C calls)."""
        if type(entities) is dict and entities.keys() == self._key_set:
            columns = list(map(entities.__getitem__, self.entity_keys))
            if set(map(type, columns)) == _JUST_LIST:
                lengths = set(map(len, columns))
                if len(lengths) == 1 and (n := lengths.pop()):
                    return n
        return self.check_entities(entities)  # the slow checks, naming what is wrong

    def payload(self, entities: Mapping[str, Sequence[Any]], n: int) -> bytes:
        """The RESP bytes of every ``HMGET`` of the read (view by view, entity by entity)."""
        if self._batch is not None:
            return self._batch.build(entities, n)
        out: list[bytes] = []
        for plan, batch in zip(self.plans, self._batches, strict=True):
            if batch is not None:
                out.append(batch.build(entities, n))
            else:  # string / bytes join keys: key by key
                out.extend(_hmgets(plan, self.keys(plan, entities, n)))
        return b"".join(out)

    def read(
        self, entities: Mapping[str, Sequence[Any]], request: Any = None, *, at_ns: int | None = None
    ) -> Columns:
        n = self._rows(entities)
        try:
            replies = self._replies(entities, n)
        except (OSError, RedisWireError) as exc:
            raise self._read_error(exc) from None
        return self.columns(entities, replies, n, at_ns)

    async def read_async(
        self, entities: Mapping[str, Sequence[Any]], request: Any = None, *, at_ns: int | None = None
    ) -> Columns:
        """:meth:`read` through the worker's pipelined event-loop connection (modelyard.features.online.redis.async_wire)."""
        n = self._rows(entities)
        try:
            replies = await self._replies_async(entities, n)
        except (OSError, RedisWireError) as exc:
            raise self._read_error(exc) from None
        return self.columns(entities, replies, n, at_ns)

    def _replies(self, entities: Mapping[str, Sequence[Any]], n: int) -> Sequence[Any]:
        """The ``HMGET`` replies of a read: one pipelined round trip."""
        return self.wire.execute(self.payload(entities, n), n * len(self.plans))

    async def _replies_async(self, entities: Mapping[str, Sequence[Any]], n: int) -> Sequence[Any]:
        payload = self.payload(entities, n)
        if self.async_wire is None:
            from modelyard.features.online.redis.async_wire import AsyncRedisWire

            w = self.wire
            self.async_wire = AsyncRedisWire(
                w.host, w.port, db=w.db, username=w.username, password=w.password, timeout=w.timeout
            )
        return await self.async_wire.execute(payload, n * len(self.plans))

    def _read_error(self, exc: Exception) -> Exception:
        """Unreachable store (OSError) -> OnlineStoreUnavailable; an error reply -> FeatureError."""
        if isinstance(exc, OSError):
            return OnlineStoreUnavailable(
                f"the Feast online store ({self.store_label}) is unreachable: {exc}"
            )
        return FeatureError(f"reading the Feast online store ({self.store_label}) failed: {exc}")

    def columns(
        self, entities: Mapping[str, Sequence[Any]], replies: Sequence[Any], n: int, at_ns: int | None = None
    ) -> Columns:
        """The answer to ``read``: the entity columns, then the decoded ``HMGET`` replies."""
        out: Columns = {k: list(entities[k]) for k in self.entity_keys}
        at = (expiry.now_ns() if at_ns is None else at_ns) if self._ttl else 0
        if n == 1 and redis_codec.compiled_rows is None and not self._ttl:  # one row per view: one pass
            raws = chain.from_iterable(replies)
            out.update(
                zip(
                    self.feature_names,
                    [[decode(raw)] for decode, raw in zip(self._value_decoders, raws, strict=True)],
                    strict=True,
                )
            )
            return out
        offset = 0
        for names, decode, ttl in self._outputs:
            rows = replies[offset : offset + n]
            columns = decode(rows) if ttl is None else decode(rows, expiry.fresh_from(at, ttl))
            out.update(zip(names, columns, strict=True))
            offset += n
        return out

    def close(self) -> None:
        self.wire.close()
        if self.async_wire is not None:
            self.async_wire.close()


class RedisClusterOnlineReader(RedisOnlineReader):
    """Feast's Redis online store in cluster mode, read directly: the same keys, fields and
    decoding as :class:`RedisOnlineReader`, the ``HMGET`` commands grouped by node, one
    pipelined round trip per node, redirections followed
    (:class:`~modelyard.features.online.redis.cluster.RedisClusterWire`)."""

    def __init__(
        self,
        cluster: RedisClusterWire,
        project: str,
        plans: Sequence[_ViewPlan],
        entity_keys: Sequence[str],
        *,
        store_label: str,
    ) -> None:
        self.cluster = cluster
        self._setup(project, plans, entity_keys, store_label)

    def commands(self, entities: Mapping[str, Sequence[Any]], n: int) -> tuple[list[bytes], list[bytes]]:
        """Every ``HMGET`` of the read (view by view, entity by entity) and its key."""
        keys: list[bytes] = []
        commands: list[bytes] = []
        for plan in self.plans:
            view_keys = self.keys(plan, entities, n)
            keys += view_keys
            commands += _hmgets(plan, view_keys)
        return keys, commands

    def _replies(self, entities: Mapping[str, Sequence[Any]], n: int) -> Sequence[Any]:
        return self.cluster.execute(*self.commands(entities, n))

    async def _replies_async(self, entities: Mapping[str, Sequence[Any]], n: int) -> Sequence[Any]:
        return await self.cluster.execute_async(*self.commands(entities, n))

    def close(self) -> None:
        self.cluster.close()


def _hmgets(plan: _ViewPlan, keys: Sequence[bytes]) -> list[bytes]:
    """The RESP bytes of ``plan``'s ``HMGET`` for each key."""
    head, tail = plan.resp_head, plan.resp_fields
    return [b"%s$%d\r\n%s\r\n%s" % (head, len(key), key, tail) for key in keys]


# -- building the fast path -----------------------------------------------------------------


def _connection(connection_string: str) -> tuple[list[tuple[str, int]], dict[str, Any], dict[str, Any]]:
    """Feast's connection string -> (nodes, its other parameters, the credentials to open a node with)."""
    from modelyard.features.online.redis.connection import UnsupportedConnection, parse_connection

    try:
        return parse_connection(connection_string)
    except UnsupportedConnection as why:
        raise Unsupported(str(why)) from None


def redis_wire(connection_string: str, *, timeout: float) -> tuple[RedisWire, str]:
    from modelyard.features.online.redis.wire import RedisWire

    nodes, params, auth = _connection(connection_string)
    host, port = nodes[0]
    wire = RedisWire(host, port, db=int(params.get("db", 0)), timeout=timeout, **auth)
    return wire, f"redis {host}:{port}"


def cluster_wire(connection_string: str, *, timeout: float) -> tuple[RedisClusterWire, str]:
    from modelyard.features.online.redis.cluster import RedisClusterWire

    nodes, _, auth = _connection(connection_string)
    cluster = RedisClusterWire(nodes, timeout=timeout, **auth)
    return cluster, cluster.label


def view_plans(store: FeatureStore, service: Any, full_feature_names: bool) -> list[_ViewPlan]:
    from feast import FeatureView
    from feast.errors import FeastObjectNotFoundException
    from feast.infra.online_stores.helpers import _mmh3

    from modelyard.features.online.redis.wire import encode_fields

    if store.config.registry.enable_online_feature_view_versioning:
        raise Unsupported("online feature-view versioning is on")
    plans = []
    for projection in service.feature_view_projections:
        if projection.join_key_map:
            raise Unsupported(f"projection {projection.name!r} maps join keys")
        try:
            view = store.get_feature_view(projection.name)
        except FeastObjectNotFoundException as exc:  # an on-demand view: Feast's read computes it
            raise Unsupported(f"{projection.name!r} is not a plain feature view ({exc})") from None
        if not isinstance(view, FeatureView):
            raise Unsupported(f"{projection.name!r} is a {type(view).__name__}")
        key_fields = sorted((f.name, f.dtype.to_value_type().value) for f in view.entity_columns)
        if not key_fields:
            raise Unsupported(f"{projection.name!r} has no entities")
        join_keys = tuple(name for name, _ in key_fields)
        try:
            encoders = tuple(key_encoder(name, vt) for name, vt in key_fields)
        except UnsupportedKey as why:
            raise Unsupported(str(why)) from None
        prefix = _pack_u32(len(join_keys)) + b"".join(
            _pack_u32(STRING) + _pack_u32(len(k.encode())) + k.encode() for k in join_keys
        )
        # Feast serialises: count, (type, len, name) per key, then (type, len, value) per key
        types = {f.name: f.dtype.to_value_type().value for f in view.features}
        names = [f.name for f in projection.features]
        table = projection.name_to_use()
        ttl = expiry.ttl_ns(view.ttl)
        fields = tuple(_mmh3(f"{view.name}:{n}") for n in names)
        if ttl is not None:  # the event time, in the same HMGET
            fields += (f"_ts:{view.name}".encode(),)
        plans.append(
            _ViewPlan(
                name=view.name,
                join_keys=join_keys,
                encoders=encoders,
                prefix=prefix,
                fields=fields,
                outputs=tuple(f"{table}__{n}" if full_feature_names else n for n in names),
                decode=RowsDecoder([types.get(n, 0) for n in names]),
                resp_fields=encode_fields(fields)[0],
                key_types=tuple(vt for _, vt in key_fields),
                ttl=ttl,
            )
        )
    return plans
