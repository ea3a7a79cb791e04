"""The bytes of Feast's Redis online store, decoded and encoded a whole column at a time.

Feast stores every feature value as a serialised ``feast.types.Value`` protobuf: one tag
byte naming the field (``0x29`` double, ``0x35`` float, ``0x20`` int64, ``0x18`` int32,
``0x38`` bool, ``0x12`` string, ``0x0a`` bytes, ``0x40`` unix timestamp), then the value.

Decoding. :func:`value_decoder` turns one value into what ``get_online_features(...)
.to_dict()`` gives: the type's usual shape by hand, anything else by the general tag
dispatch, and list, map and other complex values by protobuf + Feast's own converter.
:func:`column_decoder` does a whole column (one feature, every entity) and, when every
present value is well formed, does it in a few C calls instead of a Python call per value:

* DOUBLE / FLOAT / BOOL values have a fixed size: the column is joined, checked (sizes,
  the tag at every stride) and unpacked by one ``struct`` call.
* INT64 / INT32 / UNIX_TIMESTAMP values are varints: ``tag + varint`` values joined end to
  end are a valid serialisation of a message with a *repeated* field of that number, so
  protobuf's own C parser decodes the column in one call, with its exact 64/32-bit
  semantics (:func:`decode_varint_columns`, after checking that each value holds exactly
  one varint). A view's varint columns share one parse (:class:`RowsDecoder`).
* DOUBLE_LIST values of one length (fixed-size scores, embeddings) are unpacked by numpy.
* STRING values go through one comprehension with the per-value check inlined (checking
  the column first costs more than it saves).

A column holding anything else (an unexpected tag, a malformed or long value) goes back to
the per-value decoder, so results never depend on the path taken; missing values (``None``
or empty bytes) are ``None`` either way. Small columns, where a C call's fixed cost is more
than the per-value work it saves, are decoded value by value.

Encoding. :func:`key_encoder` serialises one join-key value as Feast does and refuses
values of the wrong type with :class:`BadRequest`. For views whose join keys are all INT64 /
INT32, every ``HMGET`` command has the same bytes but the key values (:class:`HmgetTemplate`),
so :class:`HmgetBatch` builds the commands of n entities from the template repeated, with
the packed key columns put in place (list slices, or numpy for many entities).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import numpy as np
from google.protobuf.message import DecodeError

from modelyard.errors import BadRequest

# feast.value_type.ValueType numbers (stable: they are the protobuf enum values)
BYTES, STRING, INT32, INT64, DOUBLE, FLOAT, BOOL, UNIX_TIMESTAMP = 1, 2, 3, 4, 5, 6, 7, 8
DOUBLE_LIST = 15
SCALAR_TYPES = frozenset({BYTES, STRING, INT32, INT64, DOUBLE, FLOAT, BOOL, UNIX_TIMESTAMP})
#: join-key types whose serialised values all have the same width (bytes)
FIXED_WIDTH_KEYS = {INT64: 8, INT32: 4}
NULL_TIMESTAMP = -9223372036854775808  # numpy NaT as int, Feast's "no timestamp"

ValueDecoder = Callable[[bytes | None], Any]
ColumnDecoder = Callable[[Sequence[bytes | None]], list[Any]]
_Bulk = Callable[[Sequence[bytes]], list[Any] | None]

_MASK64 = (1 << 64) - 1
_UTC = timezone.utc
_from_timestamp = datetime.fromtimestamp
_pack_u32 = struct.Struct("<I").pack
_pack_i32 = struct.Struct("<i").pack
_pack_i64 = struct.Struct("<q").pack
_unpack_d = struct.Struct("<d").unpack_from
_unpack_f = struct.Struct("<f").unpack_from
_first = itemgetter(0)
_last = itemgetter(-1)
_HIGH_BYTES = bytes(range(0x80, 0x100))
_JUST_INT = {int}


# -- one value -------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A protobuf varint at ``pos``: (value, end). ValueError past 10 bytes, IndexError if cut off."""
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def _int64(value: int) -> int:
    """A varint as protobuf reads an int64: the low 64 bits, two's complement."""
    value &= _MASK64
    return value - (1 << 64) if value >= (1 << 63) else value


