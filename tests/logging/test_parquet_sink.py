"""The parquet log sink: partitions, rolling, reading in bounded chunks, crash safety."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from logging_helpers import T0, make_records

from modelyard.errors import ConfigError
from modelyard.plugins.testing import make_host
from modelyard.predictions.log import PredictionLogger
from modelyard_plugins.log_sinks.parquet import ParquetSink, ParquetSinkConfig


def _sink(path: Path, **settings) -> ParquetSink:
    return make_host().spec("log_sink", "parquet").build({"path": str(path), **settings})


def test_built_through_the_plugin_host_with_validated_settings(tmp_path: Path) -> None:
    assert isinstance(_sink(tmp_path), ParquetSink)
    with pytest.raises(ConfigError, match="roll_bytez"):
        _sink(tmp_path, roll_bytez=5)


def test_rows_land_in_model_and_date_partitions_and_read_back_by_time(tmp_path: Path) -> None:
    records = make_records(10, step_s=6 * 3600)  # spans three UTC dates
    other = make_records(3, model="fare_estimate")
    with PredictionLogger(_sink(tmp_path), flush_interval=0.01) as logger:
        for r in records + other:
            logger.log(r)
    dates = sorted(p.name for p in (tmp_path / "trip_acceptance").iterdir())
    assert dates == ["date=2026-03-01", "date=2026-03-02", "date=2026-03-03"]
    assert not list(tmp_path.rglob("*.arrows"))  # close rolled every part into Parquet
    sink = _sink(tmp_path)
    everything = sink.read_frame("trip_acceptance")
    assert sorted(everything["request_id"]) == sorted(r.request_id for r in records)
    window = sink.read_frame("trip_acceptance", T0 + timedelta(hours=6), T0 + timedelta(hours=24))
    assert sorted(window["request_id"]) == sorted(r.request_id for r in records[1:4])  # [since, until)
    assert len(sink.read_frame("fare_estimate")) == 3
    assert sink.read_frame("never_logged").empty


def test_parts_roll_by_size_into_complete_parquet_files(tmp_path: Path) -> None:
    sink = _sink(tmp_path, roll_bytes=1)
    for i in range(4):
        sink.write([r.to_row() for r in make_records(5, start=T0 + timedelta(minutes=i))])
    files = sorted(tmp_path.rglob("part-*.parquet"))
    assert len(files) == 4
    assert [pq.read_table(f).num_rows for f in files] == [5, 5, 5, 5]
    assert not list(tmp_path.rglob("*.arrows"))


def test_parts_roll_by_time(tmp_path: Path) -> None:
    sink = _sink(tmp_path, roll_seconds=0.2)
    sink.write([r.to_row() for r in make_records(3)])
    assert not list(tmp_path.rglob("part-*.parquet"))
    time.sleep(0.25)
    sink.write([r.to_row() for r in make_records(3, start=T0 + timedelta(minutes=5))])
    (rolled,) = tmp_path.rglob("part-*.parquet")  # the part, now old enough, rolled after this write
    assert pq.read_table(rolled).num_rows == 6 and not list(tmp_path.rglob("*.arrows"))
    sink.write([r.to_row() for r in make_records(2, start=T0 + timedelta(minutes=9))])
    assert len(list(tmp_path.rglob("*.arrows"))) == 1  # a new part
    sink.close()
    assert len(list(tmp_path.rglob("part-*.parquet"))) == 2


def test_open_parts_are_readable_before_they_roll_and_chunks_are_bounded(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    for i in range(3):
        sink.write([r.to_row() for r in make_records(400, start=T0 + timedelta(minutes=i))])
    assert list(tmp_path.rglob("*.arrows")) and not list(tmp_path.rglob("*.parquet"))
    chunks = list(_sink(tmp_path).read("trip_acceptance", chunk_rows=128))
    assert max(len(c) for c in chunks) <= 128
    assert sum(len(c) for c in chunks) == 1200
    sink.close()
    chunks = list(_sink(tmp_path).read("trip_acceptance", chunk_rows=128))
    assert max(len(c) for c in chunks) <= 128 and sum(len(c) for c in chunks) == 1200


def test_a_crashed_writer_keeps_every_complete_batch_and_earlier_files(tmp_path: Path) -> None:
    """A process dies mid-part (and leaves a torn batch): the next sink recovers what was written."""
    sink = _sink(tmp_path, roll_bytes=1)
    sink.write(
        [r.to_row() for r in make_records(7, start=T0 - timedelta(hours=1))]
    )  # an earlier, rolled file
    earlier = sorted(tmp_path.rglob("*.parquet"))
    before = [f.read_bytes() for f in earlier]
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from datetime import timedelta
        from logging_helpers import T0, make_records
        from modelyard_plugins.log_sinks.parquet import ParquetSink, ParquetSinkConfig
        sink = ParquetSink(ParquetSinkConfig(path={str(tmp_path)!r}))
        sink.write([r.to_row() for r in make_records(10)])
        sink.write([r.to_row() for r in make_records(5, start=T0 + timedelta(minutes=1))])
        os._exit(0)  # no close, no roll: a crash
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    (stream,) = tmp_path.rglob("*.arrows")
    with open(stream, "ab") as fh:
        fh.write(b"\xff\xff\xff\xff\x10\x00\x00\x00torn")  # a batch cut short by the crash
    recovered = ParquetSink(ParquetSinkConfig(path=str(tmp_path)))
    assert not list(tmp_path.rglob("*.arrows"))
    assert [f.read_bytes() for f in earlier] == before  # earlier files untouched
    frame = recovered.read_frame("trip_acceptance")
    assert len(frame) == 7 + 10 + 5
    assert len(frame["request_id"].unique()) == 22


def test_an_idle_part_rolls_by_age_without_new_records(tmp_path: Path) -> None:
    sink = _sink(tmp_path, roll_seconds=0.2)
    logger = PredictionLogger(sink, flush_interval=0.05)
    try:
        for r in make_records(4):
            logger.log(r)
        deadline = time.monotonic() + 5
        while not list(tmp_path.rglob("part-*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (done,) = tmp_path.rglob("part-*.parquet")
        assert pq.read_table(done).num_rows == 4 and not list(tmp_path.rglob("*.arrows"))
    finally:
        logger.close()


def test_a_crash_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    """A server process logs, then dies without closing: what it logged a flush interval ago survives."""
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from logging_helpers import make_records
        from modelyard.predictions.log import PredictionLogger
        from modelyard_plugins.log_sinks.parquet import ParquetSink, ParquetSinkConfig
        logger = PredictionLogger(ParquetSink(ParquetSinkConfig(path={str(tmp_path)!r})), flush_interval=0.1)
        early = make_records(500)
        for r in early:
            logger.log(r)
        time.sleep(0.6)  # several flush intervals
        for r in make_records(50):
            logger.log(r)  # these may be lost
        print(",".join(r.request_id for r in early))
        sys.stdout.flush()
        os._exit(1)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    early = done.stdout.strip().split(",")
    assert len(early) == 500
    frame = ParquetSink(ParquetSinkConfig(path=str(tmp_path))).read_frame("trip_acceptance")
    assert set(early) <= set(frame["request_id"])
    assert len(frame) <= 550 and frame["request_id"].is_unique
