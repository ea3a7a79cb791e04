"""Fast online feature reads: one FeatureService, many entities, one Redis round trip.

Feast's ``get_online_features`` spends most of its time in Python around the store
(protobuf entity keys, response protos, type conversion): about 6x the raw cost of the
Redis ``HMGET`` calls underneath. For the Redis online store this module reads the same
hashes Feast writes, with the same layout, directly:

* key   = ``serialize_entity_key(join keys of the view, sorted) + project`` (entity key
  serialisation version 3);
* field = ``mmh3("<view>:<feature>")`` (4 bytes, little endian), one per feature, plus
  ``_ts:<view>`` for the event time (not needed to answer);
* value = a serialised ``feast.types.Value`` protobuf.

:class:`RedisOnlineReader` builds every key of every view of the service, sends all the
``HMGET`` commands in one pipeline and decodes the scalar protobufs by hand (falling back
to protobuf + Feast's own converter for list, map and other complex types), so values are
identical to what ``get_online_features(...).to_dict()`` returns. Anything it does not
cover (other online stores, on-demand views, join-key maps, versioned views, Redis
cluster) is served by :class:`FeastOnlineReader`, which is Feast's own call.

Build one with :func:`online_reader`; both readers answer ``read(entities)`` with columns:
the entity keys as given, then every feature of the service in service order.
"""

from __future__ import annotations

import logging
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from modelyard.errors import BadRequest, FeatureError, OnlineStoreUnavailable
from modelyard.features.sqlite_codecs import guard_sqlite_codecs
from modelyard.serving.redis_wire import RedisWireError

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

    from modelyard.serving.redis_wire import RedisWire

logger = logging.getLogger(__name__)

Columns = dict[str, list[Any]]

# feast.value_type.ValueType numbers (stable: they are the protobuf enum values)
_BYTES, _STRING, _INT32, _INT64, _DOUBLE, _FLOAT, _BOOL, _UNIX_TS = 1, 2, 3, 4, 5, 6, 7, 8
_FAST_TYPES = {_BYTES, _STRING, _INT32, _INT64, _DOUBLE, _FLOAT, _BOOL, _UNIX_TS}
_NULL_TIMESTAMP = -9223372036854775808  # numpy NaT as int, Feast's "no timestamp"

_pack_u32 = struct.Struct("<I").pack
_pack_i32 = struct.Struct("<i").pack
_pack_i64 = struct.Struct("<q").pack
_unpack_d = struct.Struct("<d").unpack_from
_unpack_f = struct.Struct("<f").unpack_from


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

    def check_key_values(self, entities: Mapping[str, Sequence[Any]]) -> None:
        """Every entity value has its key's type (what the fast path's encoders check as they go)."""
        for key, values in entities.items():
            if key not in self.key_types:
                continue
            try:
                encode = _encoder_for(key, self.key_types[key])
            except _Unsupported:
                continue
            for v in values:
                encode(v)

    @abstractmethod
    def read(self, entities: Mapping[str, Sequence[Any]]) -> Columns:
        """Columns: each entity key as given, then every feature (``None`` where missing).

        Raises :class:`BadRequest` for unknown / missing entity keys, unequal column
        lengths or values of the wrong type, :class:`OnlineStoreUnavailable` when the store
        cannot be reached.
        """

    async def read_async(self, entities: Mapping[str, Sequence[Any]]) -> Columns:
        """:meth:`read` on an event loop. By default it is :meth:`read` itself (it blocks the
        loop for the read); readers with an asynchronous client let the loop serve other
        requests while the store answers.
        """
        return self.read(entities)

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


# -- value decoding --------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def _proto_decoder(value_type: int) -> Callable[[bytes | None], Any]:
    """The slow, complete decoder: protobuf parse + Feast's own Python conversion."""
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import feast_value_type_to_python_type
    from feast.value_type import ValueType

    try:
        hint: Any = ValueType(value_type)
    except ValueError:
        hint = None

    def decode(raw: bytes | None) -> Any:
        proto = Value()
        if raw:
            proto.ParseFromString(raw)
        return feast_value_type_to_python_type(proto, hint)

    return decode


