"""The ``parquet`` log sink: rolled Parquet files under ``yard.home/logs`` (the default sink).

Layout: ``<path>/<model>/date=YYYY-MM-DD/part-<opened ns>-<pid>-<rand>.parquet`` (the date is
the records' UTC date). Each batch is appended to an open part kept as an Arrow IPC stream
(``.arrows``) and fsynced, so a crash keeps every batch written before it: a stream is
readable up to its last complete batch. When a part reaches ``roll_bytes`` or
``roll_seconds`` (or on ``flush``/``close``) it is converted to a complete Parquet file
written to a temporary name and renamed atomically, then the stream is removed; a part whose
Parquet file already exists is never converted twice. A later sink on the same directory
converts the parts left by a process that died. Finished Parquet files are never modified.

``read`` streams record batches (Parquet row groups and stream batches), so memory stays
bounded by ``chunk_rows`` whatever the size of the log.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from modelyard.errors import ConfigError
from modelyard.predictions.log import LogSink, LogSinkSettings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

_OPEN = ".arrows"
_DONE = ".parquet"


class ParquetSinkConfig(LogSinkSettings):
    """Settings of the ``parquet`` log sink."""

    path: str | None = Field(None, description="log directory (relative to the repo); default <home>/logs")
    roll_bytes: int = Field(64 * 1024 * 1024, ge=1, description="roll a part once its stream is this large")
    roll_seconds: float = Field(3600.0, gt=0, description="roll a part once it has been open this long")
    compression: str = "zstd"
    fsync: bool = Field(True, description="fsync each batch (what bounds crash loss to one flush interval)")


@dataclass
class _Part:
    stem: Path  # directory / "part-..." without suffix
    handle: Any
    writer: Any
    opened: float
    size: int = 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _safe_name(model: str) -> str:
    if not model or "/" in model or "\\" in model or model.startswith("."):
        raise ConfigError(f"model name {model!r} cannot be used as a log directory name")
    return model


class ParquetSink(LogSink):
    """Prediction log as rolled Parquet files; see the module docstring."""

    def __init__(self, config: ParquetSinkConfig | None = None, *, yard: Yard | None = None) -> None:
        self.config = config or ParquetSinkConfig()
        if self.config.path is not None:
            path = Path(yard.resolve_path(self.config.path) if yard is not None else self.config.path)
        elif yard is not None:
            path = yard.home / "logs"
        else:
            raise ConfigError(
                "the parquet log sink needs a 'path' setting or a yard", key="serving.log.settings.path"
            )
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self._parts: dict[tuple[str, date], _Part] = {}
        self.recover()

    # -- writing -----------------------------------------------------------------------

    def write(self, rows: list[dict[str, Any]]) -> None:
        from modelyard.predictions.records import rows_to_table

        self.write_table(rows_to_table(rows))

    def write_table(self, table: pa.Table) -> None:
        # every group selected before any is written: a model name we refuse leaves nothing half-written
        tables = {(_safe_name(model), day): part for (model, day), part in _groups(table)}
        for key, group in tables.items():
            part = self._parts.get(key) or self._open(*key)
            for batch in group.to_batches():
                part.writer.write_batch(batch)
            part.handle.flush()
            if self.config.fsync:
                os.fsync(part.handle.fileno())
            part.size = part.handle.tell()
        now = time.monotonic()
        for key, part in list(self._parts.items()):
            if part.size >= self.config.roll_bytes or now - part.opened >= self.config.roll_seconds:
                self._roll(key)

    def tick(self) -> None:
        """Roll parts that are old enough even when no record arrives (called every flush interval)."""
        now = time.monotonic()
        for key, part in list(self._parts.items()):
            if now - part.opened >= self.config.roll_seconds:
                self._roll(key)

    def _open(self, model: str, day: date) -> _Part:
        import pyarrow as pa

        from modelyard.predictions.records import arrow_schema

        directory = self.path / model / f"date={day.isoformat()}"
        directory.mkdir(parents=True, exist_ok=True)
        stem = directory / f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        handle = open(stem.with_suffix(_OPEN), "wb")  # noqa: SIM115 - kept open across writes
        writer = pa.ipc.new_stream(handle, arrow_schema())
        part = _Part(stem=stem, handle=handle, writer=writer, opened=time.monotonic())
        self._parts[(model, day)] = part
        return part

    def _roll(self, key: tuple[str, date]) -> None:
        part = self._parts.pop(key)
        part.writer.close()
        part.handle.close()
        self._convert(part.stem)

    def _convert(self, stem: Path) -> None:
        """Turn a stream part into its Parquet file (atomically), then remove the stream."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        stream, done = stem.with_suffix(_OPEN), stem.with_suffix(_DONE)
        if not done.exists():
            batches = list(_stream_batches(stream))
            if batches:
                # a unique temporary name: two processes recovering the same part never share a file
                tmp = stem.with_name(f".{stem.name}{_DONE}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
                pq.write_table(pa.Table.from_batches(batches), tmp, compression=self.config.compression)
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, done)
        stream.unlink(missing_ok=True)

    def recover(self) -> int:
        """Convert stream parts left by processes that are gone; returns how many."""
        count = 0
        for stream in self.path.glob(f"*/date=*/part-*{_OPEN}"):
            pid = stream.stem.split("-")[2] if stream.stem.count("-") >= 3 else ""
            if pid.isdigit() and (int(pid) == os.getpid() or _pid_alive(int(pid))):
                continue
            logger.info("recovering prediction-log part %s left by process %s", stream, pid)
            self._convert(stream.with_suffix(""))
            count += 1
        return count

    def flush(self) -> None:
        """Roll every open part, so all rows so far sit in finished Parquet files."""
        for key in list(self._parts):
            self._roll(key)

    def close(self) -> None:
        self.flush()

    # -- reading -----------------------------------------------------------------------

    def files(self, model: str, since: datetime | None = None, until: datetime | None = None) -> list[Path]:
        """Parquet and open stream parts of ``model`` whose date may hold rows in the range."""
        root = self.path / _safe_name(model)
        if not root.is_dir():
            return []
        first = since.astimezone(timezone.utc).date() if since else None
        last = until.astimezone(timezone.utc).date() if until else None
        out: list[Path] = []
        for directory in sorted(root.glob("date=*")):
            try:
                day = date.fromisoformat(directory.name.removeprefix("date="))
            except ValueError:
                continue
            if (first and day < first) or (last and day > last):
                continue
            names = sorted(directory.glob("part-*"))
            done = {p.stem for p in names if p.suffix == _DONE}
            out.extend(p for p in names if p.suffix == _DONE or (p.suffix == _OPEN and p.stem not in done))
        return out

    def read(
        self,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        chunk_rows: int = 50_000,
    ) -> Iterator[pd.DataFrame]:
        import pyarrow.compute as pc

        for path in self.files(model, since, until):
            for batch in self._batches(path, chunk_rows):
                if since is not None or until is not None:
                    mask = None
                    ts = batch.column("timestamp")
                    if since is not None:
                        mask = pc.greater_equal(ts, _scalar(since))
                    if until is not None:
                        upper = pc.less(ts, _scalar(until))
                        mask = upper if mask is None else pc.and_(mask, upper)
                    batch = batch.filter(mask)
                if batch.num_rows:
                    yield batch.to_pandas()

    def _batches(self, path: Path, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        if path.suffix == _OPEN:
            try:
                yield from _rechunk(_stream_batches(path, missing_ok=False), chunk_rows)
                return
            except FileNotFoundError:  # rolled while we listed: read its Parquet file instead
                path = path.with_suffix(_DONE)
                if not path.exists():
                    return
        yield from pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)


