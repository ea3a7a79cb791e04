"""Which row of each entity a materialization writes: one DuckDB pass over the view's source.

The online store must hold, per entity, the row the point-in-time join picks at the
materialization's end ``E``: the latest event time ``<= E``, ties broken by the latest
created timestamp. A run reads each source row once and returns, for every entity it has
something new for, that row (the *winner*):

* ``window``: rows with an event time in ``[begin, E]`` (``begin`` is where the previous run
  ended, ``E - ttl`` the first time, ``--start`` when given, or the previous end minus the
  ``lookback`` for a view without a created-timestamp column, so rows appended late within
  the lookback are seen again);
* ``created`` pickup (views with a created-timestamp column, incremental runs): also every
  entity with a row created after the *watermark*, the latest created time the previous run
  saw, whatever its event time (a late row). For those entities the winner is chosen over all
  their rows up to ``E``, so a late row that is older than what is online loses, and one that
  ties on event time wins only by its created time.

The result also says, per winner, whether it is *new* since the previous run (created after
the watermark, or event after the previous end), which decides ties with what the online
store already holds (see :mod:`modelyard.features.materialize.plan`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.features.materialize.views import ViewSpec

Pull = Callable[["ViewSpec", list[str], int], "pa.Table"]
"""``pull(view, columns, end_ns)``: every row of a source that is not a Parquet file up to the end,
read by the offline store (Feast-named columns)."""

TS = "__modelyard_ts"
"""Output column: the event time as integer nanoseconds since the epoch (exact)."""
CREATED = "__modelyard_created"
"""Output column: the created time in nanoseconds (only for views with a created column)."""
WATERMARK = "__modelyard_watermark"


@dataclass(frozen=True)
class Selection:
    """The winners of one view's run: Feast-named columns plus :data:`TS` (and :data:`CREATED`)."""

    table: pa.Table
    watermark_ns: int | None
    """The latest created time among the rows this run considered (``None``: no created column or no rows)."""


def select_winners(
    view: ViewSpec,
    *,
    pull: Pull,
    threads: int | None = None,
    memory_limit: str | None = None,
    begin_ns: int,
    end_ns: int,
    created_after_ns: int | None,
    oldest_ns: int | None = None,
    watermark: bool = True,
) -> Selection:
    """The rows to write for ``view``: see the module docs. ``created_after_ns`` turns on the created
    pickup, which skips rows with an event time before ``oldest_ns`` (expired at the end).
    ``threads`` and ``memory_limit`` are the offline store's DuckDB settings."""
    import pyarrow as pa

    from modelyard.features.offline.duck import (
        FILE,
        FILE_ROW,
        TIE_BREAK,
        connect,
        fetch_arrow,
        parquet_relation,
        select_columns,
    )
    from modelyard.features.offline.duck import epoch_ns as _epoch_ns
    from modelyard.features.offline.duck import exact_integers as _exact_integers
    from modelyard.features.offline.duck import quote as _quote

    source = view.batch_source()
    keys = [name for name, _ in view.keys]
    features = [name for name, _ in view.features]
    ts_field = source.timestamp_field
    created = source.created_column
    columns = list(dict.fromkeys([*keys, *features, ts_field] + ([created] if created else [])))
    registered = None
    if source.parquet_path is not None:
        relation = parquet_relation(source.parquet_path, source.name, positions=True)
    else:
        relation, registered = "source_rows", pull(view, columns, end_ns)
    # an offline store's own read already names the columns as Feast does
    named = (
        ", ".join(map(_quote, columns))
        if registered is not None
        else select_columns(source.field_mapping, columns)
    )
    # where each row is in the source, for ties (another offline store's read has no such order)
    named += f", NULL AS {FILE}, NULL AS {FILE_ROW}" if registered is not None else f", {FILE}, {FILE_ROW}"
    times = f", {_epoch_ns(ts_field)} AS {TS}" + (f", {_epoch_ns(created)} AS {CREATED}" if created else "")
    rows_only = f"SELECT {named} FROM {relation}"
    rows = f"SELECT *{times} FROM ({rows_only})"
    # the point-in-time join's order: latest event, latest created, last in the source
    order = f"{TS} DESC" + (f", {CREATED} DESC" if created else "") + f", {TIE_BREAK}"
    positions = f"EXCLUDE ({FILE}, {FILE_ROW})"
    partition = ", ".join(_quote(k) for k in keys) or "1"
    want_mark = watermark and created is not None
    pickup = created is not None and created_after_ns is not None
    params: list[Any]
    oldest = -(2**63) if oldest_ns is None else oldest_ns
    if pickup:
        using = ", ".join(_quote(k) for k in keys)
        sql = (
            f"WITH src AS MATERIALIZED (SELECT * FROM ({rows}) WHERE {TS} >= ? AND {TS} <= ?), "
            f"picked AS (SELECT DISTINCT {using} FROM src WHERE {TS} >= ? OR ({CREATED} > ? AND {TS} >= ?)) "
            f"SELECT src.* {positions}{f', (SELECT max({CREATED}) FROM src) AS {WATERMARK}' if want_mark else ''} "
            f"FROM src SEMI JOIN picked USING ({using}) "
            f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {order}) = 1"
        )
        params = [min(begin_ns, oldest), end_ns, begin_ns, created_after_ns, oldest]
    else:
        mark = (
            f", (SELECT max({_epoch_ns(created)}) FROM ({rows_only}) WHERE {_epoch_ns(ts_field)} BETWEEN ? AND ?) "
            f"AS {WATERMARK}"
            if want_mark and created is not None
            else ""
        )
        sql = (
            f"SELECT * {positions}{mark} FROM ({rows}) WHERE {TS} >= ? AND {TS} <= ? "
            f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {order}) = 1"
        )
        params = [begin_ns, end_ns, begin_ns, end_ns] if want_mark else [begin_ns, end_ns]
    con = connect(threads, memory_limit)
    try:
        if registered is not None:
            con.register("source_rows", registered)
        table = fetch_arrow(con, sql, params)
    finally:
        con.close()
    mark_ns: int | None = None
    if want_mark:
        column = table.column(WATERMARK)
        mark_ns = column[0].as_py() if len(column) else None
        table = table.drop_columns([WATERMARK])
    if table.num_columns and table.num_rows:
        table = pa.Table.from_batches(table.combine_chunks().to_batches())
    return Selection(_exact_integers(table), mark_ns if mark_ns is None else int(mark_ns))


def column_array(table: pa.Table, name: str) -> Any:
    """Column ``name`` of ``table`` as a numpy array (see :func:`numpy_values`)."""
    return numpy_values(table.column(name))


def numpy_values(array: pa.Array | pa.ChunkedArray) -> Any:
    """An Arrow array as numpy. Numbers and booleans without nulls are read from the data buffer:
    pyarrow's ``to_numpy`` imports pandas (most of a second of a cold run) to convert them."""
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if array.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        code = "f" if pa.types.is_floating(kind) else ("i" if pa.types.is_signed_integer(kind) else "u")
        dtype = np.dtype(f"<{code}{kind.bit_width // 8}")
        data = array.buffers()[1]
        if data is None:
            return np.zeros(0, dtype=dtype)
        return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)
    if array.null_count == 0 and pa.types.is_boolean(kind):
        data = array.buffers()[1]
        if data is None:
            return np.zeros(0, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[array.offset : array.offset + len(array)].astype(bool)
    return array.to_numpy(zero_copy_only=False)
