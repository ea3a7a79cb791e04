"""The postgres log sink against the real PostgreSQL server, including an outage and recovery."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from logging_helpers import T0, TcpProxy, make_records

from modelyard.plugins.testing import make_host
from modelyard.predictions.log import PredictionLogger
from modelyard.predictions.records import PredictionRecord

pytestmark = pytest.mark.postgres


def _sink(url: str, **settings):
    return make_host().spec("log_sink", "postgres").build({"url": url, "table": "plog", **settings})


def _count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM plog")).scalar_one()
    finally:
        engine.dispose()


def test_write_and_read_back_in_chunks_by_time(postgres_url: str) -> None:
    records = make_records(120, step_s=60)
    sink = _sink(postgres_url)
    with PredictionLogger(sink, flush_interval=0.01, max_buffer=50) as logger:
        for r in records + make_records(5, model="fare_estimate"):
            logger.log(r)
    sink = _sink(postgres_url)
    chunks = list(sink.read("trip_acceptance", chunk_rows=32))
    assert max(len(c) for c in chunks) <= 32
    frame = sink.read_frame("trip_acceptance")
    assert list(frame["request_id"]) == [r.request_id for r in records]  # time order
    back = PredictionRecord.from_row(frame.iloc[7].to_dict())
    assert back.features == records[7].features and back.timestamp == records[7].timestamp
    window = sink.read_frame("trip_acceptance", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))
    assert list(window["request_id"]) == [r.request_id for r in records[10:20]]
    assert len(sink.read_frame("fare_estimate")) == 5
    sink.close()


def test_database_down_at_start_then_up_after_restart_loses_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    """Bogus port first (the database is down), then the real one: the spool delivers everything."""
    bogus = sa.make_url(postgres_url).set(port=1)
    records = make_records(60)
    with PredictionLogger(
        _sink(bogus.render_as_string(hide_password=False), connect_timeout=1),
        flush_interval=0.02,
        spool_dir=tmp_path,
    ) as logger:
        for r in records:
            logger.log(r)
    assert logger.stats["spooled"] == 60 and logger.stats["written"] == 0
    with PredictionLogger(_sink(postgres_url), flush_interval=0.02, spool_dir=tmp_path) as logger:
        pass
    assert logger.stats["replayed"] == 60
    frame = _sink(postgres_url).read_frame("trip_acceptance")
    assert sorted(frame["request_id"]) == sorted(r.request_id for r in records)


def test_outage_while_running_spools_then_delivers_when_database_returns(
    postgres_url: str, tmp_path: Path
) -> None:
    proxy = TcpProxy("127.0.0.1", sa.make_url(postgres_url).port or 5432)
    proxy.start()
    via_proxy = sa.make_url(postgres_url).set(port=proxy.port).render_as_string(hide_password=False)
    logger = PredictionLogger(
        _sink(via_proxy, connect_timeout=1),
        flush_interval=0.02,
        max_buffer=20,
        spool_dir=tmp_path,
        retry_min=0.05,
        retry_max=0.2,
    )
    try:
        before, during, after = make_records(40), make_records(80), make_records(30)
        for r in before:
            logger.log(r)
        assert logger.flush(10) and logger.stats["written"] == 40
        proxy.stop()
        for r in during:
            logger.log(r)
        assert logger.flush(10)
        assert logger.stats["spool_rows"] == 80 and logger.stats["sink_healthy"] is False
        proxy.start()
        deadline = time.monotonic() + 10
        while logger.stats["spool_rows"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logger.stats["spool_rows"] == 0 and logger.stats["sink_healthy"] is True
        for r in after:
            logger.log(r)
    finally:
        logger.close()
        proxy.stop()
    assert _count(postgres_url) == 150
    frame = _sink(postgres_url).read_frame("trip_acceptance")
    assert sorted(frame["request_id"]) == sorted(r.request_id for r in before + during + after)
    assert logger.stats["dropped"] == 0