def _int32(value: int) -> int:
    """A varint as protobuf reads an int32: the low 32 bits, two's complement."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def _proto_decoder(value_type: int) -> ValueDecoder:
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


def _scalar_decoder(value_type: int) -> ValueDecoder:
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
                    return _int64(value)
            elif tag == 0x18:  # int32_val
                value, end = _varint(raw, 1)
                if end == size:
                    return _int32(value)
            elif tag == 0x38 and size == 2 and raw[1] < 0x80:  # bool_val
                return raw[1] != 0
            elif tag == 0x12 or tag == 0x0A:  # string_val / bytes_val
                length, start = _varint(raw, 1)
                if start + length == size and start <= 6:  # protobuf reads lengths of up to 5 bytes
                    data = raw[start:]
                    return data.decode("utf-8") if tag == 0x12 else data
            elif tag == 0x40:  # unix_timestamp_val
                value, end = _varint(raw, 1)
                if end == size:
                    value = _int64(value)
                    return None if value == NULL_TIMESTAMP else _from_timestamp(value, _UTC)
        except (IndexError, ValueError):  # cut off, too long, not UTF-8: protobuf decides
            pass
        return slow(raw)

    return decode


def _double_list_decoder(slow: ValueDecoder) -> ValueDecoder:
    """``double_list_val`` (field 15, a DoubleList of packed doubles) by hand."""

    def decode(raw: bytes | None) -> Any:
        if not raw:
            return None
        layout = _double_list_layout(raw)
        if layout is None:
            return slow(raw)
        return list(layout.unpack(raw, layout.start))

    return decode


class _ListLayout(NamedTuple):
    size: int  # bytes of the whole value
    start: int  # offset of the first double
    doubles: int  # number of doubles (not "count": that is tuple.count)
    unpack: Callable[[bytes, int], tuple[float, ...]]


_short_list_layouts: dict[bytes, _ListLayout] = {}


def _double_list_layout(raw: bytes) -> _ListLayout | None:
    """The layout of a well-formed ``double_list_val``, else ``None``.

    Lists of up to 15 doubles have a 4-byte header (tag, length, tag, length) that fixes the
    whole layout, so theirs is looked up by header instead of parsed again.
    """
    layout = _short_list_layouts.get(raw[:4])
    if layout is not None:
        return layout if len(raw) == layout.size else None
    shape = _double_list_shape(raw)
    if shape is None:
        return None
    start, count = shape
    layout = _ListLayout(len(raw), start, count, struct.Struct(f"<{count}d").unpack_from)
    if start == 4:
        if len(_short_list_layouts) >= 256:
            _short_list_layouts.clear()
        _short_list_layouts[raw[:4]] = layout
    return layout


def _double_list_shape(raw: bytes) -> tuple[int, int] | None:
    """(offset of the first double, number of doubles) of a well-formed ``double_list_val``."""
    try:
        if raw[0] == 0x7A:
            outer, pos = _varint(raw, 1)
            if pos + outer == len(raw):
                if outer == 0:
                    return pos, 0
                if raw[pos] == 0x0A:
                    inner, start = _varint(raw, pos + 1)
                    if start + inner == len(raw) and inner % 8 == 0:
                        return start, inner // 8
    except (IndexError, ValueError):
        pass
    return None


_Shortcut = Callable[[ValueDecoder], ValueDecoder]  # the common shape first, else the given decoder


def _fixed_size_value(tag: int, size: int, unpack: Callable[[bytes, int], tuple[Any, ...]]) -> _Shortcut:
    def fast(one: ValueDecoder) -> ValueDecoder:
        def decode(raw: bytes | None) -> Any:
            if raw and len(raw) == size and raw[0] == tag:
                return unpack(raw, 1)[0]
            return one(raw)

        return decode

    return fast


def _varint_value(tag: int, timestamp: bool) -> _Shortcut:
    """Tag + one varint of up to 10 bytes, by a tight loop."""

    def fast(one: ValueDecoder) -> ValueDecoder:
        def decode(raw: bytes | None) -> Any:
            if raw and raw[0] == tag and raw[-1] < 0x80:
                size = len(raw)
                if size == 2:
                    return _from_timestamp(raw[1], _UTC) if timestamp else raw[1]
                if 2 < size <= 11:
                    value = shift = 0
                    for b in raw[1:-1]:
                        if b < 0x80:  # a varint ends before the value does
                            return one(raw)
                        value |= (b & 0x7F) << shift
                        shift += 7
                    value |= raw[-1] << shift
                    if not timestamp:
                        return _int64(value) if tag == 0x20 else _int32(value)
                    value = _int64(value)
                    return None if value == NULL_TIMESTAMP else _from_timestamp(value, _UTC)
            return one(raw)

        return decode

    return fast


def _bool_value(one: ValueDecoder) -> ValueDecoder:
    def decode(raw: bytes | None) -> Any:
        if raw and len(raw) == 2 and raw[0] == 0x38 and raw[1] < 0x80:
            return raw[1] != 0
        return one(raw)

    return decode


def _text_value(one: ValueDecoder) -> ValueDecoder:
    """A string under 128 bytes: tag, one length byte, UTF-8."""

    def decode(raw: bytes | None) -> Any:
        if raw and len(raw) > 1 and raw[0] == 0x12 and raw[1] == len(raw) - 2 and raw[1] < 0x80:
            try:
                return raw[2:].decode()
            except UnicodeDecodeError:
                pass
        return one(raw)

    return decode


# each scalar type's expected shape, checked before the general tag dispatch of _scalar_decoder
_FAST_VALUE: dict[int, _Shortcut] = {
    DOUBLE: _fixed_size_value(0x29, 9, _unpack_d),
    FLOAT: _fixed_size_value(0x35, 5, _unpack_f),
    INT64: _varint_value(0x20, timestamp=False),
    INT32: _varint_value(0x18, timestamp=False),
    UNIX_TIMESTAMP: _varint_value(0x40, timestamp=True),
    BOOL: _bool_value,
    STRING: _text_value,
}


def value_decoder(value_type: int) -> ValueDecoder:
    """Bytes of a serialised ``feast.types.Value`` -> the Python value Feast's ``to_dict`` gives."""
    if value_type in SCALAR_TYPES:
        one = _scalar_decoder(value_type)
        fast = _FAST_VALUE.get(value_type)
        return one if fast is None else fast(one)
    if value_type == DOUBLE_LIST:
        return _double_list_decoder(_proto_decoder(value_type))
    return _proto_decoder(value_type)


