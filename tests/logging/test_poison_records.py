"""Poison records: one record a sink refuses never blocks the others, and nothing is lost silently.

Every record logged ends up delivered or in a dead-letter file with its error (counted), and
legal values that some store cannot hold (NUL, lone surrogates, huge numbers) are cleaned
before any sink sees them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from logging_helpers import MemorySink, make_records

from modelyard.plugins.testing import make_host
from modelyard.predictions.log import PredictionLogger
from modelyard.predictions.records import PredictionRecord, rows_to_table


class PickySink(MemorySink):
    """Refuses (ValueError, a data error) any batch holding a row whose request id starts with 'poison'."""

    def __init__(self, error: type[Exception] = ValueError) -> None:
        super().__init__()
        self.error = error

    def write(self, rows: list[dict[str, Any]]) -> None:
        if any(str(r["request_id"]).startswith("poison") for r in rows):
            raise self.error("row refused")
        super().write(rows)


def _poisoned(n: int, at: list[int]) -> list[PredictionRecord]:
    records = make_records(n)
    for i in at:
        records[i].request_id = f"poison-{i}"
    return records


def _dead_letters(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for f in sorted(directory.glob("dead-*.jsonl"))
        for line in f.read_text().splitlines()
    ]


def test_a_refused_batch_is_split_until_the_poison_is_isolated(tmp_path: Path) -> None:
    sink = PickySink()
    records = _poisoned(1000, [0, 500, 999])
    with PredictionLogger(sink, flush_interval=0.01, max_buffer=1000, spool_dir=tmp_path) as logger:
        for r in records:
            logger.log(r)
    good = [r.request_id for r in records if not r.request_id.startswith("poison")]
    assert [row["request_id"] for row in sink.rows] == good  # order kept
    dead = _dead_letters(tmp_path / "dead-letter")
    assert sorted(d["row"]["request_id"] for d in dead) == ["poison-0", "poison-500", "poison-999"]
    assert all(d["error"] == "ValueError: row refused" for d in dead)
    stats = logger.stats
    assert stats["written"] + stats["dead_lettered"] == 1000
    assert stats["dead_lettered"] == 3 and stats["dropped"] == 0 and stats["spool_rows"] == 0


def test_an_unclassified_error_on_one_record_does_not_stick_the_spool(tmp_path: Path) -> None:
    """A sink error that does not say 'bad rows' is first taken for an outage, then bisected."""
    sink = PickySink(RuntimeError)
    records = _poisoned(200, [37])
    logger = PredictionLogger(
        sink, flush_interval=0.01, max_buffer=50, spool_dir=tmp_path, retry_min=0.01, retry_max=0.02
    )
    for r in records[:100]:
        logger.log(r)
    deadline = time.monotonic() + 10
    while logger.stats["dead_lettered"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    for r in records[100:]:
        logger.log(r)
    logger.close()
    assert sorted(row["request_id"] for row in sink.rows) == sorted(
        r.request_id for r in records if r.request_id != "poison-37"
    )
    assert [d["row"]["request_id"] for d in _dead_letters(tmp_path / "dead-letter")] == ["poison-37"]
    assert logger.stats["spool_rows"] == 0 and not list(tmp_path.glob("spool-*"))


def test_an_outage_is_not_mistaken_for_poison(tmp_path: Path) -> None:
    """Every write failing (a sink down, an unclassified error) dead-letters nothing, however long."""
    sink = MemorySink()
    sink.down = True
    logger = PredictionLogger(
        sink, flush_interval=0.01, max_buffer=20, spool_dir=tmp_path, retry_min=0.005, retry_max=0.01
    )
    records = make_records(100)
    for r in records:
        logger.log(r)
    time.sleep(0.5)  # many replay attempts, past the point where a file is suspected
    assert logger.stats["dead_lettered"] == 0
    sink.down = False
    logger.close()
    assert sorted(row["request_id"] for row in sink.rows) == sorted(r.request_id for r in records)
    assert logger.stats["dead_lettered"] == 0 and not (tmp_path / "dead-letter").exists()


def test_a_record_that_cannot_become_a_row_is_dead_lettered_alone(
    memory_sink: MemorySink, tmp_path: Path
) -> None:
    records = make_records(10)
    records[4].version = "four"  # type: ignore[assignment]  # to_row() raises
    with PredictionLogger(memory_sink, flush_interval=0.01, max_buffer=100, spool_dir=tmp_path) as logger:
        for r in records:
            logger.log(r)
    assert len(memory_sink.rows) == 9
    (dead,) = _dead_letters(tmp_path / "dead-letter")
    assert dead["row"]["request_id"] == records[4].request_id and "ValueError" in dead["error"]


def _nasty_records() -> list[PredictionRecord]:
    """Values a request may legally carry that some store cannot hold as they are."""
    records = make_records(4)
    records[0].request_id = "nul\x00inside"
    records[1].request_id = "lone \ud800 surrogate"
    records[1].entities = {"driver_id": "\ud800\x00"}
    records[2].entities = {"driver_id": 10**40}
    records[2].features = {"conv_rate": 1e308, "city": "\x00"}
    records[3].prediction = "label\x00\udfff"
    records[3].error = "bad value '\x00'"
    return records


def _pg_sink(url: str):
    return make_host().spec("log_sink", "postgres").build({"url": url, "table": "plog"})


def _parquet_sink(path: Path):
    return make_host().spec("log_sink", "parquet").build({"path": str(path)})


@pytest.mark.postgres
def test_postgres_stores_every_legal_value_and_isolates_what_it_refuses(
    postgres_url: str, tmp_path: Path
) -> None:
    """NUL etc. are cleaned; a spool file written before that (raw NUL) and a bigint overflow are
    dead-lettered, every other row delivered: sent == delivered + dead-lettered."""
    old = make_records(30)
    rows = [r.to_row() for r in old]
    rows[15]["request_id"] = "raw\x00nul"  # an old spool file: NUL not cleaned yet
    (tmp_path / "spool").mkdir()
    import pyarrow.parquet as pq

    pq.write_table(rows_to_table(rows), tmp_path / "spool" / "spool-00000000000000000001-1-aaaaaaaa.parquet")
    steady = make_records(200)
    steady[100].version = 2**63  # out of BIGINT's range: PostgreSQL refuses it
    nasty = _nasty_records()
    sent = len(old) + len(steady) + len(nasty)
    with PredictionLogger(
        _pg_sink(postgres_url), flush_interval=0.01, max_buffer=64, spool_dir=tmp_path / "spool"
    ) as logger:
        for r in steady[:100] + nasty + steady[100:]:
            logger.log(r)
    stats = logger.stats
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT request_id, entities, prediction_label, error FROM plog")).all()
    engine.dispose()
    dead = _dead_letters(tmp_path / "spool" / "dead-letter")
    assert len(stored) + len(dead) == sent == stats["written"] + stats["dead_lettered"]
    assert sorted(d["row"]["request_id"] for d in dead) == sorted(["raw\x00nul", steady[100].request_id])
    by_id = {row.request_id: row for row in stored}
    assert "nul\ufffdinside" in by_id
    assert json.loads(by_id[nasty[2].request_id].entities) == {"driver_id": 10**40}
    assert by_id[nasty[3].request_id].prediction_label.startswith("label\ufffd")
    assert not list((tmp_path / "spool").glob("spool-*"))


def test_parquet_stores_every_legal_value_and_isolates_what_it_refuses(tmp_path: Path) -> None:
    steady = make_records(200)
    steady[50].version = 2**64  # beyond int64: Arrow refuses it
    nasty = _nasty_records()
    sink = _parquet_sink(tmp_path / "logs")
    with PredictionLogger(sink, flush_interval=0.01, max_buffer=64, spool_dir=tmp_path / "spool") as logger:
        for r in steady[:100] + nasty + steady[100:]:
            logger.log(r)
    frame = _parquet_sink(tmp_path / "logs").read_frame("trip_acceptance")
    dead = _dead_letters(tmp_path / "spool" / "dead-letter")
    assert len(frame) + len(dead) == len(steady) + len(nasty)
    assert [d["row"]["request_id"] for d in dead] == [steady[50].request_id]
    assert "nul\x00inside" not in set(frame["request_id"]) and "nul\ufffdinside" in set(frame["request_id"])
    assert logger.stats["dropped"] == 0
