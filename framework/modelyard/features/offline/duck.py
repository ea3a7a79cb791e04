"""DuckDB over Parquet sources without Feast: the SQL pieces the ASOF store and materialization share.

:mod:`modelyard.features.offline.asof` (Feast's offline store interface) and
:mod:`modelyard.features.materialize.select` (which also runs from Feast's registry file
alone, without importing Feast) read sources through these, so both order rows and break
ties the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import FeatureError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pyarrow as pa

FILE = "__modelyard_file"
"""Column of :func:`parquet_relation` with ``positions=True``: the Parquet file a row comes from."""
FILE_ROW = "file_row_number"
"""Column of :func:`parquet_relation` with ``positions=True``: the row's number in its file
(DuckDB's name for it, so a source must not have a column of that name)."""
TIE_BREAK = f"{FILE} DESC, {FILE_ROW} DESC"
"""The last ``ORDER BY`` terms choosing among rows of one entity that tie on event time and
created time: the row last in the source wins (docs/features.md, "What is guaranteed").
Materialization orders by it; the point-in-time join (:mod:`modelyard.features.offline.pit`)
reads files in the same name order and keeps the last row, so they pick the same row."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC (``threads`` / ``memory_limit``: the offline store's settings)."""
    try:
        import duckdb
    except ImportError:  # a serving-only install: it reads the online store, never this one
        raise FeatureError(
            "reading Feast's offline store (training frames, batch scoring) needs DuckDB, which this "
            "install leaves out: pip install 'modelyard[offline]'"
        ) from None
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {literal(str(memory_limit))}")
    return con


def parquet_relation(path: str, source_name: str, *, positions: bool = False) -> str:
    """SQL reading the Parquet file, directory or glob ``path`` of source ``source_name``.

    With ``positions``, each row also carries where it is in the source (:data:`FILE`,
    :data:`FILE_ROW`), for :data:`TIE_BREAK`.
    """
    if "://" not in path and Path(path).is_dir():
        path = str(Path(path) / "**" / "*.parquet")
    elif "://" not in path and not Path(path).exists():
        raise FeatureError(
            f"data source {source_name!r}: file {path} does not exist "
            "(for the example repo, run `python -m modelyard.examples.rideshare --repo REPO`)"
        )
    if not positions:
        return f"read_parquet({literal(path)})"
    if not any(c in path for c in "*?["):  # one file: its name orders nothing, and costs a string a row
        return f"(SELECT *, '' AS {FILE} FROM read_parquet({literal(path)}, file_row_number = true))"
    return f"read_parquet({literal(path)}, filename = {literal(FILE)}, file_row_number = true)"


def select_columns(field_mapping: Iterable[tuple[str, str]], names: list[str]) -> str:
    """``"source column" AS "name"`` for each Feast column name (``field_mapping``: source -> Feast pairs)."""
    to_source = {feast_name: source_name for source_name, feast_name in reversed(list(field_mapping))}
    return ", ".join(f"{quote(to_source.get(n, n))} AS {quote(n)}" for n in names)


def epoch_ns(column: str) -> str:
    """SQL of a source time column as exact integer nanoseconds since the epoch (no rounding)."""
    return f"epoch_ns(CAST({quote(column)} AS TIMESTAMP_NS))"


def fetch_arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pa.Table:
    """The result of ``sql`` as one Arrow table (the method's name changed across DuckDB versions)."""
    relation = con.sql(sql, params=params or None)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


def exact_integers(table: pa.Table) -> pa.Table:
    """Integer columns with nulls as decimals, for Feast's materialization.

    Feast turns each column into protobuf values through ``to_numpy``, which makes an integer
    column with nulls float64: an Int64 feature above 2**53 would reach the online store
    rounded (or fail past 2**63 - 2**10). Arrow decimals come out as exact Python numbers,
    which Feast converts to ``int64_val``/``int32_val`` unchanged.
    """
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_integer(field.type) and table.column(i).null_count:
            table = table.set_column(i, field.name, table.column(i).cast(pa.decimal128(20, 0)))
    return table
