"""The prediction log's write path as it was before columnar batches (modelyard 0.1.0, for
``bench/bench_prediction_log.py``): each record made into a dict row, the batch turned into an
Arrow table column by column from those dicts, grouped by (model, UTC date) row by row, and
appended to an Arrow IPC stream per group with an fsync, as the ``parquet`` sink does.

It does not import modelyard: it reads the attributes of the records it is given and writes
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
from collections.abc import Callable
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
    ) -> None:
        self.path = path
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

    def log(self, record: Any) -> None:
        self.records.append(record)
        if len(self.records) == self.max_buffer:
            self._wake.set()

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
