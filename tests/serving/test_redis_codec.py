"""The Redis codecs of the fast online path: column decoders, key packers and command builders.

Every bulk (whole-column) decoder must answer exactly what the per-value decoder answers,
and both what Feast's own protobuf conversion answers, whichever path a column takes:
edge values, missing values, malformed values and columns mixing them.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import hiredis
import pytest
from feast.protos.feast.types.Value_pb2 import DoubleList, Value
from feast.type_map import feast_value_type_to_python_type
from google.protobuf.message import DecodeError
from services import need_compiled_rows

from modelyard.errors import BadRequest
from modelyard.features.online.redis import codec
from modelyard.features.online.redis.codec import (
    BOOL,
    BYTES,
    DOUBLE,
    DOUBLE_LIST,
    FLOAT,
    INT32,
    INT64,
    NULL_TIMESTAMP,
    STRING,
    UNIX_TIMESTAMP,
    HmgetBatch,
    HmgetTemplate,
    RowsDecoder,
    column_decoder,
    decode_varint_columns,
    key_encoder,
    key_value_array,
    pack_key_values,
    value_decoder,
)

NAN, INF = float("nan"), float("inf")
FIELD = {
    DOUBLE: "double_val",
    FLOAT: "float_val",
    INT64: "int64_val",
    INT32: "int32_val",
    BOOL: "bool_val",
    STRING: "string_val",
    BYTES: "bytes_val",
    UNIX_TIMESTAMP: "unix_timestamp_val",
}
EDGES: dict[int, list[Any]] = {
    DOUBLE: [0.0, -0.0, NAN, INF, -INF, 1.5, -2.25, 1e308, 5e-324, 0.1],
    FLOAT: [0.0, -0.0, NAN, INF, -INF, 0.1, 3.4e38, 1e-45, -7.5],
    INT64: [0, 1, -1, 127, 128, 300, 2**40, -(2**40), 2**63 - 1, -(2**63)],
    INT32: [0, 1, -1, 127, 128, -1000, 2**31 - 1, -(2**31)],
    BOOL: [True, False],
    STRING: ["", "a", "gold", "ünïcode", "日本語", "\x00nul", "x" * 126, "y" * 200],
    BYTES: [b"", b"\x00", b"\xff\x00\x80", b"z" * 300],
    UNIX_TIMESTAMP: [0, 1, 127, 1_700_000_000, -1, -86_400 * 365, 253_402_300_799, NULL_TIMESTAMP],
}


def serialised(value_type: int, value: Any) -> bytes:
    return Value(**{FIELD[value_type]: value}).SerializeToString()


def feast(raw: bytes | None) -> Any:
    """What Feast itself answers for one stored value."""
    proto = Value()
    if raw:
        proto.ParseFromString(raw)
    return feast_value_type_to_python_type(proto)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b and a.tzinfo is b.tzinfo
    return type(a) is type(b) and a == b


def outcome(fn: Callable[[], Any]) -> Any:
    """The result, or the exception's type (malformed values raise the same in both paths)."""
    try:
        return fn()
    except (DecodeError, ValueError, OverflowError, OSError) as exc:
        return type(exc)


def check_column(value_type: int, col: Sequence[bytes | None]) -> None:
    """The column decoder, the per-value decoder and Feast agree on every value of ``col``."""
    one = value_decoder(value_type)
    got = outcome(lambda: column_decoder(value_type)(col))
    want = outcome(lambda: [one(raw) for raw in col])
    if isinstance(want, type):
        assert got is want, (got, want)
        return
    assert same(got, want), (got, want)
    assert same(want, [feast(raw) for raw in col])