def _scalar_decoder(value_type: int) -> Callable[[bytes | None], Any]:
    """A hand-written decoder for one scalar ``Value`` field; other shapes go to protobuf."""
    slow = _proto_decoder(value_type)

    def decode(raw: bytes | None) -> Any:
        if not raw:
            return None
        tag = raw[0]
        size = len(raw)
        try:
            if tag == 0x29 and size == 9:  # double_val
                return _unpack_d(raw, 1)[0]
            if tag == 0x35 and size == 5:  # float_val
                return _unpack_f(raw, 1)[0]
            if tag == 0x20:  # int64_val
                value, end = _varint(raw, 1)
                if end == size:
                    return _signed64(value)
            elif tag == 0x18:  # int32_val
                value, end = _varint(raw, 1)
                if end == size:
                    value = _signed64(value)
                    return value - (1 << 32) if value >= (1 << 31) else value
            elif tag == 0x38 and size == 2:  # bool_val
                return raw[1] != 0
            elif tag == 0x12 or tag == 0x0A:  # string_val / bytes_val
                length, start = _varint(raw, 1)
                if start + length == size:
                    data = raw[start:]
                    return data.decode("utf-8") if tag == 0x12 else data
            elif tag == 0x40:  # unix_timestamp_val
                value, end = _varint(raw, 1)
                if end == size:
                    value = _signed64(value)
                    if value == _NULL_TIMESTAMP:
                        return None
                    return datetime.fromtimestamp(value, tz=timezone.utc)
        except (IndexError, UnicodeDecodeError):
            pass
        return slow(raw)

    return decode


def decoder_for(value_type: int) -> Callable[[bytes | None], Any]:
    """Bytes of a serialised ``feast.types.Value`` -> the Python value Feast's ``to_dict`` gives."""
    if value_type in _FAST_TYPES:
        return _scalar_decoder(value_type)
    return _proto_decoder(value_type)


_DOUBLE_LIST = 15


def _double_list_decoder(slow: Callable[[bytes | None], Any]) -> Callable[[bytes | None], Any]:
    """``double_list_val`` (field 15, a DoubleList of packed doubles) by hand."""

    def decode(raw: bytes | None) -> Any:
        if not raw:
            return None
        try:
            if raw[0] == 0x7A:
                outer, pos = _varint(raw, 1)
                if pos + outer == len(raw):
                    if outer == 0:
                        return []
                    if raw[pos] == 0x0A:
                        inner, start = _varint(raw, pos + 1)
                        if start + inner == len(raw) and inner % 8 == 0:
                            return list(struct.unpack_from(f"<{inner // 8}d", raw, start))
        except IndexError:
            pass
        return slow(raw)

    return decode


def column_decoder(value_type: int) -> Callable[[list[bytes | None]], list[Any]]:
    """A whole column of serialised values -> Python values (tight loops for the common types)."""
    one = decoder_for(value_type)
    if value_type == _DOUBLE:
        unpack = _unpack_d

        def doubles(col: list[bytes | None]) -> list[Any]:
            return [unpack(r, 1)[0] if r and len(r) == 9 and r[0] == 0x29 else one(r) for r in col]

        return doubles
    if value_type == _FLOAT:
        unpack = _unpack_f

        def floats(col: list[bytes | None]) -> list[Any]:
            return [unpack(r, 1)[0] if r and len(r) == 5 and r[0] == 0x35 else one(r) for r in col]

        return floats
    if value_type == _DOUBLE_LIST:
        one = _double_list_decoder(one)

    def generic(col: list[bytes | None]) -> list[Any]:
        return [one(r) for r in col]

    return generic


# -- entity keys -------------------------------------------------------------------------


def _encoder_for(key: str, value_type: int) -> Callable[[Any], bytes]:
    """Python value of one join key -> its type tag, length and bytes, as Feast serialises it."""
    if value_type == _INT64:
        head = _pack_u32(_INT64) + _pack_u32(8)

        def enc_int64(v: Any) -> bytes:
            if type(v) is not int:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise BadRequest(f"entity key {key!r} takes integers, got {v!r} ({type(v).__name__})")
            try:
                return head + _pack_i64(v)
            except struct.error:
                raise BadRequest(f"entity key {key!r}: {v} does not fit in 64 bits") from None

        return enc_int64
    if value_type == _INT32:
        head = _pack_u32(_INT32) + _pack_u32(4)

        def enc_int32(v: Any) -> bytes:
            if isinstance(v, bool) or not isinstance(v, int):
                raise BadRequest(f"entity key {key!r} takes integers, got {v!r} ({type(v).__name__})")
            try:
                return head + _pack_i32(v)
            except struct.error:
                raise BadRequest(f"entity key {key!r}: {v} does not fit in 32 bits") from None

        return enc_int32
    if value_type == _STRING:
        tag = _pack_u32(_STRING)

        def enc_str(v: Any) -> bytes:
            if not isinstance(v, str):
                raise BadRequest(f"entity key {key!r} takes strings, got {v!r} ({type(v).__name__})")
            data = v.encode("utf-8")
            return tag + _pack_u32(len(data)) + data

        return enc_str
    if value_type == _BYTES:
        tag = _pack_u32(_BYTES)

        def enc_bytes(v: Any) -> bytes:
            if isinstance(v, str):
                v = v.encode("utf-8")
            if not isinstance(v, bytes):
                raise BadRequest(f"entity key {key!r} takes bytes, got {type(v).__name__}")
            return tag + _pack_u32(len(v)) + v

        return enc_bytes
    raise _Unsupported(f"join key {key!r} has value type {value_type}, which the fast path does not encode")


