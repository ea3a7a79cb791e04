"""The log's columnar batches keep every field: a batch built column by column
(``records_to_table``) equals the rows ``to_row`` gives, and what the parquet and postgres sinks
store reads back equal to those rows, field by field, for awkward values too."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from logging_helpers import T0, MemorySink, make_records

from modelyard.plugins.testing import make_host
from modelyard.predictions.answered import records_to_table
from modelyard.predictions.log import PredictionLogger
from modelyard.predictions.records import (
    ROW_COLUMNS,
    PredictionRecord,
    rows_to_table,
)


def _awkward() -> list[PredictionRecord]:
    """Every column's uncommon values: numpy scalars, NaN, booleans, labels, text a store cannot hold."""
    records = make_records(24)
    records[0].prediction = "accept"
    records[1].prediction = np.float32(0.5)
    records[2].prediction = True
    records[3].prediction = float("nan")
    records[4].prediction = None
    records[4].entities = {7: "a key that is not text"}  # type: ignore[dict-item]
    records[5].prediction = 2**60 + 1  # not exactly a double
    records[6].score = float("nan")
    records[7].score = np.float64(0.3)
    records[8].score = None
    records[9].request_id = "nul\x00inside"
    records[10].variant = "é-variant"
    records[11].error = "lone \ud800 surrogate"
    records[12].version = np.int64(4)
    records[13].timestamp = datetime(2026, 3, 1, 23, 59, 59)  # naive = UTC
    records[14].timestamp = datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=5)))  # 1 March UTC
    records[15].timestamp = T0 + timedelta(days=1)  # another UTC day
    records[16].entities = {"driver_id": 10**40}  # beyond orjson's integers
    records[17].features = {"a": np.float32(1.5), "b": float("nan"), "c": np.int64(7), "d": None}
    records[18].cache_hit = np.bool_(True)  # type: ignore[assignment]
    records[19].latency_ms = np.float32(2.5)  # type: ignore[assignment]
    records[20].model = "fare_estimate"
    records[21].mode = "shadow"
    records[22].prediction = np.int64(1)
    records[23].features = {"city": "Zürich", "note": "x\x00y"}
    return records


def test_a_columnar_batch_equals_the_rows_of_its_records() -> None:
    records = _awkward()
    built = records_to_table(records)
    expected = rows_to_table([r.to_row() for r in records])
    assert built.schema.equals(expected.schema)
    assert built.equals(expected)
    plain = make_records(50)  # the common case: every column takes the fast path
    assert records_to_table(plain).equals(rows_to_table([r.to_row() for r in plain]))


def test_a_record_that_cannot_be_a_row_fails_the_batch_conversion_as_to_row_does() -> None:
    records = make_records(3)
    records[1].version = "two"  # type: ignore[assignment]
    with pytest.raises(ValueError):
        records[1].to_row()
    with pytest.raises(ValueError):
        records_to_table(records)


def _same(stored: Any, expected: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(stored, float) and math.isnan(stored)
    if expected is None:
        return stored is None or (isinstance(stored, float) and math.isnan(stored))
    if isinstance(expected, datetime):
        return pd.Timestamp(stored).to_pydatetime() == expected
    return bool(stored == expected)


def _check_stored(frame: pd.DataFrame, records: list[PredictionRecord]) -> None:
    expected = {r.request_id: r.to_row() for r in records}
    by_id = {row["request_id"]: row for row in frame.to_dict("records")}
    assert set(by_id) == {row["request_id"] for row in expected.values()}
    for row in expected.values():
        stored = by_id[row["request_id"]]
        for column in ROW_COLUMNS:
            assert _same(stored[column], row[column]), (column, stored[column], row[column])


def _log(sink: Any, records: list[PredictionRecord], tmp_path: Path) -> dict[str, Any]:
    with PredictionLogger(sink, flush_interval=0.01, max_buffer=7, spool_dir=tmp_path / "spool") as logger:
        for r in records:
            logger.log(r)
    return logger.stats


def test_parquet_stores_every_field(tmp_path: Path) -> None:
    records = _awkward()
    stats = _log(
        make_host().spec("log_sink", "parquet").build({"path": str(tmp_path / "logs")}), records, tmp_path
    )
    assert stats["written"] == len(records) and stats["dead_lettered"] == 0
    sink = make_host().spec("log_sink", "parquet").build({"path": str(tmp_path / "logs")})
    frame = pd.concat([sink.read_frame("trip_acceptance"), sink.read_frame("fare_estimate")])
    _check_stored(frame, records)
    days = sorted(p.name for p in (tmp_path / "logs" / "trip_acceptance").iterdir())
    assert days == ["date=2026-03-01", "date=2026-03-02"]  # grouped by UTC date


@pytest.mark.postgres
def test_postgres_stores_every_field(postgres_url: str, tmp_path: Path) -> None:
    records = _awkward()
    build = make_host().spec("log_sink", "postgres").build
    stats = _log(build({"url": postgres_url, "table": "plog"}), records, tmp_path)
    assert stats["written"] == len(records) and stats["dead_lettered"] == 0
    sink = build({"url": postgres_url, "table": "plog"})
    frame = pd.concat([sink.read_frame("trip_acceptance"), sink.read_frame("fare_estimate")])
    sink.close()
    _check_stored(frame, records)


def test_a_sink_with_only_write_gets_the_rows_to_row_gives(tmp_path: Path) -> None:
    """Third-party sinks written against ``write(rows)`` keep working: the default ``write_table``
    hands them the same rows as before."""
    records = _awkward()
    sink = MemorySink()
    _log(sink, records, tmp_path)
    got = {row["request_id"]: row for row in sink.rows}
    for r in records:
        row = r.to_row()
        assert list(got[row["request_id"]]) == list(ROW_COLUMNS)
        for column in ROW_COLUMNS:
            assert _same(got[row["request_id"]][column], row[column]), column
