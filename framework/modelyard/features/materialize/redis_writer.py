"""Write winners into Feast's Redis online store, a whole column at a time, bit for bit as Feast does.

Feast's layout (``RedisOnlineStore.online_write_batch``), kept so every Feast client reads it:

* key: the serialised entity key (``serialize_entity_key``, version 3) followed by the project;
* one hash field per feature, named ``mmh3("<view>:<feature>")`` (4 bytes, little endian), holding
  the serialised ``feast.types.Value`` protobuf (empty for a missing value);
* ``_ts:<view>``: the event time as a serialised ``google.protobuf.Timestamp``, to the microsecond.

Feast builds a protobuf object per cell, then a redis-py command per row, and first reads every
row's ``_ts`` with a second pipeline. Here each column is encoded once (:func:`column_pieces`: numpy
for numbers, booleans and times, one formatting call per value for text, Feast's own converter for
list and other types), the RESP bytes of every command are laid out by slice assignment and
joined in C, and commands go out in batches over one socket while the next batch is encoded.
The stale check reads ``_ts`` the same way (``HGET`` in batches) and writes only winners that
:func:`modelyard.features.materialize.plan.replaces` says replace what is stored.

Values equal Feast's byte for byte (``tests/features/test_materialize_redis.py`` compares both
stores' bytes and what Feast's ``get_online_features`` reads back).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.features.materialize.plan import replaces
from modelyard.features.materialize.select import TS, column_array, numpy_values

if TYPE_CHECKING:
    import pyarrow as pa
    from feast import FeatureStore

    from modelyard.features.materialize.views import ViewSpec
    from modelyard.features.online.redis.wire import RedisEndpoint

BATCH = 5_000
"""Commands per round trip (each batch is encoded while Redis applies the previous one)."""

# feast.value_type.ValueType numbers
_BYTES, _STRING, _INT32, _INT64, _DOUBLE, _FLOAT, _BOOL, _UNIX_TIMESTAMP = 1, 2, 3, 4, 5, 6, 7, 8
_EMPTY = b"$0\r\n\r\n"
_NULL_TIME = -(2**63)  # what Feast writes for a missing UNIX_TIMESTAMP (numpy NaT as an integer)
_pack_u32 = struct.Struct("<I").pack


class Unsupported(Exception):
    """This view or store cannot take the fast path (internal: the caller writes through Feast)."""


# -- encoding ----------------------------------------------------------------------------------


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protobuf varints of int64 ``values`` (two's complement, as int64/int32 fields are written):
    an ``(n, 10)`` uint8 array (the first ``lengths[i]`` bytes of row ``i``) and the lengths."""
    u = values.astype(np.int64, copy=False).view(np.uint64)
    lengths = np.ones(len(u), dtype=np.int64)
    for k in range(1, 10):
        lengths += (u >> np.uint64(7 * k)) != 0
    out = np.empty((len(u), 10), dtype=np.uint8)
    for k in range(10):
        group = ((u >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        out[:, k] = group | np.where(k < lengths - 1, 0x80, 0).astype(np.uint8)
    return out, lengths


def _ragged(body: np.ndarray, lengths: np.ndarray) -> list[bytes] | np.ndarray:
    """Row ``i`` of the 2-D uint8 ``body`` cut to ``lengths[i]`` bytes: a 2-D array when all
    lengths are equal (fixed width), else a list of bytes."""
    if len(lengths) and (lengths == lengths[0]).all():
        return np.ascontiguousarray(body[:, : int(lengths[0])])
    return _rows(body, lengths)


def _rows(body: np.ndarray, lengths: np.ndarray) -> list[bytes]:
    """Row ``i`` of the 2-D uint8 ``body``, cut to ``lengths[i]`` bytes, as a list of bytes."""
    width = body.shape[1]
    raw = body.tobytes()
    starts = range(0, len(raw), width)
    return [raw[s : s + n] for s, n in zip(starts, lengths.tolist(), strict=True)]


def _resp_varints(tag: int, values: np.ndarray) -> list[bytes] | np.ndarray:
    """``$<len>\\r\\n<tag><varint>\\r\\n`` for each value."""
    varint, lengths = _varints(values)
    n = len(values)
    size = lengths + 1  # the tag
    head = np.where(size >= 10, 5, 4)  # "$11\r\n" or "$2\r\n"
    body = np.zeros((n, 18), dtype=np.uint8)
    body[:, 0] = ord("$")
    tens = size >= 10
    body[tens, 1] = ord("0") + size[tens] // 10
    body[tens, 2] = ord("0") + size[tens] % 10
    body[~tens, 1] = ord("0") + size[~tens]
    rows = np.arange(n)
    body[rows, head - 2] = 13
    body[rows, head - 1] = 10
    body[rows, head] = tag
    for k in range(10):
        body[rows, head + 1 + k] = varint[:, k]
    end = head + 1 + lengths
    body[rows, end] = 13
    body[rows, end + 1] = 10
    return _ragged(body, end + 2)


def _resp_fixed(tag: int, raw: np.ndarray) -> np.ndarray:
    """``$<1+w>\\r\\n<tag><w bytes>\\r\\n`` for each row of the ``(n, w)`` uint8 ``raw``: ``(n, ...)``."""
    n, width = raw.shape
    head = b"$%d\r\n" % (width + 1) + bytes([tag])
    out = np.empty((n, len(head) + width + 2), dtype=np.uint8)
    out[:, : len(head)] = np.frombuffer(head, np.uint8)
    out[:, len(head) : len(head) + width] = raw
    out[:, -2:] = np.frombuffer(b"\r\n", np.uint8)
    return out


def _resp_text(tag: int, values: Sequence[bytes | None]) -> list[bytes]:
    """``$<len>\\r\\n<tag><varint len><bytes>\\r\\n`` per value (``$0`` for a missing one)."""
    out: list[bytes] = []
    append = out.append
    for v in values:
        if v is None:
            append(_EMPTY)
            continue
        n = len(v)
        if n < 0x80:
            append(b"$%d\r\n%c%c%s\r\n" % (n + 2, tag, n, v))
        else:
            length = _varint_bytes(n)
            append(b"$%d\r\n%c%s%s\r\n" % (n + 1 + len(length), tag, length, v))
    return out


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _with_missing(pieces: Any, missing: np.ndarray | None) -> list[bytes] | np.ndarray:
    """``pieces`` (a 2-D array or a list), with ``$0`` (an empty value) where ``missing``."""
    if missing is None or not missing.any():
        return pieces
    rows = (
        _rows(pieces, np.full(len(pieces), pieces.shape[1]))
        if isinstance(pieces, np.ndarray)
        else list(pieces)
    )
    for i in np.flatnonzero(missing).tolist():
        rows[i] = _EMPTY
    return rows


def _filled(column: pa.Array, value: Any) -> pa.Array:
    """``column`` with nulls replaced by ``value`` (as is without nulls: ``fill_null`` imports pandas)."""
    return column.fill_null(value) if column.null_count else column


def column_pieces(column: pa.Array | pa.ChunkedArray, value_type: int) -> list[bytes] | np.ndarray:
    """The RESP bulk strings (``$<len>\\r\\n<Value protobuf>\\r\\n``) of one feature column.

    A 2-D uint8 array (one row per value) when every value has the same size, else a list of
    bytes. Equal to serialising ``python_values_to_proto_values(column.to_numpy(), value_type)``
    as Feast's materialization does (missing, and NaN floats, as an empty value).
    """
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    missing = numpy_values(column.is_null()) if column.null_count else None
    if (value_type == _DOUBLE and pa.types.is_float64(kind)) or (
        value_type == _FLOAT and pa.types.is_float32(kind)
    ):
        values = numpy_values(_filled(column, 0))
        nan = np.isnan(values)
        missing = nan if missing is None else missing | nan
        raw = values.astype("<f8" if value_type == _DOUBLE else "<f4").view(np.uint8).reshape(len(values), -1)
        return _with_missing(_resp_fixed(0x29 if value_type == _DOUBLE else 0x35, raw), missing)
    if value_type == _BOOL and pa.types.is_boolean(kind):
        raw = numpy_values(_filled(column, False)).astype(np.uint8).reshape(-1, 1)
        return _with_missing(_resp_fixed(0x38, raw), missing)
    if value_type in (_INT64, _INT32) and (
        pa.types.is_integer(kind) or (pa.types.is_decimal(kind) and kind.scale == 0 and kind.precision <= 20)
    ):
        if pa.types.is_decimal(kind):
            column = column.cast(pa.int64())  # exact: a decimal column holds integers of this type
        values = numpy_values(_filled(column, 0)).astype(np.int64)
        if value_type == _INT32 and ((values < -(2**31)) | (values >= 2**31)).any():
            raise Unsupported("an INT32 column holds values out of range")  # Feast's error, not ours
        return _with_missing(_resp_varints(0x20 if value_type == _INT64 else 0x18, values), missing)
    if value_type == _UNIX_TIMESTAMP and pa.types.is_timestamp(kind):
        per_second = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
        ticks = numpy_values(_filled(column.view(pa.int64()), _NULL_TIME))
        seconds = np.where(ticks == _NULL_TIME, _NULL_TIME, ticks // per_second)
        return _resp_varints(0x40, seconds)
    if value_type in (_STRING, _BYTES) and (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
    ):
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            # utf-8 bytes, no decode and re-encode (a view, not a cast: no pyarrow.compute to import)
            values = column.view(
                pa.large_binary() if pa.types.is_large_string(kind) else pa.binary()
            ).to_pylist()
        else:
            values = column.to_pylist()
        return _resp_text(0x12 if value_type == _STRING else 0x0A, values)
    return _feast_pieces(column, value_type)


def _feast_pieces(column: pa.Array, value_type: int) -> list[bytes]:
    """Any other column through Feast's own converter (lists, maps, JSON, mismatched types)."""
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    protos = python_values_to_proto_values(column.to_numpy(zero_copy_only=False), ValueType(value_type))
    out = []
    for proto in protos:
        data = proto.SerializeToString()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return out


def timestamp_pieces(column: pa.Array | pa.ChunkedArray) -> list[bytes] | np.ndarray:
    """RESP bulk strings of the ``_ts`` values: a ``Timestamp`` protobuf of each event time,
    truncated to the microsecond as Feast's ``datetime`` conversion does."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.null_count:
        raise Unsupported("a row without an event time")
    per_us = {"s": None, "ms": None, "us": 1, "ns": 1000}[column.type.unit]
    ticks = numpy_values(column.view(pa.int64()))  # the same 64 bits, without pyarrow.compute
    micros = ticks * {"s": 1_000_000, "ms": 1000}[column.type.unit] if per_us is None else ticks // per_us
    seconds, rest = np.divmod(micros, 1_000_000)
    nanos = rest * 1000
    s_bytes, s_len = _varints(seconds)
    n_bytes, n_len = _varints(nanos)
    s_len = np.where(seconds != 0, s_len, 0)  # proto3: a zero field is not written
    n_len = np.where(nanos != 0, n_len, 0)
    size = np.where(s_len > 0, 1 + s_len, 0) + np.where(n_len > 0, 1 + n_len, 0)
    n = len(micros)
    body = np.zeros((n, 32), dtype=np.uint8)
    rows = np.arange(n)
    tens = size >= 10
    head = np.where(tens, 5, 4)
    body[:, 0] = ord("$")
    body[tens, 1] = ord("0") + size[tens] // 10
    body[tens, 2] = ord("0") + size[tens] % 10
    body[~tens, 1] = ord("0") + size[~tens]
    body[rows, head - 2] = 13
    body[rows, head - 1] = 10
    pos = head.copy()
    for tag, data, length in ((0x08, s_bytes, s_len), (0x10, n_bytes, n_len)):
        has = length > 0
        body[rows, pos] = np.where(has, tag, body[rows, pos])
        for k in range(10):  # bytes past the varint are overwritten next, or cut off
            body[rows, np.where(has, pos + 1 + k, 31)] = data[:, k]
        pos = pos + np.where(has, 1 + length, 0)
    body[rows, pos] = 13
    body[rows, pos + 1] = 10
    return _ragged(body, pos + 2)


def field_name(view: str, feature: str) -> bytes:
    """The hash field of a feature: ``mmh3("<view>:<feature>")``, 4 bytes little endian (Feast's ``_mmh3``)."""
    import mmh3

    return _pack_u32(mmh3.hash(f"{view}:{feature}", signed=False))


def key_pieces(table: pa.Table, view: ViewSpec, project: bytes) -> list[bytes] | np.ndarray:
    """RESP bulk strings of the Redis keys: Feast's serialised entity key (version 3) + project."""
    from modelyard.features.online.redis.codec import FIXED_WIDTH_KEYS, UnsupportedKey, key_encoder

    fields = sorted(view.keys)
    if not fields:
        raise Unsupported(f"{view.name!r} has no entities")
    prefix = _pack_u32(len(fields)) + b"".join(
        _pack_u32(_STRING) + _pack_u32(len(k.encode())) + k.encode() for k, _ in fields
    )
    n = table.num_rows
    if len(fields) == 1 and fields[0][1] in FIXED_WIDTH_KEYS and not table.column(fields[0][0]).null_count:
        name, value_type = fields[0]
        width = FIXED_WIDTH_KEYS[value_type]
        values = column_array(table, name).astype("<i8" if width == 8 else "<i4")
        key_size = len(prefix) + 8 + width + len(project)
        head = b"$%d\r\n" % key_size + prefix + _pack_u32(value_type) + _pack_u32(width)
        tail = project + b"\r\n"
        out = np.empty((n, len(head) + width + len(tail)), dtype=np.uint8)
        out[:, : len(head)] = np.frombuffer(head, np.uint8)
        out[:, len(head) : len(head) + width] = values.view(np.uint8).reshape(n, width)
        out[:, len(head) + width :] = np.frombuffer(tail, np.uint8)
        return out
    try:
        encoders = [key_encoder(name, value_type) for name, value_type in fields]
    except UnsupportedKey as why:
        raise Unsupported(str(why)) from None
    columns = [table.column(name).to_pylist() for name, _ in fields]
    keys = [
        prefix + b"".join(e(v) for e, v in zip(encoders, row, strict=True)) + project
        for row in zip(*columns, strict=True)
    ]
    return [b"$%d\r\n%s\r\n" % (len(k), k) for k in keys]


def commands(segments: Sequence[bytes | list[bytes] | np.ndarray], start: int, stop: int) -> bytes:
    """The RESP bytes of rows ``start:stop``: per row, ``segments`` in order (constants, or
    per-row pieces). Adjacent fixed-width pieces are laid out together by numpy; when every
    piece is fixed-width, the batch is one array's bytes."""
    n = stop - start
    blocks: list[Any] = []
    run: list[bytes | np.ndarray] = []

    def close_run() -> None:
        if not run:
            return
        if all(isinstance(p, bytes) for p in run):
            blocks.append([b"".join(run)] * n)  # type: ignore[arg-type]
        else:
            parts = [
                np.broadcast_to(np.frombuffer(p, np.uint8), (n, len(p))) if isinstance(p, bytes) else p
                for p in run
            ]
            blocks.append(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])
        run.clear()

    for segment in segments:
        if isinstance(segment, bytes):
            run.append(segment)
        elif isinstance(segment, np.ndarray):
            run.append(segment[start:stop])
        else:
            close_run()
            blocks.append(segment[start:stop])
    close_run()
    if len(blocks) == 1 and isinstance(blocks[0], np.ndarray):
        return blocks[0].tobytes()
    blocks = [_rows(b, np.full(n, b.shape[1])) if isinstance(b, np.ndarray) else b for b in blocks]
    pieces: list[Any] = [b""] * (n * len(blocks))
    for j, block in enumerate(blocks):
        pieces[j :: len(blocks)] = block
    return b"".join(pieces)


# -- the wire ----------------------------------------------------------------------------------


class _Pipe:
    """One socket: send a batch of commands, read its replies later (so encoding overlaps Redis)."""

    def __init__(self, endpoint: RedisEndpoint) -> None:
        import hiredis

        from modelyard.features.online.redis.wire import check_setup

        self._sock = socket.create_connection(
            (endpoint.host, endpoint.port), timeout=max(endpoint.timeout, 30.0)
        )
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = hiredis.Reader()
        setup = endpoint.setup_commands()
        if setup:
            self.send(b"".join(setup))
            check_setup(self.replies(len(setup)))

    def send(self, payload: bytes) -> None:
        self._sock.sendall(payload)

    def replies(self, n: int) -> list[Any]:
        import hiredis

        out: list[Any] = []
        gets = self._reader.gets
        reply = gets()
        while True:
            while reply is not False:
                if isinstance(reply, hiredis.ReplyError):
                    from modelyard.features.online.redis.wire import RedisWireError

                    raise RedisWireError(str(reply))
                out.append(reply)
                if len(out) == n:
                    return out
                reply = gets()
            data = self._sock.recv(1 << 20)
            if not data:
                raise ConnectionResetError("Redis closed the connection")
            self._reader.feed(data)
            reply = gets()

    def count_replies(self, n: int) -> None:
        """Read ``n`` one-line replies (``HSET``'s integers) without parsing them; raise on an error reply."""
        from modelyard.features.online.redis.wire import RedisWireError

        seen = 0
        last = b"\n"
        while seen < n:
            data = self._sock.recv(1 << 20)
            if not data:
                raise ConnectionResetError("Redis closed the connection")
            if (last == b"\n" and data[:1] == b"-") or b"\n-" in data:
                start = 0 if data[:1] == b"-" else data.index(b"\n-") + 1
                raise RedisWireError(data[start:].split(b"\r\n", 1)[0].decode(errors="replace"))
            seen += data.count(b"\n")
            last = data[-1:]

    def close(self) -> None:
        self._sock.close()


def _batches(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, BATCH):
        yield start, min(n, start + BATCH)


def _pipelined(
    pipe: _Pipe,
    build: Callable[[int, int], bytes],
    n: int,
    progress: Callable[[int], None] | None = None,
    *,
    parse: bool = True,
) -> list[Any]:
    """Send every batch ``build(start, stop)`` builds, each built while Redis applies the previous
    one; return the replies (``parse=False``: only count them, for ``HSET``)."""
    replies: list[Any] = []

    def collect(count: int) -> None:
        if parse:
            replies.extend(pipe.replies(count))
        else:
            pipe.count_replies(count)
        if progress is not None:
            progress(count)

    pending = 0
    for start, stop in _batches(n):
        payload = build(start, stop)
        if pending:
            collect(pending)
        pipe.send(payload)
        pending = stop - start
    if pending:
        collect(pending)
    return replies


def _stored_micros(replies: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The ``_ts`` each HGET reply holds, in microseconds, and whether there was one."""
    from google.protobuf.timestamp_pb2 import Timestamp

    n = len(replies)
    present = np.zeros(n, dtype=bool)
    micros = np.zeros(n, dtype=np.int64)
    parse = Timestamp.FromString
    for i, raw in enumerate(replies):
        if raw:
            ts = parse(raw)
            present[i] = True
            micros[i] = ts.seconds * 1_000_000 + ts.nanos // 1000
    return micros, present


# -- the writer --------------------------------------------------------------------------------


def redis_endpoint(store: FeatureStore) -> RedisEndpoint:
    """Where the fast path writes, or :class:`Unsupported` (cluster, sentinel, TLS, key ttl, versioning)."""
    config = store.config.online_store
    if getattr(config, "type", None) != "redis":
        raise Unsupported("not a Redis online store")
    return endpoint_of(
        str(getattr(config.redis_type, "value", config.redis_type)),
        config.connection_string,
        key_ttl_seconds=getattr(config, "key_ttl_seconds", None),
        versioning=bool(store.config.registry.enable_online_feature_view_versioning),
    )


def endpoint_of(
    redis_type: str, connection_string: str, *, key_ttl_seconds: int | None, versioning: bool
) -> RedisEndpoint:
    """The endpoint of a Redis online store's settings, or :class:`Unsupported` (see :func:`redis_endpoint`)."""
    from modelyard.features.online.redis.connection import UnsupportedConnection, parse_connection
    from modelyard.features.online.redis.wire import RedisEndpoint

    if redis_type != "redis":
        raise Unsupported(f"redis_type {redis_type}")
    if key_ttl_seconds:
        raise Unsupported("key_ttl_seconds is set")
    if versioning:
        raise Unsupported("online feature-view versioning is on")
    try:
        nodes, params, auth = parse_connection(connection_string)
    except UnsupportedConnection as why:
        raise Unsupported(str(why)) from None
    host, port = nodes[0]
    return RedisEndpoint(host, port, db=int(params.get("db", 0)), timeout=30.0, **auth)


def write_to_redis(
    project_name: str,
    endpoint: RedisEndpoint,
    view: ViewSpec,
    table: pa.Table,
    new: np.ndarray,
    progress: Callable[[int], None],
) -> np.ndarray:
    """Write the winners in ``table`` that replace what is stored (see the module docs); return which were."""
    n = table.num_rows
    project = project_name.encode()
    keys = key_pieces(table, view, project)
    ts_field = f"_ts:{view.name}".encode()
    ts_arg = b"$%d\r\n%s\r\n" % (len(ts_field), ts_field)
    winner_us = column_array(table, TS) // 1000
    pipe = _Pipe(endpoint)
    try:
        replies = _pipelined(pipe, lambda a, b: commands([b"*3\r\n$4\r\nHGET\r\n", keys, ts_arg], a, b), n)
        stored_us, present = _stored_micros(replies)
        chosen = replaces(stored_us, present, winner_us, new, 1)
        rows = np.flatnonzero(chosen)
        if len(rows) < n:
            table = table.take(rows)
            keys = keys[rows] if isinstance(keys, np.ndarray) else [keys[i] for i in rows.tolist()]
        pairs = [(ts_arg, timestamp_pieces(table.column(view.batch_source().timestamp_field)))]
        for feature, value_type in view.features:
            name = field_name(view.name, feature)
            value = column_pieces(table.column(feature), value_type)
            pairs.append((b"$%d\r\n%s\r\n" % (len(name), name), value))
        # a hash's field order is no part of it: fixed-width values first, laid out by numpy together
        pairs.sort(key=lambda pair: not isinstance(pair[1], np.ndarray))
        segments: list[Any] = [b"*%d\r\n$4\r\nHSET\r\n" % (2 + 2 * len(pairs)), keys]
        for name_arg, value in pairs:
            segments += [name_arg, value]
        progress(n - len(rows))
        _pipelined(pipe, lambda a, b: commands(segments, a, b), len(rows), progress, parse=False)
    finally:
        pipe.close()
    return chosen
