"""PredictionRecord: its flat row, the Arrow schema and expanding rows back into columns."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pyarrow as pa
from logging_helpers import make_records

from modelyard.predictions.records import ROW_COLUMNS, PredictionRecord, expand, rows_to_table


def test_row_has_fixed_columns_and_round_trips() -> None:
    record = make_records(2)[1]
    row = record.to_row()
    assert list(row) == list(ROW_COLUMNS)
    back = PredictionRecord.from_row(row)
    assert back.request_id == record.request_id
    assert back.timestamp == record.timestamp
    assert back.entities == {"driver_id": 1001}
    assert back.features == {"conv_rate": 0.1, "city": "Paris"}
    assert back.prediction == 1.0 and back.score == record.score and back.cache_hit is False


def test_string_labels_numpy_scalars_and_nan_are_stored_cleanly() -> None:
    record = PredictionRecord(
        request_id="r1",
        model="m",
        version=np.int64(2),
        prediction="accept",
        features={"a": np.float32(1.5), "b": float("nan"), "c": np.int64(7)},
        timestamp=datetime(2026, 1, 1),  # naive = UTC
    )
    row = record.to_row()
    assert row["prediction"] is None and row["prediction_label"] == "accept"
    assert row["features"] == '{"a":1.5,"b":null,"c":7}'
    assert row["timestamp"].tzinfo is not None
    assert PredictionRecord.from_row(row).prediction == "accept"
    numeric = PredictionRecord(request_id="r2", model="m", version=1, prediction=np.float64(3.25)).to_row()
    assert numeric["prediction"] == 3.25 and numeric["prediction_label"] is None


def test_rows_to_table_has_the_schema_and_expand_makes_columns() -> None:
    rows = [r.to_row() for r in make_records(4)]
    table = rows_to_table(rows)
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    frame = expand(table.to_pandas())
    assert list(frame["driver_id"]) == [1000, 1001, 1002, 1003]
    assert list(frame["conv_rate"]) == [0.0, 0.1, 0.2, 0.3]
    assert frame["city"].iloc[1] == "Paris" and frame["city"].iloc[0] is None
    assert "features" not in frame.columns


def test_expand_prefixes_names_that_collide_with_row_columns() -> None:
    record = PredictionRecord(request_id="r", model="m", version=1, prediction=1, features={"score": 9.0})
    frame = expand(rows_to_table([record.to_row()]).to_pandas())
    assert frame["feature.score"].iloc[0] == 9.0
    assert math.isnan(frame["score"].iloc[0])
