"""What the server hands the log per request (answers and references to its columns, no record
per row) becomes exactly the rows of the records it stands for, through the logger and its
sinks, with the queue bounds, drop counts, hooks and dead letters of records."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from logging_helpers import MemorySink

from modelyard.plugins import hookimpl
from modelyard.plugins.testing import make_host
from modelyard.predictions.answered import AnsweredRows, answered_to_table, now_us
from modelyard.predictions.log import PredictionLogger
from modelyard.predictions.records import rows_to_table
from modelyard.serving.pipeline import RowAnswer
from modelyard_plugins.log_sinks.parquet import ParquetSink, ParquetSinkConfig

KEYS = ["driver_id"]
NAMES = ["conv_rate", "city"]


def _request(
    n: int, start: int = 0, *, model: str = "trip_acceptance"
) -> tuple[dict[str, list[Any]], list[RowAnswer]]:
    columns: dict[str, list[Any]] = {
        "driver_id": [1000 + start + i for i in range(n)],
        "conv_rate": [(start + i) / 10 for i in range(n)],
        "city": ["Paris" if i % 2 else None for i in range(n)],
    }
    answers = [
        RowAnswer(
            row=i,
            request_id=f"req-{start + i}",
            model=model,
            version=3,
            variant="default",
            prediction=(start + i) % 2,
            score=0.25,
            cached=i % 3 == 0,
        )
        for i in range(n)
    ]
    return columns, answers


def _batch(columns: dict[str, list[Any]], answers: list[RowAnswer], **kw: Any) -> AnsweredRows:
    fields: dict[str, Any] = {
        "model": "trip_acceptance",
        "mode": "live",
        "latency_ms": 1.5,
        "time_us": now_us(),
    }
    fields.update(kw)
    return AnsweredRows(
        answers=answers,
        entity_columns=columns,
        entity_keys=KEYS,
        feature_columns=columns,
        feature_names=NAMES,
        **fields,
    )


def _awkward() -> list[AnsweredRows]:
    """Requests of one and several rows, shadow subsets, and every column's uncommon values."""
    one, one_answers = _request(1)
    many, many_answers = _request(5, 10)
    many_answers[1].prediction = "accept"
    many_answers[2].prediction = np.float32(0.5)
    many_answers[3].prediction, many_answers[3].error = None, "ValueError: bad row"
    many_answers[3].version, many_answers[3].variant = None, None  # refused before routing
    many_answers[4].score = float("nan")
    many["conv_rate"][4] = np.float64(0.75)
    shadow, shadow_answers = _request(4, 20)
    subset = [shadow_answers[1], shadow_answers[3]]  # a shadow answers some rows of the request
    for a in subset:
        a.variant, a.request_id = "candidate", f"{a.request_id}\x00nul"
    other, other_answers = _request(2, 30, model="fare_estimate")
    return [
        _batch(one, one_answers),
        _batch(many, many_answers, time_us=0),
        _batch(shadow, subset, mode="shadow"),
        _batch(other, other_answers, model="fare_estimate", mode="fallback:default"),
    ]


def test_answered_rows_become_the_rows_of_their_records() -> None:
    batches = _awkward()
    expected = rows_to_table([r.to_row() for b in batches for r in b.records()])
    built = answered_to_table(batches)
    assert built.schema.equals(expected.schema)
    assert built.equals(expected)
    rows = built.to_pylist()
    assert [r["request_id"] for r in rows][-4:-2] == ["req-21\ufffdnul", "req-23\ufffdnul"]
    assert json.loads(rows[-3]["features"]) == {
        "conv_rate": 2.3,
        "city": "Paris",
    }  # row 3 of the shadow's request
    assert (
        rows[4]["version"] == 0 and rows[4]["variant"] == "none" and rows[4]["error"] == "ValueError: bad row"
    )
    plain = [_batch(*_request(1, i)) for i in range(50)]  # the common case: every column takes the fast path
    assert answered_to_table(plain).equals(rows_to_table([r.to_row() for b in plain for r in b.records()]))


def test_the_logger_stores_what_the_server_hands_it(tmp_path: Path) -> None:
    seen: list[str] = []

    class Listener:
        @hookimpl
        def modelyard_on_prediction(self, record):
            seen.append(record.request_id)

    sink = ParquetSink(ParquetSinkConfig(path=str(tmp_path / "logs")))
    requests = [_request(1, i) for i in range(20)] + [_request(7, 100)]
    host = make_host(Listener(), builtins=False)
    with PredictionLogger(sink, flush_interval=0.01, max_buffer=5, host=host) as logger:
        for columns, answers in requests:
            assert logger.log_answers("trip_acceptance", "live", answers, columns, KEYS, NAMES, 2.0)
    ids = [a.request_id for _, answers in requests for a in answers]
    assert seen == ids
    assert logger.stats["logged"] == logger.stats["written"] == len(ids) == 27
    frame = sink.read_frame("trip_acceptance")
    assert frame["request_id"].tolist() == ids
    last = frame.iloc[-1]
    assert json.loads(last["entities"]) == {"driver_id": 1106}
    assert json.loads(last["features"]) == {"conv_rate": 10.6, "city": None}
    assert last["latency_ms"] == 2.0 and last["mode"] == "live" and last["variant"] == "default"


def test_a_full_queue_counts_rows_not_requests(memory_sink: MemorySink) -> None:
    logger = PredictionLogger(memory_sink, flush_interval=60, max_buffer=1000, max_queue=10)
    accepted = [
        logger.log_answers("trip_acceptance", "live", a, c, KEYS, NAMES, 1.0) for c, a in [_request(6)] * 3
    ]
    assert accepted == [True, True, False]  # 6 rows wait, then 12: the third request is dropped
    assert logger.stats["queued"] == 12 and logger.stats["dropped"] == 6
    logger.close()
    (marker,) = [r for r in memory_sink.rows if r["mode"] == "dropped"]
    assert marker["prediction"] == 6 and marker["error"] == "prediction log queue full"
    assert len([r for r in memory_sink.rows if r["mode"] != "dropped"]) == 12


def test_a_row_that_cannot_be_stored_is_dead_lettered_alone(memory_sink: MemorySink, tmp_path: Path) -> None:
    columns, answers = _request(4)
    answers[1].version = "two"  # not a version
    answers[2].row = 9  # no such row in the request's columns
    with PredictionLogger(memory_sink, flush_interval=0.01, spool_dir=tmp_path) as logger:
        logger.log_answers("trip_acceptance", "live", answers, columns, KEYS, NAMES, 1.0)
    assert [r["request_id"] for r in memory_sink.rows] == ["req-0", "req-3"]
    assert logger.stats["dead_lettered"] == 2
    dead = [
        json.loads(line)
        for f in sorted((tmp_path / "dead-letter").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert sorted(d["row"]["request_id"] for d in dead) == ["req-1", "req-2"]
    assert {d["error"].split(":")[0] for d in dead} == {"ValueError", "IndexError"}


def test_max_buffer_rows_wake_the_writer_whatever_the_requests_hold(memory_sink: MemorySink) -> None:
    logger = PredictionLogger(memory_sink, flush_interval=60, max_buffer=5)
    try:
        columns, answers = _request(7)
        logger.log_answers("trip_acceptance", "live", answers, columns, KEYS, NAMES, 1.0)
        deadline = time.monotonic() + 10
        while len(memory_sink.rows) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(memory_sink.rows) == 7  # written at once, not a flush interval (60 s) later
    finally:
        logger.close()