def _groups(table: pa.Table) -> Iterator[tuple[tuple[str, date], pa.Table]]:
    """``table``'s rows by (model, UTC date of the timestamp), in first-seen order.

    A batch is almost always one model on one day: that is found from the distinct models
    and the first and last timestamps without touching the rows one by one.
    """
    import pyarrow.compute as pc

    if not table.num_rows:
        return
    models = pc.unique(table.column("model")).to_pylist()
    bounds = pc.min_max(table.column("timestamp")).as_py()
    first, last = (
        bounds["min"].astimezone(timezone.utc).date(),
        bounds["max"].astimezone(timezone.utc).date(),
    )
    if len(models) == 1 and first == last:
        yield (models[0], first), table
        return
    keys = list(
        zip(
            table.column("model").to_pylist(),
            (ts.astimezone(timezone.utc).date() for ts in table.column("timestamp").to_pylist()),
            strict=True,
        )
    )
    rows: dict[tuple[str, date], list[int]] = {}
    for i, key in enumerate(keys):
        rows.setdefault(key, []).append(i)
    for key, indices in rows.items():
        yield key, table.take(indices)


def _scalar(value: datetime) -> Any:
    import pyarrow as pa

    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return pa.scalar(value, type=pa.timestamp("us", tz="UTC"))


def _rechunk(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for start in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(start, chunk_rows)


def _stream_batches(path: Path, *, missing_ok: bool = True) -> Iterator[pa.RecordBatch]:
    """The complete batches of an Arrow IPC stream, stopping quietly at a torn tail."""
    import pyarrow as pa

    try:
        source = pa.OSFile(str(path), "rb")  # copies into owned buffers (an mmap would dangle)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    with source:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError):
            return  # not even a complete schema message: nothing was written
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError):
                logger.warning("prediction-log part %s ends in a torn batch; keeping what precedes it", path)
                return
            yield batch