class _Unsupported(Exception):
    """This FeatureService cannot use the fast path (internal; falls back to Feast)."""


@dataclass(frozen=True)
class _ViewPlan:
    """What to read from one feature view of the service."""

    name: str
    join_keys: tuple[str, ...]  # sorted, as Feast serialises them
    encoders: tuple[Callable[[Any], bytes], ...]
    prefix: bytes  # key count and the encoded join-key names
    fields: tuple[bytes, ...]
    outputs: tuple[str, ...]
    decoders: tuple[Callable[[list[bytes | None]], list[Any]], ...]
    resp_fields: bytes = b""  # RESP encoding of ``fields`` (built once)


# -- the readers ---------------------------------------------------------------------------


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
        self.project = project.encode("utf-8")
        self.plans = tuple(plans)
        self.entity_keys = tuple(entity_keys)
        self.feature_names = tuple(name for plan in self.plans for name in plan.outputs)
        self.store_label = store_label

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

    def read(self, entities: Mapping[str, Sequence[Any]]) -> Columns:
        n = self.check_entities(entities)
        parts: list[bytes] = []
        for plan in self.plans:
            tail = plan.resp_fields
            head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(plan.fields) + 2)
            parts.extend(
                b"%s$%d\r\n%s\r\n%s" % (head, len(key), key, tail) for key in self.keys(plan, entities, n)
            )
        try:
            replies = self.wire.execute(b"".join(parts), len(parts))
        except OSError as exc:
            raise OnlineStoreUnavailable(
                f"the Feast online store ({self.store_label}) is unreachable: {exc}"
            ) from None
        except RedisWireError as exc:
            raise FeatureError(f"reading the Feast online store ({self.store_label}) failed: {exc}") from None
        out: Columns = {k: list(entities[k]) for k in self.entity_keys}
        offset = 0
        for plan in self.plans:
            rows = replies[offset : offset + n]
            offset += n
            for j, (name, dec) in enumerate(zip(plan.outputs, plan.decoders, strict=True)):
                out[name] = dec([row[j] for row in rows])
        return out

    def close(self) -> None:
        self.wire.close()


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
    ) -> None:
        self.store = store
        self.service = feature_service
        self.entity_keys = tuple(entity_keys)
        self.feature_names = tuple(feature_names)
        self.full_feature_names = full_feature_names
        self.store_label = f"{store.config.online_store.type}"

    def read(self, entities: Mapping[str, Sequence[Any]]) -> Columns:
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
        except Exception as exc:  # noqa: BLE001 - Feast raises many types; classify them
            if _is_connection_error(exc):
                raise OnlineStoreUnavailable(
                    f"the Feast online store ({self.store_label}) is unreachable: {exc}"
                ) from None
            if isinstance(exc, (TypeError, ValueError, KeyError)):
                raise BadRequest(f"Feast refused the entity values: {exc}") from None
            raise FeatureError(f"reading the Feast online store ({self.store_label}) failed: {exc}") from exc
        data = response.to_dict()
        out: Columns = {k: list(entities[k]) for k in self.entity_keys}
        for name in self.feature_names:
            out[name] = data[name]
        return out


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a serving dependency
        return False
    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError))


# -- building a reader ------------------------------------------------------------------------


def _redis_wire(connection_string: str, *, timeout: float) -> tuple[RedisWire, str]:
    from feast.infra.online_stores.redis import RedisOnlineStore

    from modelyard.serving.redis_wire import RedisWire

    nodes, params = RedisOnlineStore._parse_connection_string(connection_string)
    if not nodes:
        raise _Unsupported("the connection string names no Redis host")
    if params.get("ssl"):
        raise _Unsupported("TLS connections")
    host = nodes[0].get("host", "localhost")
    port = int(nodes[0].get("port", 6379))
    wire = RedisWire(
        host,
        port,
        db=int(params.get("db", 0)),
        username=params.get("username"),
        password=None if params.get("password") is None else str(params["password"]),
        timeout=timeout,
    )
    return wire, f"redis {host}:{port}"