def column_of(value_type: int, n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [serialised(value_type, rng.choice(EDGES[value_type])) for _ in range(n)]


@pytest.mark.parametrize("value_type", sorted(EDGES))
@pytest.mark.parametrize("n", [1, 3, 8, 40, 200])
def test_edge_values_whole_column(value_type: int, n: int) -> None:
    check_column(value_type, column_of(value_type, n, seed=n))
    every = [serialised(value_type, v) for v in EDGES[value_type]] * (1 + n // len(EDGES[value_type]))
    check_column(value_type, every[:n] if n > 1 else every)


@pytest.mark.parametrize("value_type", sorted(EDGES))
@pytest.mark.parametrize("n", [2, 10, 40])
def test_missing_values_are_none_in_every_position(value_type: int, n: int) -> None:
    col: list[bytes | None] = list(column_of(value_type, n, seed=1))
    col[0], col[n // 2], col[-1] = None, b"", None
    check_column(value_type, col)
    assert column_decoder(value_type)(col)[0] is None
    assert column_decoder(value_type)([None] * n) == [None] * n


def test_small_varints_take_the_no_parse_path() -> None:
    col = [serialised(INT64, v) for v in range(128)]
    assert {len(raw) for raw in col} == {2}
    assert column_decoder(INT64)(col) == list(range(128))
    check_column(INT32, [serialised(INT32, v) for v in range(0, 128, 3)])
    check_column(UNIX_TIMESTAMP, [serialised(UNIX_TIMESTAMP, v) for v in range(0, 128, 3)])


def test_float32_values_are_python_floats_of_the_float32() -> None:
    col = [serialised(FLOAT, 0.1)] * 20
    got = column_decoder(FLOAT)(col)
    assert got == [struct.unpack("<f", struct.pack("<f", 0.1))[0]] * 20
    assert all(type(v) is float for v in got)


def test_timestamps_are_utc_datetimes_and_null_is_none() -> None:
    col = [serialised(UNIX_TIMESTAMP, s) for s in (1_700_000_000, NULL_TIMESTAMP)] * 10
    got = column_decoder(UNIX_TIMESTAMP)(col)
    assert got[0] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert got[0].tzinfo is timezone.utc
    assert got[1] is None
    check_column(UNIX_TIMESTAMP, col)


# -- malformed and unexpected values, alone and mixed into well-formed columns ---------------

MALFORMED: dict[int, list[bytes]] = {
    DOUBLE: [b"\x29\x00\x00", b"\x29" + bytes(8) + b"\x00", b"\x29" + bytes(7)],
    FLOAT: [b"\x35\x00", b"\x35" + bytes(5)],
    INT64: [b"\x20", b"\x20\x80", b"\x20" + b"\xff" * 10 + b"\x01", b"\x20\x05\x20", b"\x20\x85"],
    INT32: [b"\x18\x80\x80", b"\x18"],
    BOOL: [b"\x38", b"\x38\x80"],
    STRING: [
        b"\x12\x05ab",
        b"\x12\x02\xff\xfe",
        b"\x12",
        b"\x12\x85" + b"a" * 133,
        b"\x12\x81\x80\x80\x80\x80\x00a",  # a length in 6 bytes: protobuf refuses it
    ],
    BYTES: [b"\x0a\x05ab", b"\x0a"],
    UNIX_TIMESTAMP: [b"\x40\x80", b"\x40"],
}
# valid protobuf, but not the shape the column's type is written in: decoded as Feast would
UNEXPECTED: dict[int, list[bytes]] = {
    DOUBLE: [serialised(INT64, 7), serialised(FLOAT, 1.5), serialised(STRING, "x")],
    FLOAT: [serialised(DOUBLE, 2.5)],
    INT64: [b"\x20\x81\x00", serialised(INT32, -5), serialised(DOUBLE, 1.0), b"\x20\x05\x18\x07"],
    INT32: [b"\x18\x80\x80\x80\x80\x10", serialised(INT64, 2**40)],
    BOOL: [b"\x38\x02", b"\x38\x81\x00", serialised(INT64, 1)],
    STRING: [serialised(BYTES, b"raw"), b"\x12\x81\x00"],
    BYTES: [serialised(STRING, "text")],
    UNIX_TIMESTAMP: [serialised(INT64, 5), b"\x40\x81\x00"],
}


@pytest.mark.parametrize("value_type", sorted(MALFORMED))
@pytest.mark.parametrize("n", [30, 150])  # checked value by value, or with numpy
def test_malformed_values_alone_and_mixed(value_type: int, n: int) -> None:
    good = column_of(value_type, n, seed=3)
    for bad in MALFORMED[value_type]:
        check_column(value_type, [bad])
        for at in (0, n // 2, n - 1):
            mixed = list(good)
            mixed[at] = bad
            check_column(value_type, mixed)


@pytest.mark.parametrize("value_type", sorted(UNEXPECTED))
def test_unexpected_shapes_are_decoded_as_feast_does(value_type: int) -> None:
    good = column_of(value_type, 30, seed=4)
    for odd in UNEXPECTED[value_type]:
        check_column(value_type, [odd] * 20)
        mixed = list(good)
        mixed[7] = odd
        check_column(value_type, mixed)


@pytest.mark.parametrize("pairs", [10, 100])
def test_misaligned_values_never_pass_as_well_formed(pairs: int) -> None:
    # each pair joins to well-formed bytes, but the values themselves are not
    check_column(INT64, [b"\x20\x85", b"\x20\x20\x05"] * pairs)
    check_column(INT64, [b"\x20", b"\x20\x20\x05"] * pairs)
    check_column(DOUBLE, [b"\x29" + bytes(7), b"\x29\x29" + bytes(8)] * pairs)
    check_column(BOOL, [b"\x38", b"\x38\x01\x00"] * pairs)


# -- lists -------------------------------------------------------------------------------------


def double_list(values: list[float]) -> bytes:
    return Value(double_list_val=DoubleList(val=values)).SerializeToString()


@pytest.mark.parametrize("n", [1, 5, 12, 40])
def test_double_lists_of_one_length_and_of_many(n: int) -> None:
    rng = random.Random(n)
    fixed = [double_list([rng.random(), NAN, -0.0]) for _ in range(n)]
    check_column(DOUBLE_LIST, fixed)
    varied = [double_list([rng.random()] * rng.randint(0, 20)) for _ in range(n)]
    check_column(DOUBLE_LIST, varied)
    long = [double_list([float(i)] * 40) for i in range(n)]  # 2-byte lengths
    check_column(DOUBLE_LIST, long)
    gappy: list[bytes | None] = list(fixed)
    gappy[0] = None
    check_column(DOUBLE_LIST, gappy)
    check_column(DOUBLE_LIST, [double_list([])] * n)


def test_double_list_with_a_malformed_value() -> None:
    col = [double_list([1.0, 2.0])] * 20
    col[4] = col[4][:-1]  # cut off
    check_column(DOUBLE_LIST, col)
    col[4] = b"\x7a\x12\x0a\x10" + bytes(15) + b"\x00\x00"  # a different size, same header
    check_column(DOUBLE_LIST, col)
    col[4] = serialised(STRING, "x" * 18)  # the same size, another header
    check_column(DOUBLE_LIST, col)
    good = double_list([1.0, 2.0])
    short, long = good[:-1], b"\x00" + good  # sizes that add up, headers at the same strides
    check_column(DOUBLE_LIST, [good, short, long] * 4)


# -- a view's rows: the varint columns decoded together ----------------------------------------


@pytest.mark.parametrize("n", [25, 100])
def test_varint_columns_together_equal_one_by_one(n: int) -> None:
    types = [INT64, INT32, UNIX_TIMESTAMP, INT64]
    columns = [column_of(t, n, seed=i) for i, t in enumerate(types)]
    together = decode_varint_columns(columns, types)
    assert together is not None
    for t, col, got in zip(types, columns, together, strict=True):
        assert same(got, [value_decoder(t)(raw) for raw in col])
    columns[2][3] = b"\x40\x80"  # malformed: the group refuses, the caller goes value by value
    assert decode_varint_columns(columns, types) is None
    # the counts per field add up, but two values sit in each other's column
    swapped = [column_of(INT64, n, seed=5), column_of(INT32, n, seed=6)]
    swapped[0][0], swapped[1][0] = serialised(INT32, -3), serialised(INT64, 2**40)
    assert decode_varint_columns(swapped, [INT64, INT32]) is None
    rows = [list(row) for row in zip(*swapped, strict=True)]
    got = RowsDecoder([INT64, INT32])(rows)
    assert got == [
        [value_decoder(INT64)(r) for r in swapped[0]],
        [value_decoder(INT32)(r) for r in swapped[1]],
    ]
    assert got[0][0] == -3 and got[1][0] == 2**40


@pytest.mark.parametrize("n", [1, 2, 5, 30])
def test_rows_decoder_equals_value_by_value(n: int) -> None:
    types = [FLOAT, DOUBLE, INT64, INT32, BOOL, STRING, UNIX_TIMESTAMP, DOUBLE_LIST, 0]
    rng = random.Random(n)
    rows: list[list[bytes | None]] = []
    for i in range(n):
        row: list[bytes | None] = [
            serialised(t, rng.choice(EDGES[t])) if t in EDGES else None for t in types[:-2]
        ]
        row += [double_list([rng.random(), 1.0]), None]
        if i % 4 == 3:
            row = [None] * len(types)  # an entity that is not in the store
        rows.append(row)
    if n > 2:
        rows[1][3] = MALFORMED[INT32][0]
        rows[2][2] = UNEXPECTED[INT64][1]
    decode = RowsDecoder(types)
    got = outcome(lambda: decode(rows))
    want = outcome(lambda: [[value_decoder(t)(row[j]) for row in rows] for j, t in enumerate(types)])
    if isinstance(want, type):
        assert got is want
    else:
        assert same(got, want)


# -- the compiled row decoder -------------------------------------------------------------------


@pytest.mark.parametrize("value_type", sorted(codec.COMPILED_TYPES))
@pytest.mark.parametrize("n", [1, 3, 40])
def test_compiled_rows_decode_well_formed_columns_as_feast_does(value_type: int, n: int) -> None:
    compiled = need_compiled_rows()
    every = [serialised(value_type, v) for v in EDGES[value_type]] * (1 + n // len(EDGES[value_type]))
    col: list[bytes | None] = every[:n] if n > 1 else every[:1]
    if n > 2:
        col[1], col[-1] = None, b""  # missing values
    rows = [[raw, serialised(DOUBLE, 0.5)] for raw in col]
    got = compiled(rows, [value_type, DOUBLE])
    assert got[0] is not None, "the compiled decoder handed a well-formed column back to Python"
    assert same(got[0], [feast(raw) for raw in col])
    assert same(got[1], [0.5] * len(col))
    assert got[0][0] is None or type(got[0][0]) is type(feast(col[0]))


@pytest.mark.parametrize("value_type", sorted(EDGES))
@pytest.mark.parametrize("n", [1, 5, 40])
def test_compiled_rows_equal_the_python_decoders_on_any_value(value_type: int, n: int) -> None:
    need_compiled_rows()
    good = column_of(value_type, n, seed=11)
    columns: list[list[bytes | None]] = [list(good)]
    for odd in MALFORMED[value_type] + UNEXPECTED[value_type]:  # one odd value in a good column
        mixed: list[bytes | None] = list(good)
        mixed[n // 2] = odd
        columns.append(mixed)
    if value_type == UNIX_TIMESTAMP:  # beyond datetime's range: both raise the same
        columns.append([serialised(UNIX_TIMESTAMP, 253_402_300_800)] * n)
        columns.append([serialised(UNIX_TIMESTAMP, -62_135_596_801)] * n)
    decode = RowsDecoder([value_type, STRING, DOUBLE_LIST])
    for col in columns:
        rows = [[raw, serialised(STRING, "s"), double_list([1.0])] for raw in col]
        got = outcome(lambda rows=rows: decode(rows))
        want = outcome(lambda rows=rows: decode.python(rows))
        if isinstance(want, type):
            assert got is want, (col, got, want)
        else:
            assert same(got, want), (col, got, want)


def test_compiled_rows_refuse_rows_of_the_wrong_shape() -> None:
    compiled = need_compiled_rows()
    assert compiled([[serialised(DOUBLE, 1.0)], (serialised(DOUBLE, 2.0),)], [DOUBLE]) == [None]
    assert compiled([[serialised(DOUBLE, 1.0), None]], [DOUBLE]) == [None]  # a row of another length
    assert compiled([[bytearray(serialised(DOUBLE, 1.0))]], [DOUBLE]) == [None]
    assert compiled([], [DOUBLE, INT64]) == [[], []]
    with pytest.raises(TypeError):
        compiled(None, [DOUBLE])

    class Sneaky:  # a type whose conversion empties the rows: read before the rows are
        def __init__(self, rows: list[Any]) -> None:
            self.rows = rows

        def __index__(self) -> int:
            self.rows.clear()
            return DOUBLE

    rows = [[serialised(DOUBLE, 1.0)] for _ in range(50)]
    assert compiled(rows, [Sneaky(rows)]) == [[]]


# -- join keys and commands --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "takes integers"),
        (1.5, "takes integers"),
        ("7", "takes integers"),
        (None, "takes integers"),
        (2**63, "does not fit in 64 bits"),
        (-(2**63) - 1, "does not fit in 64 bits"),
    ],
)
@pytest.mark.parametrize("n", [1, 5, 80])
def test_int64_keys_refused_with_the_encoders_message(value: Any, message: str, n: int) -> None:
    values = [1001 + i for i in range(n)]
    values[n // 2] = value
    with pytest.raises(BadRequest, match=message):
        key_encoder("driver_id", INT64)(value)
    with pytest.raises(BadRequest, match=message):
        pack_key_values("driver_id", INT64, values)
    with pytest.raises(BadRequest, match=message):
        key_value_array("driver_id", INT64, values)


def test_int32_keys_range_and_packing() -> None:
    for bad in (2**31, -(2**31) - 1):
        with pytest.raises(BadRequest, match="does not fit in 32 bits"):
            pack_key_values("k", INT32, [1, bad, 2])
        with pytest.raises(BadRequest, match="does not fit in 32 bits"):
            key_value_array("k", INT32, [1, bad] * 40)
    values = [0, -1, 2**31 - 1, -(2**31)]
    assert pack_key_values("k", INT32, values) == [struct.pack("<i", v) for v in values]
    assert key_value_array("k", INT32, values).tobytes() == struct.pack("<4i", *values)


class Flag(int):
    """An int subclass: accepted by the per-value encoder, so by the column packers too."""


def test_int_subclasses_are_accepted_like_the_encoder_does() -> None:
    assert pack_key_values("k", INT64, [Flag(3), 4]) == [struct.pack("<q", 3), struct.pack("<q", 4)]
    assert key_value_array("k", INT64, [Flag(3)] * 70).tobytes() == struct.pack("<q", 3) * 70


def hmget(key: bytes, fields: Sequence[bytes]) -> bytes:
    return hiredis.pack_command(("HMGET", key, *fields))


@pytest.mark.parametrize("n", [1, 2, 7, codec.NUMPY_ROWS - 1, codec.NUMPY_ROWS, 150])
def test_batch_commands_equal_commands_built_key_by_key(n: int) -> None:
    """Two views (one INT64 key; INT32 + INT64 keys sharing one), the payload byte for byte."""
    project = b"proj"
    views = [
        (("driver_id",), (INT64,), (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08")),
        (("customer_id", "driver_id"), (INT32, INT64), (b"\x09\x0a\x0b\x0c",)),
    ]
    rng = random.Random(n)
    entities = {
        "driver_id": [rng.randint(-(2**63), 2**63 - 1) for _ in range(n)],
        "customer_id": [rng.randint(-(2**31), 2**31 - 1) for _ in range(n)],
    }
    templates, want = [], []
    for keys, types, fields in views:
        prefix = struct.pack("<I", len(keys)) + b"".join(
            struct.pack("<II", STRING, len(k)) + k.encode() for k in keys
        )
        heads = [struct.pack("<II", t, codec.FIXED_WIDTH_KEYS[t]) for t in types]
        key_size = (
            len(prefix)
            + sum(len(h) + codec.FIXED_WIDTH_KEYS[t] for h, t in zip(heads, types, strict=True))
            + 4
        )
        resp_fields = b"".join(b"$%d\r\n%s\r\n" % (len(f), f) for f in fields)
        segments = [b"*%d\r\n$5\r\nHMGET\r\n$%d\r\n" % (len(fields) + 2, key_size) + prefix + heads[0]]
        segments += [*heads[1:], project + b"\r\n" + resp_fields]
        templates.append(HmgetTemplate(segments, keys, types))
        encoders = [key_encoder(k, t) for k, t in zip(keys, types, strict=True)]
        want += [
            hmget(
                prefix + b"".join(e(entities[k][i]) for e, k in zip(encoders, keys, strict=True)) + project,
                fields,
            )
            for i in range(n)
        ]
    batch = HmgetBatch(templates)
    assert batch.build(entities, n) == b"".join(want)
    assert batch.build(entities, n) == b"".join(want)  # from the cached layout / buffer
    entities["customer_id"][n - 1] = 2**31
    with pytest.raises(BadRequest, match="does not fit in 32 bits"):
        batch.build(entities, n)