# -- a whole column --------------------------------------------------------------------------


def _fixed_size_bulk(tag: int, size: int, code: str) -> _Bulk:
    """Values of ``size`` bytes (tag + payload), unpacked by one struct call per column."""
    tag_byte = bytes((tag,))
    structs: dict[int, Callable[[bytes], tuple[Any, ...]]] = {}

    def bulk(col: Sequence[bytes]) -> list[Any] | None:
        n = len(col)
        joined = b"".join(col)
        if len(joined) != size * n or max(map(len, col)) != size or joined[::size] != tag_byte * n:
            return None
        unpack = structs.get(n)
        if unpack is None:
            if len(structs) >= 64:  # request sizes vary little; keep the cache small anyway
                structs.clear()
            unpack = structs[n] = struct.Struct("<" + ("x" + code) * n).unpack
        return list(unpack(joined))

    return bulk


def _bool_bulk(col: Sequence[bytes]) -> list[Any] | None:
    """``bool_val`` values (``0x38`` then 0 or 1)."""
    n = len(col)
    joined = b"".join(col)
    if len(joined) != 2 * n or max(map(len, col)) != 2 or joined[::2] != b"\x38" * n:
        return None
    bits = joined[1::2]
    if bits.translate(None, b"\x00\x01"):  # anything but 0 and 1: the per-value path decides
        return None
    return list(map(bool, bits))