def _plans(store: FeatureStore, service: Any, full_feature_names: bool) -> list[_ViewPlan]:
    from feast import FeatureView
    from feast.infra.online_stores.helpers import _mmh3

    from modelyard.serving.redis_wire import encode_fields

    if store.config.registry.enable_online_feature_view_versioning:
        raise _Unsupported("online feature-view versioning is on")
    plans = []
    for projection in service.feature_view_projections:
        if projection.join_key_map:
            raise _Unsupported(f"projection {projection.name!r} maps join keys")
        try:
            view = store.get_feature_view(projection.name)
        except Exception as exc:  # noqa: BLE001 - on-demand views and others: Feast handles them
            raise _Unsupported(f"{projection.name!r} is not a plain feature view ({exc})") from None
        if not isinstance(view, FeatureView):
            raise _Unsupported(f"{projection.name!r} is a {type(view).__name__}")
        key_fields = sorted((f.name, f.dtype.to_value_type().value) for f in view.entity_columns)
        if not key_fields:
            raise _Unsupported(f"{projection.name!r} has no entities")
        join_keys = tuple(name for name, _ in key_fields)
        encoders = tuple(_encoder_for(name, vt) for name, vt in key_fields)
        prefix = _pack_u32(len(join_keys)) + b"".join(
            _pack_u32(_STRING) + _pack_u32(len(k.encode())) + k.encode() for k in join_keys
        )
        # Feast serialises: count, (type, len, name) per key, then (type, len, value) per key
        types = {f.name: f.dtype.to_value_type().value for f in view.features}
        names = [f.name for f in projection.features]
        table = projection.name_to_use()
        fields = tuple(_mmh3(f"{view.name}:{n}") for n in names)
        plans.append(
            _ViewPlan(
                name=view.name,
                join_keys=join_keys,
                encoders=encoders,
                prefix=prefix,
                fields=fields,
                outputs=tuple(f"{table}__{n}" if full_feature_names else n for n in names),
                decoders=tuple(column_decoder(types.get(n, 0)) for n in names),
                resp_fields=encode_fields(fields)[0],
            )
        )
    return plans


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
    from modelyard.errors import FeatureServiceNotFound

    try:
        service = store.get_feature_service(feature_service)
    except Exception as exc:  # noqa: BLE001 - Feast's own not-found error
        raise FeatureServiceNotFound(
            f"the feature repo defines no FeatureService {feature_service!r} ({exc})"
        ) from None
    entity_keys = _entity_keys(store, service)
    online = store.config.online_store
    if (
        fast
        and getattr(online, "type", None) == "redis"
        and str(getattr(online, "redis_type", "redis")).endswith("redis")
    ):
        try:
            plans = _plans(store, service, full_feature_names)
            wire, label = _redis_wire(online.connection_string, timeout=timeout)
            if store.config.entity_key_serialization_version < 3:
                raise _Unsupported("entity key serialisation version < 3")
            reader: OnlineReader = RedisOnlineReader(
                wire, store.config.project, plans, list(entity_keys), store_label=label
            )
            reader.key_types = entity_keys
            return reader
        except _Unsupported as why:
            logger.info("feature service %s: Feast's own online read (%s)", feature_service, why)
    names = _feature_names(service, full_feature_names)
    slow = FeastOnlineReader(store, service, list(entity_keys), names, full_feature_names=full_feature_names)
    slow.key_types = entity_keys
    return slow


def _entity_keys(store: FeatureStore, service: Any) -> dict[str, int]:
    """Join keys of every view of the service (first-seen order) -> their Feast value type number."""
    keys: dict[str, int] = {}
    for projection in service.feature_view_projections:
        try:
            view = store.get_feature_view(projection.name)
        except Exception:  # noqa: BLE001 - on-demand views take request data, not join keys
            continue
        for field in view.entity_columns:
            name = projection.join_key_map.get(field.name, field.name)
            keys.setdefault(name, field.dtype.to_value_type().value)
    return keys


def _feature_names(service: Any, full_feature_names: bool) -> list[str]:
    names = []
    for projection in service.feature_view_projections:
        table = projection.name_to_use()
        names.extend(f"{table}__{f.name}" if full_feature_names else f.name for f in projection.features)
    return names


def timed_read(reader: OnlineReader, entities: Mapping[str, Sequence[Any]]) -> tuple[Columns, float]:
    """``reader.read(entities)`` and the seconds it took (for the feature-store latency metric)."""
    start = time.perf_counter()
    out = reader.read(entities)
    return out, time.perf_counter() - start
