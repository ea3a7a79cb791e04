"""The prediction log as it was before columnar batches (modelyard 0.1.0, for
``bench/bench_prediction_log.py``), from a request's answers to the bytes written: the request
path builds a record (the fields and defaults of 0.1.0's ``PredictionRecord``, a timestamp per
record) and two dicts per answer and queues it; the writer thread makes each record a dict row,
turns the batch into an Arrow table from those dicts, groups it by (model, UTC date) row by row
and appends it to an Arrow IPC stream per group with an fsync, as the ``parquet`` sink does; or,
for PostgreSQL, inserts the rows in one transaction (SQLAlchemy ``executemany``).

It does not import modelyard: it reads the attributes of the answers it is given and writes
the same columns, so the two sides do the same work for the same input. The old logger also
fired the ``on_prediction`` hook for every record; the benchmark passes that dispatcher in as
``each`` (the one piece of modelyard the old path ran per record).
"""

from __future__ import annotations

import collections
import json
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("variant", pa.string()),
        ("mode", pa.string()),
        ("entities", pa.string()),
        ("features", pa.string()),
        ("prediction", pa.float64()),
        ("prediction_label", pa.string()),
        ("score", pa.float64()),
        ("latency_ms", pa.float64()),
        ("cache_hit", pa.bool_()),
        ("error", pa.string()),
    ]
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class Record:
    """One logged prediction as the request path built it (0.1.0's ``PredictionRecord``)."""

    request_id: str
    model: str
    version: int
    prediction: Any
    entities: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    variant: str = "default"
    mode: str = "live"
    score: float | None = None
    latency_ms: float = 0.0
    cache_hit: bool = False
    error: str | None = None
    timestamp: datetime = field(default_factory=_utcnow)


def _text(value: str | None) -> str | None:
    if value is None or (value.isascii() and "\x00" not in value):
        return value
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return _clean(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _dumps(mapping: dict[str, Any]) -> str:
    try:
        return orjson.dumps(mapping, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(
            {str(k): _clean(v) for k, v in mapping.items()}, default=_default, separators=(",", ":")
        )


def to_row(r: Any) -> dict[str, Any]:
    prediction = _clean(r.prediction)
    numeric = isinstance(prediction, (int, float)) and not isinstance(prediction, bool)
    if isinstance(prediction, bool):
        prediction, numeric = int(prediction), True
    ts = r.timestamp if r.timestamp.tzinfo is not None else r.timestamp.replace(tzinfo=timezone.utc)
    return {
        "request_id": _text(r.request_id),
        "timestamp": ts.astimezone(timezone.utc),
        "model": r.model,
        "version": int(r.version),
        "variant": _text(r.variant),
        "mode": r.mode,
        "entities": _dumps(r.entities),
        "features": _dumps(r.features),
        "prediction": float(prediction) if numeric else None,
        "prediction_label": None if numeric or prediction is None else _text(str(prediction)),
        "score": None if _clean(r.score) is None else float(r.score),
        "latency_ms": float(r.latency_ms),
        "cache_hit": bool(r.cache_hit),
        "error": _text(r.error),
    }


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pydict(
        {name: [row.get(name) for row in rows] for name in SCHEMA.names}, schema=SCHEMA
    )


class RowLog:
    """A deque drained by a writer thread in batches of ``max_buffer``: rows, table, IPC stream + fsync."""

    def __init__(
        self,
        path: Path,
        *,
        max_buffer: int = 1000,
        flush_interval: float = 0.05,
        each: Callable[[Any], None] | None = None,
        postgres: tuple[Any, Any] | None = None,
        max_queue: int = 100_000,
    ) -> None:
        self.path = path
        self.postgres = postgres  # (SQLAlchemy engine, table): insert rows there instead of files
        self.max_queue = max_queue
        self.each = each
        self.max_buffer = max_buffer
        self.flush_interval = flush_interval
        self.records: collections.deque[Any] = collections.deque()
        self.written = 0
        self._streams: dict[tuple[str, date], Any] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def log_answers(
        self,
        model: str,
        mode: str,
        answers: Sequence[Any],
        columns: Mapping[str, Sequence[Any]],
        keys: Sequence[str],
        names: Sequence[str],
        latency_ms: float,
    ) -> None:
        """What the server's request path did per answer: a record with its two dicts, queued."""
        for a in answers:
            i = a.row
            self.log(
                Record(
                    request_id=a.request_id,
                    model=model,
                    version=int(a.version or 0),
                    prediction=a.prediction,
                    entities={k: columns[k][i] for k in keys},
                    features={f: columns[f][i] for f in names},
                    variant=a.variant or "none",
                    mode=mode,
                    score=a.score,
                    latency_ms=latency_ms,
                    cache_hit=a.cached,
                    error=a.error,
                )
            )

    def log(self, record: Any) -> bool:
        records = self.records
        if self._stop.is_set() or len(records) >= self.max_queue:
            return False
        records.append(record)
        if len(records) == self.max_buffer:
            self._wake.set()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            left = len(self.records)
            while left > 0:
                batch = [self.records.popleft() for _ in range(min(left, self.max_buffer))]
                left -= len(batch)
                if self.each is not None:
                    for record in batch:
                        self.each(record)
                self._write([to_row(r) for r in batch])

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if self.postgres is not None:
            engine, table = self.postgres
            with engine.begin() as conn:
                conn.execute(table.insert(), rows)
            self.written += len(rows)
            return
        groups: dict[tuple[str, date], list[dict[str, Any]]] = {}
        for row in rows:
            model = row["model"]
            if not model or "/" in model or model.startswith("."):
                raise ValueError(model)
            groups.setdefault((model, row["timestamp"].astimezone(timezone.utc).date()), []).append(row)
        tables = {key: rows_to_table(group) for key, group in groups.items()}
        for key, table in tables.items():
            stream = self._streams.get(key)
            if stream is None:
                directory = self.path / key[0] / f"date={key[1].isoformat()}"
                directory.mkdir(parents=True, exist_ok=True)
                handle = open(directory / "part.arrows", "wb")  # noqa: SIM115 - closed in close()
                stream = self._streams[key] = (handle, pa.ipc.new_stream(handle, SCHEMA))
            for batch in table.to_batches():
                stream[1].write_batch(batch)
            stream[0].flush()
            os.fsync(stream[0].fileno())
        self.written += len(rows)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()
        for handle, writer in self._streams.values():
            writer.close()
            handle.close()


def postgres_table(metadata: Any, name: str) -> Any:
    """The SQL table the ``postgres`` sink writes (same columns, types and indexes)."""
    import sqlalchemy as sa

    types = {
        pa.string(): sa.Text,
        pa.timestamp("us", tz="UTC"): sa.DateTime(timezone=True),
        pa.int64(): sa.BigInteger,
        pa.float64(): sa.Float(53),
        pa.bool_(): sa.Boolean,
    }
    nullable = {"prediction", "prediction_label", "score", "error"}
    columns = [sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)]
    columns += [sa.Column(f.name, types[f.type], nullable=f.name in nullable) for f in SCHEMA]
    table = sa.Table(name, metadata, *columns)
    sa.Index(f"ix_{name}_model_ts", table.c.model, table.c.timestamp)
    sa.Index(f"ix_{name}_request_id", table.c.request_id)
    return table