@functools.cache
def _varint_columns() -> Any:
    """A message with a *repeated* field per varint field of ``feast.types.Value``, same numbers.

    A column of serialised ``Value``s that each hold that one field, joined end to end, is a
    valid serialisation of this message (a repeated field may come one tagged element at a
    time), so protobuf's C parser decodes the whole column in one call.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    spec = descriptor_pb2.FileDescriptorProto(
        name="modelyard/varint_columns.proto", package="modelyard.codec", syntax="proto3"
    )
    message = spec.message_type.add(name="VarintColumns")
    for number, name, kind in (
        (3, "int32_val", field.TYPE_INT32),
        (4, "int64_val", field.TYPE_INT64),
        (8, "unix_timestamp_val", field.TYPE_INT64),
    ):
        message.field.add(name=name, number=number, type=kind, label=field.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(spec)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("modelyard.codec.VarintColumns"))


_VARINT_TAGS = {INT32: b"\x18", INT64: b"\x20", UNIX_TIMESTAMP: b"\x40"}
_VARINT_FIELDS = {
    INT32: attrgetter("int32_val"),
    INT64: attrgetter("int64_val"),
    UNIX_TIMESTAMP: attrgetter("unix_timestamp_val"),
}


def _datetimes(seconds: Sequence[int]) -> list[Any]:
    """Unix seconds -> UTC datetimes as Feast gives them (its null timestamp -> ``None``)."""
    if NULL_TIMESTAMP in seconds:
        return [None if s == NULL_TIMESTAMP else _from_timestamp(s, _UTC) for s in seconds]
    return list(map(_from_timestamp, seconds, repeat(_UTC)))


def decode_varint_columns(columns: Sequence[Sequence[bytes]], types: Sequence[int]) -> list[list[Any]] | None:
    """Columns of INT64 / INT32 / UNIX_TIMESTAMP values (none missing), decoded together.

    ``None`` unless every value is exactly its column's tag + one varint: then the per-value
    decoder must decide. All the columns go through one protobuf parse (see
    :func:`_varint_columns`), which is why a view's varint columns are decoded together.
    """
    n = len(columns[0])
    flat = list(chain.from_iterable(columns)) if len(columns) > 1 else columns[0]
    count = len(flat)
    tags = b"".join([_VARINT_TAGS[t] * n for t in types])
    joined = b"".join(flat)
    if len(joined) == 2 * count and max(map(len, flat)) == 2:  # all small (0..127): no parse at all
        if joined[::2] != tags or not (small := joined[1::2]).isascii():
            return None
        ints = [list(small[i : i + n]) for i in range(0, count, n)]
        return [_datetimes(v) if t == UNIX_TIMESTAMP else v for v, t in zip(ints, types, strict=True)]
    if not _one_varint_each(flat, joined, tags):
        return None
    try:
        message = _varint_columns().FromString(joined)
    except DecodeError:  # longer than 10 bytes: the per-value path decides
        return None
    out = []
    taken = dict.fromkeys(types, 0)  # per field: the values that went to earlier columns
    for t in types:
        start = taken[t]
        column = _VARINT_FIELDS[t](message)[start : start + n]
        if len(column) != n:
            return None
        taken[t] = start + n
        out.append(_datetimes(column) if t == UNIX_TIMESTAMP else column)
    return out


#: from this many values on, :func:`_one_varint_each` checks with numpy (fewer passes per value)
_NUMPY_CHECK_VALUES = 128


def _one_varint_each(values: Sequence[bytes], joined: bytes, tags: bytes) -> bool:
    """Whether each of ``values`` (``joined``: end to end) is exactly its tag + one varint.

    It is when it starts with its tag (``tags``, one per value), ends with a byte < 0x80 (a
    varint's last), is at least 2 bytes long, and the values hold no other byte < 0x80: the
    tag and the last byte are the only such bytes of a tag + varint.
    """
    count = len(values)
    if len(joined.translate(None, _HIGH_BYTES)) != 2 * count:
        return False
    if count < _NUMPY_CHECK_VALUES:
        return (
            bytes(map(_first, values)) == tags
            and bytes(map(_last, values)).isascii()
            and min(map(len, values)) >= 2
        )
    sizes = np.fromiter(map(len, values), np.intp, count)
    ends = sizes.cumsum()
    data = np.frombuffer(joined, np.uint8)
    return bool(
        sizes.min() >= 2
        and (data[ends - sizes] == np.frombuffer(tags, np.uint8)).all()
        and (data[ends - 1] < 0x80).all()
    )


def _varint_bulk(value_type: int) -> _Bulk:
    def bulk(col: Sequence[bytes]) -> list[Any] | None:
        decoded = decode_varint_columns((col,), (value_type,))
        return None if decoded is None else decoded[0]

    return bulk


def _text_column(one: ValueDecoder) -> ColumnDecoder:
    """``string_val`` values under 128 bytes (tag, one length byte, UTF-8) in one comprehension.

    Checking a whole column at once first costs more than this per-value check.
    """

    def decode(col: Sequence[bytes | None]) -> list[Any]:
        try:
            return [
                raw[2:].decode()
                if raw and len(raw) > 1 and raw[0] == 0x12 and raw[1] == len(raw) - 2 and raw[1] < 0x80
                else one(raw)
                for raw in col
            ]
        except UnicodeDecodeError:  # not UTF-8: the per-value decoder decides
            return list(map(one, col))

    return decode


_double_list_dtypes: dict[tuple[int, int], np.dtype[Any]] = {}


def _double_list_bulk(col: Sequence[bytes]) -> list[Any] | None:
    """``double_list_val`` values all of one length and header (fixed-size lists), via numpy."""
    first = col[0]
    layout = _double_list_layout(first)
    if layout is None or layout.doubles == 0:
        return None
    start, count = layout.start, layout.doubles
    n, size = len(col), layout.size
    joined = b"".join(col)
    if len(joined) != size * n or max(map(len, col)) != size:
        return None
    for i in range(start):  # the same header (tags, lengths) in every value
        if joined[i::size] != first[i : i + 1] * n:
            return None
    dtype = _double_list_dtypes.get((start, count))
    if dtype is None:
        if len(_double_list_dtypes) >= 64:
            _double_list_dtypes.clear()
        dtype = _double_list_dtypes[start, count] = np.dtype(
            [("head", f"V{start}"), ("val", "<f8", (count,))]
        )
    return np.frombuffer(joined, dtype)["val"].tolist()


# (bulk decoder, fewest present values worth it: below, calling per value is cheaper)
_BULK: dict[int, tuple[_Bulk, int]] = {
    DOUBLE: (_fixed_size_bulk(0x29, 9, "d"), 6),
    FLOAT: (_fixed_size_bulk(0x35, 5, "f"), 6),
    BOOL: (_bool_bulk, 16),
    INT64: (_varint_bulk(INT64), 6),
    INT32: (_varint_bulk(INT32), 6),
    UNIX_TIMESTAMP: (_varint_bulk(UNIX_TIMESTAMP), 8),
    DOUBLE_LIST: (_double_list_bulk, 8),
}


#: a column with missing values is decoded in bulk from this many rows (it costs two more passes)
_GAPPY_ROWS = 16


def column_decoder(value_type: int) -> ColumnDecoder:
    """A whole column of serialised values -> Python values (in C for well-formed common types)."""
    one = value_decoder(value_type)
    if value_type == STRING:
        return _text_column(one)

    def per_value(col: Sequence[bytes | None]) -> list[Any]:
        return [one(raw) if raw else None for raw in col]  # missing: None, without a call

    if value_type not in _BULK:
        return per_value
    bulk, min_rows = _BULK[value_type]

    def decode(col: Sequence[bytes | None]) -> list[Any]:
        if len(col) >= min_rows:
            if all(col):
                out = bulk(col)  # type: ignore[arg-type]
                if out is not None:
                    return out
            elif len(col) >= _GAPPY_ROWS:  # some values missing: decode the others, put the gaps back
                present = list(filter(None, col))
                if len(present) >= min_rows:
                    out = bulk(present)
                    if out is not None:
                        values = iter(out)
                        return [next(values) if raw else None for raw in col]
        return per_value(col)

    return decode


class RowsDecoder:
    """One view's ``HMGET`` replies (a row of raw values per entity) -> its feature columns.

    When the compiled decoder (``modelyard.features.online.redis._redis_rows``, built at install where a C
    compiler is present) is there, it takes every column of the common scalar types in one
    pass and hands back the columns holding anything else, which the Python path below
    decodes. Without it: one entity value by value; more, column by column
    (:func:`column_decoder`), except that the view's varint columns without missing values
    are decoded together. Both give the same answers (tested against each other and Feast).
    """

    def __init__(self, value_types: Sequence[int]) -> None:
        self.value_types = tuple(value_types)
        self.values = tuple(value_decoder(t) for t in self.value_types)
        self.columns = tuple(column_decoder(t) for t in self.value_types)
        self.varints = tuple(j for j, t in enumerate(self.value_types) if t in _VARINT_TAGS)
        self.varint_types = tuple(self.value_types[j] for j in self.varints)
        self.compiled = any(t in COMPILED_TYPES for t in self.value_types)

    def __call__(
        self, rows: Sequence[Sequence[bytes | None]], fresh_from: int | None = None
    ) -> list[list[Any]]:
        """The feature columns of ``rows``. With ``fresh_from`` (Unix seconds), each row ends with
        its ``_ts:<view>`` value and a row whose event time is earlier is stale: all missing."""
        if self.compiled and compiled_rows is not None:
            out: list[Any] | None = (
                compiled_rows(rows, self.value_types)
                if fresh_from is None
                else compiled_rows(rows, self.value_types, fresh_from)
            )
            if out is not None:
                if None in out:
                    live = None if fresh_from is None else live_rows(rows, fresh_from)
                    for j, column in enumerate(out):
                        if column is None:  # a type or a value the compiled decoder leaves to Python
                            values = [row[j] for row in rows]
                            if live is not None:
                                values = [v if ok else None for v, ok in zip(values, live, strict=True)]
                            out[j] = self.columns[j](values)
                return out
        return self.python(rows, fresh_from)

    def python(
        self, rows: Sequence[Sequence[bytes | None]], fresh_from: int | None = None
    ) -> list[list[Any]]:
        """The rows decoded by the Python decoders alone (``fresh_from`` as for calling the decoder)."""
        if fresh_from is not None:
            k = len(self.value_types)
            blank = [None] * k
            rows = [
                row[:k] if ok else blank for row, ok in zip(rows, live_rows(rows, fresh_from), strict=True)
            ]
        if len(rows) == 1:
            return [[decode(raw)] for decode, raw in zip(self.values, rows[0], strict=True)]
        columns = list(zip(*rows, strict=True))
        out: list[list[Any] | None] = [None] * len(columns)
        if len(self.varints) > 1 and len(rows) >= 4:
            full = [j for j in self.varints if all(columns[j])]
            if len(full) > 1:
                types = (
                    self.varint_types
                    if len(full) == len(self.varints)
                    else [self.value_types[j] for j in full]
                )
                decoded = decode_varint_columns([columns[j] for j in full], types)
                if decoded is not None:
                    for j, values in zip(full, decoded, strict=True):
                        out[j] = values
        for j, decode in enumerate(self.columns):
            if out[j] is None:
                out[j] = decode(columns[j])
        return out  # type: ignore[return-value]


def event_seconds(raw: bytes | None) -> int | None:
    """The whole seconds of a ``_ts:<view>`` value (a serialised protobuf Timestamp); None if absent."""
    if not raw:
        return None
    from google.protobuf.timestamp_pb2 import Timestamp

    return int(Timestamp.FromString(raw).seconds)


def live_rows(rows: Sequence[Sequence[bytes | None]], fresh_from: int) -> list[bool]:
    """Whether each row (ending with its ``_ts:<view>`` value) is fresh: event second >= ``fresh_from``."""
    out = []
    for row in rows:
        seconds = event_seconds(row[-1])
        out.append(seconds is not None and seconds >= fresh_from)
    return out


#: the value types the compiled decoder handles (see _redis_rows.c)
COMPILED_TYPES = frozenset({STRING, INT32, INT64, DOUBLE, FLOAT, BOOL, UNIX_TIMESTAMP})


def _compiled_rows() -> Callable[..., list[list[Any] | None] | None] | None:
    try:
        from modelyard.features.online.redis._redis_rows import decode_rows
    except ImportError:  # installed without a C compiler: the Python decoders do everything
        return None
    return decode_rows


compiled_rows = _compiled_rows()


# -- join keys -------------------------------------------------------------------------------


def int_key_packer(key: str, value_type: int) -> Callable[[Any], bytes]:
    """One INT64 / INT32 join-key value -> its little-endian bytes, refusing non-integers."""
    bits, pack = (64, _pack_i64) if value_type == INT64 else (32, _pack_i32)

    def pack_int(v: Any) -> bytes:
        if type(v) is not int and (isinstance(v, bool) or not isinstance(v, int)):
            raise BadRequest(f"entity key {key!r} takes integers, got {v!r} ({type(v).__name__})")
        try:
            return pack(v)
        except struct.error:
            raise BadRequest(f"entity key {key!r}: {v} does not fit in {bits} bits") from None

    return pack_int


def key_encoder(key: str, value_type: int) -> Callable[[Any], bytes]:
    """Python value of one join key -> its type tag, length and bytes, as Feast serialises it.

    Raises :class:`UnsupportedKey` for types the fast path does not encode.
    """
    if value_type in FIXED_WIDTH_KEYS:
        head = _pack_u32(value_type) + _pack_u32(FIXED_WIDTH_KEYS[value_type])
        pack = int_key_packer(key, value_type)

        def enc_int(v: Any) -> bytes:
            return head + pack(v)

        return enc_int
    if value_type == STRING:
        tag = _pack_u32(STRING)

        def enc_str(v: Any) -> bytes:
            if not isinstance(v, str):
                raise BadRequest(f"entity key {key!r} takes strings, got {v!r} ({type(v).__name__})")
            data = v.encode("utf-8")
            return tag + _pack_u32(len(data)) + data

        return enc_str
    if value_type == BYTES:
        tag = _pack_u32(BYTES)

        def enc_bytes(v: Any) -> bytes:
            if isinstance(v, str):
                v = v.encode("utf-8")
            if not isinstance(v, bytes):
                raise BadRequest(f"entity key {key!r} takes bytes, got {type(v).__name__}")
            return tag + _pack_u32(len(v)) + v

        return enc_bytes
    raise UnsupportedKey(f"join key {key!r} has value type {value_type}, which the fast path does not encode")


class UnsupportedKey(Exception):
    """A join-key type the fast path does not encode (internal: the reader falls back to Feast)."""


_key_packs = {INT64: struct.Struct("<q").pack, INT32: struct.Struct("<i").pack}


def pack_key_values(key: str, value_type: int, values: Sequence[Any]) -> list[bytes]:
    """Each value of a fixed-width (INT64 / INT32) join key as its little-endian bytes.

    Refuses what :func:`key_encoder` refuses, with the same messages.
    """
    if len(values) == 1:  # the usual case, one entity
        if type(values[0]) is int:
            try:
                return [_key_packs[value_type](values[0])]
            except struct.error:
                pass
    elif set(map(type, values)) == _JUST_INT:  # the usual case, many entities: C loops only
        try:
            return list(map(_key_packs[value_type], values))
        except struct.error:
            pass  # out of range: the per-value packer names the value
    return list(map(int_key_packer(key, value_type), values))


def key_value_array(key: str, value_type: int, values: Sequence[Any]) -> np.ndarray[Any, Any]:
    """:func:`pack_key_values` as a ``(len(values), width)`` uint8 array, for many entities."""
    n, width = len(values), FIXED_WIDTH_KEYS[value_type]
    packed = None
    if set(map(type, values)) == _JUST_INT:
        try:  # noqa: SIM105 - the online read's hot path: no contextlib.suppress call
            packed = struct.pack(f"<{n}{'q' if value_type == INT64 else 'i'}", *values)
        except struct.error:
            pass  # out of range: the per-value packer names the value
    if packed is None:
        packed = b"".join(map(int_key_packer(key, value_type), values))
    return np.frombuffer(packed, np.uint8).reshape(n, width)


#: from this many entities on, commands are built by numpy (below, list operations are faster)
NUMPY_ROWS = 64


class HmgetTemplate:
    """The ``HMGET`` command of one view whose join keys are all fixed-width integers.

    The command is ``segments[0] + <key 0> + segments[1] + <key 1> + ... + segments[-1]``
    where ``<key i>`` is the packed value (:func:`pack_key_values`) of join key ``keys[i]``:
    every command of the view has the same bytes but those.
    """

    def __init__(self, segments: Sequence[bytes], keys: Sequence[str], key_types: Sequence[int]) -> None:
        if not len(segments) == len(keys) + 1 == len(key_types) + 1:
            raise ValueError("a template needs one more segment than it has join keys")
        self.segments = tuple(segments)
        self.keys = tuple(keys)
        self.key_types = tuple(key_types)
        self.pieces: list[bytes] = [self.segments[0]]  # the command as pieces, b"" for each key
        self.piece_slots: list[tuple[int, str]] = []  # (index in pieces, join key)
        row = bytearray(self.segments[0])
        self.byte_slots: list[tuple[int, int, str]] = []  # (start, end, join key) in the command
        for key, value_type, segment in zip(self.keys, self.key_types, self.segments[1:], strict=True):
            self.piece_slots.append((len(self.pieces), key))
            self.pieces += (b"", segment)
            width = FIXED_WIDTH_KEYS[value_type]
            self.byte_slots.append((len(row), len(row) + width, key))
            row += bytes(width) + segment
        self.row = np.frombuffer(bytes(row), np.uint8)


class HmgetBatch:
    """The ``HMGET`` commands of n entities for views with :class:`HmgetTemplate` s, view by view.

    The commands are the templates repeated n times with the key values put in place, not
    built one by one: below :data:`NUMPY_ROWS` entities by copying a list of pieces (kept per
    n) and assigning each join key's packed values to a slice of it; from there with numpy,
    the templates broadcast into one buffer and the key columns written into theirs.
    """

    def __init__(self, templates: Sequence[HmgetTemplate]) -> None:
        self.templates = tuple(templates)
        types: dict[str, int] = {}
        for template in self.templates:
            types.update(zip(template.keys, template.key_types, strict=True))
        self.key_types = tuple(types.items())  # each join key once, however many views use it
        self._layouts: dict[int, tuple[list[bytes], list[tuple[slice, str]]]] = {}
        self._buffers: dict[int, tuple[bytes, list[tuple[int, int, int, int, str]]]] = {}

    def build(self, entities: Mapping[str, Sequence[Any]], n: int) -> bytes:
        """The RESP bytes of the commands (refusing join-key values of the wrong type)."""
        if n >= NUMPY_ROWS:
            return self._build_numpy(entities, n)
        layout = self._layouts.get(n)
        if layout is None:
            layout = self._layouts[n] = self._layout(n)
        pieces, slots = layout
        values = {key: pack_key_values(key, value_type, entities[key]) for key, value_type in self.key_types}
        pieces = pieces.copy()
        for where, key in slots:
            pieces[where] = values[key]
        return b"".join(pieces)

    def _layout(self, n: int) -> tuple[list[bytes], list[tuple[slice, str]]]:
        """The pieces of n commands (``b""`` for key values) and where each key's values go."""
        pieces: list[bytes] = []
        slots: list[tuple[slice, str]] = []
        for template in self.templates:
            base, size = len(pieces), len(template.pieces)
            pieces += template.pieces * n
            slots += ((slice(base + i, base + size * n, size), key) for i, key in template.piece_slots)
        return pieces, slots

    def _build_numpy(self, entities: Mapping[str, Sequence[Any]], n: int) -> bytes:
        arrays = {key: key_value_array(key, value_type, entities[key]) for key, value_type in self.key_types}
        blank = self._buffers.get(n)
        if blank is None:
            if len(self._buffers) >= 8:  # a few batch sizes recur; keep the memory bounded
                self._buffers.clear()
            blank = self._buffers[n] = self._blank(n)
        commands, slots = blank
        buffer = bytearray(commands)
        view = np.frombuffer(buffer, np.uint8)
        for offset, size, start, end, key in slots:
            view[offset : offset + n * size].reshape(n, size)[:, start:end] = arrays[key]
        return bytes(buffer)

    def _blank(self, n: int) -> tuple[bytes, list[tuple[int, int, int, int, str]]]:
        """The n commands with zero key bytes, and where each key column goes: (offset of the
        view's commands, command size, start and end in a command, join key)."""
        sizes = [len(t.row) for t in self.templates]
        buffer = np.empty(n * sum(sizes), np.uint8)
        slots: list[tuple[int, int, int, int, str]] = []
        offset = 0
        for template, size in zip(self.templates, sizes, strict=True):
            buffer[offset : offset + n * size].reshape(n, size)[:] = template.row
            slots += ((offset, size, start, end, key) for start, end, key in template.byte_slots)
            offset += n * size
        return buffer.tobytes(), slots
