"""PredictionLogger: batching off the request path, hooks, spooling through a sink outage, bounds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from logging_helpers import MemorySink, SlowSink, make_records

from modelyard.plugins import hookimpl
from modelyard.plugins.testing import make_host
from modelyard.predictions.log import PredictionLogger


def _wait(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_close_flushes_everything_in_order(memory_sink: MemorySink) -> None:
    records = make_records(2500)
    logger = PredictionLogger(memory_sink, flush_interval=60, max_buffer=1000)
    for r in records:
        assert logger.log(r)
    logger.close()
    assert [row["request_id"] for row in memory_sink.rows] == [r.request_id for r in records]
    assert memory_sink.writes >= 3  # batches of at most max_buffer
    assert logger.stats["written"] == 2500 and logger.stats["dropped"] == 0
    assert not logger.log(records[0])  # after close: refused and counted
    assert logger.stats["dropped"] == 1


def test_background_flush_by_interval_without_close(memory_sink: MemorySink) -> None:
    logger = PredictionLogger(memory_sink, flush_interval=0.05, max_buffer=10_000)
    for r in make_records(5):
        logger.log(r)
    _wait(lambda: len(memory_sink.rows) == 5)
    logger.close()


def test_log_does_not_wait_for_a_slow_sink(memory_sink: MemorySink) -> None:
    sink = SlowSink(0.5)
    logger = PredictionLogger(sink, flush_interval=0.01, max_buffer=1000)
    records = make_records(200)
    start = time.perf_counter()
    for r in records:
        logger.log(r)
    assert time.perf_counter() - start < 0.4  # one write alone takes 0.5 s
    logger.close()
    assert len(sink.rows) == 200


def test_steady_logging_is_written_once_per_interval_not_every_few_records() -> None:
    """Records that arrive while a batch is being written wait for the next interval.

    (A writer that chased them wrote a handful of records at a time, each write with its
    fsync, and took a third of a serving worker's CPU.)
    """

    sink = SlowSink(0.005)
    logger = PredictionLogger(sink, flush_interval=0.2, max_buffer=100_000)
    records = make_records(50)
    logged = 0
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:  # a steady stream, about 10k records a second
        logger.log(records[logged % len(records)])
        logged += 1
        time.sleep(0.0001)
    logger.close()
    assert len(sink.rows) == logged
    assert sink.writes <= 1.2 / 0.2 + 3, f"{sink.writes} writes for {logged} records"


def test_on_prediction_hook_sees_each_record(memory_sink: MemorySink) -> None:
    seen: list[str] = []

    class Listener:
        @hookimpl
        def modelyard_on_prediction(self, record):
            seen.append(record.request_id)

    host = make_host(Listener(), builtins=False)
    records = make_records(30)
    with PredictionLogger(memory_sink, flush_interval=0.05, host=host) as logger:
        for r in records:
            logger.log(r)
    assert seen == [r.request_id for r in records]


def test_outage_spools_to_disk_and_delivers_everything_when_sink_returns(
    memory_sink: MemorySink, tmp_path: Path
) -> None:
    memory_sink.down = True
    logger = PredictionLogger(
        memory_sink, flush_interval=0.02, max_buffer=50, spool_dir=tmp_path, retry_min=0.05, retry_max=0.1
    )
    first = make_records(300)
    for r in first:
        logger.log(r)
    _wait(lambda: logger.stats["spooled"] == 300)
    assert list(tmp_path.glob("spool-*.parquet"))
    assert logger.stats["sink_healthy"] is False and logger.stats["spool_rows"] == 300
    memory_sink.down = False
    second = make_records(100)
    for r in second:
        logger.log(r)
    logger.close()
    ids = [row["request_id"] for row in memory_sink.rows]
    assert ids == [r.request_id for r in first + second]  # nothing lost, nothing twice, order kept
    stats = logger.stats
    assert stats["replayed"] >= 300 and stats["dropped"] == 0 and stats["spool_rows"] == 0
    assert not list(tmp_path.glob("spool-*"))


def test_spool_left_by_a_stopped_process_is_delivered_by_the_next(
    memory_sink: MemorySink, tmp_path: Path
) -> None:
    memory_sink.down = True
    records = make_records(40)
    with PredictionLogger(memory_sink, flush_interval=0.02, spool_dir=tmp_path) as logger:
        for r in records:
            logger.log(r)
    assert len(list(tmp_path.glob("spool-*.parquet"))) >= 1 and memory_sink.rows == []
    memory_sink.down = False
    with PredictionLogger(memory_sink, flush_interval=0.02, spool_dir=tmp_path) as logger:
        assert logger.stats["spool_rows"] == 40
    assert [row["request_id"] for row in memory_sink.rows] == [r.request_id for r in records]


def test_beyond_the_spool_bound_records_are_dropped_and_counted(
    memory_sink: MemorySink, tmp_path: Path
) -> None:
    memory_sink.down = True
    logger = PredictionLogger(
        memory_sink, flush_interval=0.02, max_buffer=10, spool_dir=tmp_path, max_spool_bytes=1
    )
    for r in make_records(30):
        logger.log(r)
    logger.close()
    stats = logger.stats
    assert stats["spooled"] == 10  # the first batch fits (the bound is checked before writing)
    assert stats["dropped"] == 20
    assert stats["spooled"] + stats["dropped"] == stats["logged"]


def test_without_a_spool_a_failed_batch_is_counted_as_dropped(memory_sink: MemorySink) -> None:
    memory_sink.down = True
    logger = PredictionLogger(memory_sink, flush_interval=0.02)
    for r in make_records(7):
        logger.log(r)
    logger.close()
    assert logger.stats["dropped"] == 7 and logger.stats["sink_errors"] >= 1


def test_full_queue_drops_and_counts_instead_of_blocking(memory_sink: MemorySink) -> None:
    class BlockedSink(MemorySink):
        def write(self, rows):
            time.sleep(0.3)
            super().write(rows)

    sink = BlockedSink()
    logger = PredictionLogger(sink, flush_interval=0.001, max_buffer=1, max_queue=5)
    accepted = sum(logger.log(r) for r in make_records(50))
    assert accepted < 50
    assert logger.stats["dropped"] == 50 - accepted
    logger.close()
    # the log holds the accepted rows and a drop marker saying how many were lost, and whose
    predictions = [r for r in sink.rows if r["mode"] != "dropped"]
    (marker,) = [r for r in sink.rows if r["mode"] == "dropped"]
    assert len(predictions) == accepted
    assert marker["prediction"] == 50 - accepted and marker["prediction_label"] == "live"
    assert marker["error"] == "prediction log queue full" and marker["model"] == predictions[0]["model"]


@pytest.mark.parametrize("n", [1, 999, 1000, 1001])
def test_flush_waits_for_delivery(memory_sink: MemorySink, n: int) -> None:
    logger = PredictionLogger(memory_sink, flush_interval=60, max_buffer=1000)
    for r in make_records(n):
        logger.log(r)
    assert logger.flush(timeout=10)
    assert len(memory_sink.rows) == n
    logger.close()


def test_writer_survives_a_record_that_cannot_be_logged(memory_sink: MemorySink) -> None:
    good = make_records(3)
    bad = make_records(1)[0]
    bad.version = "not a number"  # type: ignore[assignment]  # to_row() raises
    with PredictionLogger(memory_sink, flush_interval=0.01, max_buffer=1) as logger:
        logger.log(good[0])
        logger.log(bad)
        logger.flush(5)
        logger.log(good[1])
        logger.log(good[2])
    predictions = [r for r in memory_sink.rows if r["mode"] != "dropped"]
    assert [r["request_id"] for r in predictions] == [r.request_id for r in good]
    assert logger.stats["dropped"] == 1
    (marker,) = [r for r in memory_sink.rows if r["mode"] == "dropped"]  # the loss is in the log too
    assert marker["prediction"] == 1
    assert marker["error"] == "prediction log could not store the record, no dead-letter directory"


def test_a_damaged_spool_file_is_set_aside_and_the_rest_delivered(
    memory_sink: MemorySink, tmp_path: Path
) -> None:
    memory_sink.down = True
    records = make_records(20)
    with PredictionLogger(memory_sink, flush_interval=0.01, max_buffer=10, spool_dir=tmp_path) as logger:
        for r in records:
            logger.log(r)
    first, _second = sorted(tmp_path.glob("spool-*.parquet"))
    first.write_bytes(b"PAR1 garbage")
    memory_sink.down = False
    with PredictionLogger(memory_sink, flush_interval=0.01, spool_dir=tmp_path):
        pass
    assert [r["request_id"] for r in memory_sink.rows] == [r.request_id for r in records[10:]]
    assert list(tmp_path.glob("*.bad"))
