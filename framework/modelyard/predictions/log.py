"""The prediction log: a non-blocking, buffered writer in front of a LogSink plugin.

``PredictionLogger.log_answers(...)`` (the server, once per request: its answers and references to its
columns, see :mod:`modelyard.predictions.answered`) and ``PredictionLogger.log(record)`` (one
:class:`PredictionRecord`) only append to an in-memory deque, so the request path never waits
for disk or network and builds nothing per row. A background thread batches records and writes them to the sink
every ``flush_interval`` seconds or every ``max_buffer`` records, and fires the
``on_prediction`` hook for each. When the sink fails, batches are spooled as complete
Parquet files under ``spool_dir`` and delivered, oldest first, once it answers again (also
by the next logger started on the same spool directory, so a restart loses nothing that
reached the spool). Past ``max_spool_bytes`` (or a full queue) records are dropped and
counted in :attr:`PredictionLogger.stats`, never silently, and the log itself says so: the
writer adds **drop markers**, one row per (model, variant, mode, reason) with
``mode="dropped"``, the number of lost rows in ``prediction``, the lost rows' mode in
``prediction_label`` and the reason in ``error``. The experiment report reads them to state
its coverage (a marker that cannot be written either is counted again for the next batch).
``close()`` flushes everything.

One bad record never blocks the others (a *poison record*): when the sink refuses a batch
because of its content (:meth:`LogSink.rejects`), the batch is split in halves until the
records it refuses are isolated; those go to a *dead-letter* file (JSON lines, each with the
error, under ``dead_letter_dir``), are counted (``dead_lettered``, and
``modelyard_prediction_log_dead_lettered`` in ``/metrics``), and everything else is
delivered. A spool file whose replay keeps failing with an error the sink does not classify
is bisected the same way, so replay never sticks on one file.

A crash loses at most what was buffered in memory: the last ``flush_interval`` of records.

Sinks (``LogSink``) are plugins (role ``log_sink``): ``parquet`` and ``postgres`` ship with
modelyard. Their config classes extend :class:`LogSinkSettings`, whose fields tune the logger.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from modelyard.predictions.answered import Answer, AnsweredRows
from modelyard.predictions.records import DROPPED, PredictionRecord

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from modelyard.plugins.manager import PluginHost
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

_STOP = object()
_new_tuple = tuple.__new__
_SPOOL_SUFFIX = ".parquet"

#: what the deque holds: one request's answered rows, or one record
_Item: TypeAlias = "AnsweredRows | PredictionRecord"


class LogSinkSettings(BaseModel):
    """Settings every log sink accepts (under ``serving.log.settings``): how the logger batches."""

    model_config = ConfigDict(extra="forbid")

    flush_interval: float = Field(1.0, gt=0, description="seconds between writes to the sink")
    max_buffer: int = Field(1000, ge=1, description="write as soon as this many records wait")
    max_queue: int = Field(100_000, ge=1, description="records waiting beyond this are dropped and counted")
    max_spool_bytes: int = Field(
        512 * 1024 * 1024, ge=0, description="disk the spool may use while the sink is down"
    )


class LogSink(ABC):
    """Where prediction-log rows go. Implementations must be safe to call from one writer thread.

    ``write`` either stores every row or raises (then the logger spools the batch and retries
    later), so a sink must not leave a partial batch visible as complete.
    """

    @abstractmethod
    def write(self, rows: list[dict[str, Any]]) -> None:
        """Store a batch of :meth:`PredictionRecord.to_row` rows (all or nothing)."""

    def write_table(self, table: pa.Table) -> None:
        """Store a batch given as an Arrow table of :func:`~modelyard.predictions.records.arrow_schema`
        (all or nothing); this is what the logger calls.

        The default hands the table's rows to :meth:`write`. A sink that can store Arrow data
        as it is (Parquet files, a columnar database) overrides it and skips building a dict
        per row, the larger part of the log's cost per record.
        """
        self.write(table.to_pylist())

    def rejects(self, exc: BaseException) -> bool:
        """True when ``exc`` (raised by :meth:`write`) says the rows themselves cannot be stored.

        The logger then splits the batch until the refused rows are isolated and dead-letters
        them; any other error means the sink is unavailable and the batch is spooled for a
        retry. The default counts value, type and overflow errors (pyarrow's included) as
        refusals and ``OSError`` (connections, disks) as unavailability; sinks over a
        database override it with their driver's data and integrity errors.
        """
        if isinstance(exc, OSError):
            return False
        return isinstance(exc, (ValueError, TypeError, ArithmeticError, LookupError, UnicodeError))

    @abstractmethod
    def read(
        self,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        chunk_rows: int = 50_000,
    ) -> Iterator[pd.DataFrame]:
        """Rows of ``model`` with ``since <= timestamp < until``, in chunks of at most ``chunk_rows``."""

    def read_frame(
        self, model: str, since: datetime | None = None, until: datetime | None = None
    ) -> pd.DataFrame:
        """All matching rows as one frame (for windows known to fit in memory)."""
        import pandas as pd

        from modelyard.predictions.records import arrow_schema

        chunks = [c for c in self.read(model, since, until) if len(c)]
        if not chunks:
            return arrow_schema().empty_table().to_pandas()
        return pd.concat(chunks, ignore_index=True)

    def flush(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Make everything written so far durable and readable (roll open files)."""

    def tick(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Called every flush interval, records or not (roll files by age, keep connections alive)."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release files and connections; called once by ``PredictionLogger.close``."""


class PredictionLogger:
    """Buffered, non-blocking prediction log in front of a :class:`LogSink`.

    ``stats`` gives counters for ``/metrics``: ``logged`` (accepted by ``log``), ``written``
    (delivered to the sink, including replayed spool), ``spooled`` (rows put in the spool),
    ``replayed`` (spooled rows later delivered), ``dropped`` (lost: queue full or spool full),
    ``sink_errors`` (failed writes), ``dead_lettered`` (records the sink refused, set aside
    with their error in ``dead_letter_dir``), ``spool_rows`` / ``spool_bytes`` (waiting on
    disk now), ``queued`` (in memory now), ``sink_healthy``.

    ``dead_letter_dir`` defaults to ``<spool_dir>/dead-letter``; without either, refused
    records are logged and counted as dropped.
    """

    #: a spool file whose replay failed this often with errors the sink does not classify is
    #: bisected to find out whether some of its records are what fails
    suspect_after = 2
    #: while bisecting a suspect spool file, this many single rows failing one after the other
    #: (none delivered between them) mean the sink is down, not the rows
    suspect_streak = 4

    def __init__(
        self,
        sink: LogSink,
        *,
        flush_interval: float = 1.0,
        max_buffer: int = 1000,
        spool_dir: str | os.PathLike[str] | None = None,
        host: PluginHost | None = None,
        max_queue: int = 100_000,
        max_spool_bytes: int = 512 * 1024 * 1024,
        retry_min: float = 0.5,
        retry_max: float = 30.0,
        dead_letter_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.sink = sink
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.host = host
        self.max_spool_bytes = max_spool_bytes
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        if dead_letter_dir is not None:
            self.dead_letter_dir: Path | None = Path(dead_letter_dir)
        else:
            self.dead_letter_dir = self.spool_dir / "dead-letter" if self.spool_dir is not None else None
        self._strikes: dict[str, int] = {}  # spool file name -> failed replays (writer thread only)
        self._retry_min, self._retry_max = retry_min, retry_max
        self._retry_delay = retry_min
        self._next_retry = 0.0
        self.max_queue = max_queue
        # items (a request's answered rows, or a record): appended by request threads, drained by
        # the writer; controls (flush requests, stop) travel separately so they never wait behind
        # records. Rows are counted: _appended under _put_lock, _taken by the writer thread only.
        self._records: deque[_Item] = deque()
        self._controls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._put_lock = threading.Lock()
        self._appended = 0
        self._taken = 0
        self._lock = threading.Lock()
        self._counters = {
            "written": 0,
            "spooled": 0,
            "replayed": 0,
            "dropped": 0,
            "sink_errors": 0,
            "dead_lettered": 0,
        }
        self._spool_rows = 0
        self._spool_bytes = 0
        # rows lost and not yet written as drop markers: (model, variant, mode, reason) -> count
        self._lost: dict[tuple[str, str, str, str], int] = {}
        self._healthy = True
        self._last_error: str | None = None
        self._flush_requests: list[threading.Event] = []
        self._closed = False
        if self.spool_dir is not None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            self._recover_spool()
        self._thread = threading.Thread(target=self._run, name="modelyard-prediction-log", daemon=True)
        self._thread.start()

    # -- request path ------------------------------------------------------------------

    def log(self, record: PredictionRecord) -> bool:
        """Queue one record; never blocks. Returns False (and counts a drop) when the queue is full."""
        return self._put(record, 1)

    def log_answers(
        self,
        model: str,
        mode: str,
        answers: Sequence[Answer],
        columns: Mapping[str, Sequence[Any]],
        entity_keys: Sequence[str],
        feature_names: Sequence[str],
        latency_ms: float,
    ) -> bool:
        """Queue the answered rows of one request; never blocks, builds nothing per row.

        ``columns`` holds the request's entity keys and features (one list per name, indexed by
        each answer's ``row``); the log keeps references to them and to ``answers``, so they must
        not change afterwards. Returns False (and counts a drop) when the queue is full.
        """
        if not answers:
            return True
        fields = (
            model,
            mode,
            answers,
            columns,
            entity_keys,
            columns,
            feature_names,
            latency_ms,
            time.time_ns() // 1000,
        )
        return self._put(_new_tuple(AnsweredRows, fields), len(answers))

    def _put(self, item: _Item, rows: int) -> bool:
        if self._closed:
            self._lose_items([item], "prediction log closed")
            logger.warning("prediction log is closed; dropped %d record(s) of %s", rows, item.model)
            return False
        lock = self._put_lock
        lock.acquire()  # not ``with``: this runs once per request, and the statement costs twice the calls
        try:
            queued = self._appended - self._taken
            full = queued >= self.max_queue
            if not full:
                self._records.append(item)
                self._appended += rows
        finally:
            lock.release()
        if full:
            self._lose_items([item], "prediction log queue full")
            return False
        if queued < self.max_buffer <= queued + rows:
            self._wake.set()
        return True

    @property
    def stats(self) -> dict[str, Any]:
        """Counters for metrics (see the class docstring)."""
        taken = self._taken
        logged = self._appended
        queued = logged - taken
        with self._lock:
            out: dict[str, Any] = dict(self._counters)
            out["spool_rows"] = self._spool_rows
            out["spool_bytes"] = self._spool_bytes
        out["logged"] = logged
        out["queued"] = queued
        out["sink_healthy"] = self._healthy
        out["last_error"] = self._last_error
        return out

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write everything queued so far (to the sink, or the spool); True if done within ``timeout``."""
        if self._closed:
            return True
        done = threading.Event()
        self._controls.put(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """Graceful shutdown: write everything, retry the spool once, close the sink."""
        if self._closed:
            return
        self._closed = True
        self._controls.put(_STOP)
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error(
                "prediction log writer did not finish within %ss; %d records may be lost",
                timeout,
                self._appended - self._taken,
            )
        try:
            self.sink.close()
        except Exception:  # shutdown goes on; the error is logged
            logger.exception("closing the prediction-log sink failed")

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writer thread -------------------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def record_loss(self, model: str, variant: str, mode: str, n: int, reason: str) -> None:
        """Rows lost before they reached the logger (e.g. shadow jobs dropped): counted and marked."""
        with self._lock:
            self._counters["dropped"] += n
            key = (model, variant, mode, reason)
            self._lost[key] = self._lost.get(key, 0) + n
        self._wake.set()

    def _lose_items(self, items: list[_Item], reason: str) -> None:
        """Count the rows of lost items, and remember them for the next drop markers."""
        keys: list[tuple[str, str, str, str]] = []
        for item in items:
            if isinstance(item, AnsweredRows):
                keys.extend((item.model, a.variant or "none", item.mode, reason) for a in item.answers)
            else:
                keys.append((item.model, item.variant, str(item.mode), reason))
        with self._lock:
            self._counters["dropped"] += len(keys)
            for key in keys:
                self._lost[key] = self._lost.get(key, 0) + 1

    def _lose_rows(self, rows: list[dict[str, Any]], reason: str) -> None:
        """As :meth:`_lose_items` for rows; lost drop markers carry their count forward."""
        lost = 0
        with self._lock:
            for row in rows:
                if row.get("mode") == DROPPED:
                    key = (
                        str(row["model"]),
                        str(row["variant"]),
                        str(row["prediction_label"]),
                        str(row["error"]),
                    )
                    self._lost[key] = self._lost.get(key, 0) + int(row["prediction"] or 0)
                    continue
                lost += 1
                key = (str(row["model"]), str(row["variant"]), str(row["mode"]), reason)
                self._lost[key] = self._lost.get(key, 0) + 1
            self._counters["dropped"] += lost

    def _markers(self) -> list[dict[str, Any]]:
        """Rows saying how many rows were lost since the last markers (writer thread only)."""
        with self._lock:
            lost, self._lost = self._lost, {}
        rows = []
        for (model, variant, mode, reason), n in lost.items():
            row = PredictionRecord(
                request_id=f"dropped-{uuid.uuid4().hex}",
                model=model,
                version=0,
                prediction=float(n),
                variant=variant,
                mode=DROPPED,
                error=reason,
            ).to_row()
            row["prediction_label"] = mode
            rows.append(row)
        return rows

    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_interval
        stopping = False
        while not stopping:
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            self._wake.clear()
            waiters: list[threading.Event] = []
            while True:  # controls first: every record logged before a flush() is in the deque now
                try:
                    item = self._controls.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                else:
                    waiters.append(item)
            now = time.monotonic()
            queued = self._appended - self._taken  # rows, whatever the items hold
            due = stopping or bool(waiters) or now >= deadline or queued >= self.max_buffer
            pending: list[_Item] = []
            try:
                # only what is queued now: records keep arriving while a batch is written, and
                # chasing them would turn one write per interval into a write every few records
                left = len(self._records) if due else 0
                while left > 0:
                    pending = self._take(left)
                    left -= len(pending)
                    self._deliver(pending)
                    pending = []
                markers = self._markers() if due else []
                if markers:
                    from modelyard.predictions.records import rows_to_table

                    self._write_batch(rows_to_table(markers))
                if now >= deadline or stopping:
                    deadline = now + self.flush_interval
                    self._maybe_replay(force=stopping)
                    self._sink_call(self.sink.tick)
                if waiters or stopping:
                    self._sink_call(self.sink.flush)
            except Exception:  # the writer thread must survive anything
                logger.exception("prediction-log writer failed; %d records dropped", len(pending))
                self._lose_items(pending, "prediction log writer failed")
            finally:
                for waiter in waiters:
                    waiter.set()

    def _take(self, limit: int) -> list[_Item]:
        """Up to ``limit`` items off the front of the deque, and no more once they hold
        ``max_buffer`` rows (writer thread only)."""
        records = self._records
        batch: list[_Item] = []
        rows = 0
        while records and len(batch) < limit and rows < self.max_buffer:
            item = records.popleft()
            batch.append(item)
            rows += len(item.answers) if item.__class__ is AnsweredRows else 1
        self._taken += rows
        return batch

    def _sink_call(self, method: Any) -> None:
        try:
            method()
        except Exception as exc:  # noqa: BLE001 - a failing sink must not kill the writer
            self._sink_failed(exc)

    def _deliver(self, items: list[_Item]) -> None:
        if self.host is not None:
            self.host.on_predictions(_records_of(items))
        table = self._table(items)
        if table is not None and table.num_rows:
            self._write_batch(table)

    def _write_batch(self, table: pa.Table) -> None:
        if self._spool_rows and not self._maybe_replay():
            self._spool(table)  # keep order: older spooled rows go first
            return
        if not self._healthy and time.monotonic() < self._next_retry:
            self._spool(table)
            return
        left = self._write(table)
        if left is not None:
            self._spool(left)

    def _table(self, items: list[_Item]) -> pa.Table | None:
        """The rows of ``items`` as one Arrow table, built column by column; a row that
        cannot become a record or a row, or a row Arrow (so no sink or spool) cannot hold,
        is dead-lettered alone, not with the batch."""
        from modelyard.predictions.answered import answered_to_table, record_rows
        from modelyard.predictions.records import rows_to_table

        try:
            return answered_to_table(
                [item if item.__class__ is AnsweredRows else record_rows(item) for item in items]  # type: ignore[arg-type]
            )
        except Exception:  # noqa: BLE001 - find the culprits below
            pass
        units = [(item, a) for item in items for a in _answers_of(item)]
        records = self._convertible(units, _unit_record, _unit_fields)
        rows = self._convertible(records, PredictionRecord.to_row, _record_fields)
        good = self._convertible(rows, _arrow_row, lambda row: row)
        return rows_to_table(good) if good else None

    def _convertible(
        self, items: list[Any], convert: Callable[[Any], Any], fields: Callable[[Any], dict[str, Any]]
    ) -> list[Any]:
        """``convert`` of each item; an item it fails on is dead-lettered (as ``fields(item)``)."""
        out = []
        for item in items:
            try:
                out.append(convert(item))
            except Exception as exc:  # noqa: BLE001 - one bad record must not cost the batch
                self._dead_letter([fields(item)], exc)
        return out

    def _write(self, table: pa.Table, *, suspect: bool = False) -> pa.Table | None:
        """Write ``table``, isolating and dead-lettering the rows the sink refuses.

        Returns the rows not delivered because the sink is unavailable (to be spooled), or
        None. A batch the sink refuses (:meth:`LogSink.rejects`) is split in halves until each
        refused row is alone. With ``suspect`` (a spool file whose replay keeps failing) any
        error splits; single rows that fail while others get through are dead-lettered, and
        :attr:`suspect_streak` single rows failing in a row mean the sink is down after all
        (so an outage costs a bounded number of attempts, not one per row).
        """
        pending: deque[pa.Table] = deque([table])
        delivered = 0
        unexplained: list[tuple[pa.Table, BaseException]] = []
        streak = 0
        while pending:
            chunk = pending.popleft()
            try:
                self.sink.write_table(chunk)
            except Exception as exc:  # noqa: BLE001 - refused rows or an unavailable sink; see below
                refused = self._refuses(exc)
                n = chunk.num_rows
                if (refused or suspect) and n > 1:
                    mid = n // 2
                    pending.extendleft([chunk.slice(mid), chunk.slice(0, mid)])
                    continue
                if refused:
                    self._dead_letter(chunk.to_pylist(), exc)
                    continue
                if not suspect:
                    self._sink_failed(exc)
                    return _concat([chunk, *pending])
                unexplained.append((chunk, exc))
                streak += 1
                if streak < self.suspect_streak:
                    continue
                self._sink_failed(exc)
                return _concat([row for row, _ in unexplained] + list(pending))
            self._sink_ok()
            streak = 0
            delivered += chunk.num_rows
            self._count("written", chunk.num_rows)
        if unexplained and not delivered:
            self._sink_failed(unexplained[-1][1])
            return _concat([row for row, _ in unexplained])
        for row, error in unexplained:
            self._dead_letter(row.to_pylist(), error)
        return None

    def _refuses(self, exc: BaseException) -> bool:
        try:
            return bool(self.sink.rejects(exc))
        except Exception:  # a broken classifier means: not known to be the rows
            logger.exception("the log sink's rejects() failed")
            return False

    def _dead_letter(self, rows: list[dict[str, Any]], exc: BaseException) -> None:
        """Set ``rows`` aside with the error, as JSON lines any tool can read back."""
        import json

        error = f"{type(exc).__name__}: {exc}"
        logger.error("prediction-log sink refused %d record(s) (%s); dead-lettered", len(rows), error)
        if self.dead_letter_dir is None:
            self._lose_rows(rows, "prediction log could not store the record, no dead-letter directory")
            return
        name = f"dead-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        try:
            self.dead_letter_dir.mkdir(parents=True, exist_ok=True)
            with open(self.dead_letter_dir / name, "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps({"error": error, "row": row}, default=_dead_letter_default) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except (OSError, ValueError, TypeError):
            logger.exception("could not write the dead-letter file: dropped %d records", len(rows))
            self._lose_rows(rows, "prediction log dead-letter file not writable")
            return
        self._count("dead_lettered", len(rows))

    def _sink_failed(self, exc: BaseException) -> None:
        self._count("sink_errors")
        self._last_error = f"{type(exc).__name__}: {exc}"
        if self._healthy:
            logger.warning(
                "prediction-log sink failed (%s); spooling to %s", self._last_error, self.spool_dir
            )
        self._healthy = False
        self._next_retry = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_max, self._retry_delay * 2)

    def _sink_ok(self) -> None:
        if not self._healthy:
            logger.info("prediction-log sink is back")
        self._healthy = True
        self._retry_delay = self._retry_min

    # -- spool ---------------------------------------------------------------------------

    def _spool(self, table: pa.Table) -> None:
        if self.spool_dir is None:
            self._lose_rows(table.to_pylist(), "prediction log sink failed, no spool")
            logger.error(
                "prediction-log sink failed and no spool directory is set: dropped %d records", table.num_rows
            )
            return
        if self._spool_bytes >= self.max_spool_bytes:
            self._lose_rows(table.to_pylist(), "prediction log spool full")
            logger.error(
                "prediction-log spool is full (%d bytes): dropped %d records",
                self._spool_bytes,
                table.num_rows,
            )
            return
        name = f"spool-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SPOOL_SUFFIX}"
        self._write_spool_file(self.spool_dir / name, table)

    def _write_spool_file(self, path: Path, table: pa.Table, *, respool: bool = False) -> None:
        """Write a spool file atomically (``respool``: what is left of a replayed file, not new rows)."""
        import pyarrow.parquet as pq

        tmp = path.with_name(f".{path.name}.tmp")
        try:
            pq.write_table(table, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError:
            logger.exception("could not write the prediction-log spool: dropped %d records", table.num_rows)
            tmp.unlink(missing_ok=True)
            self._lose_rows(table.to_pylist(), "prediction log spool not writable")
            return
        size = path.stat().st_size
        with self._lock:
            self._spool_rows += table.num_rows
            self._spool_bytes += size
        if not respool:
            self._count("spooled", table.num_rows)

    def _spool_files(self) -> list[Path]:
        if self.spool_dir is None:
            return []
        return sorted(p for p in self.spool_dir.glob(f"spool-*{_SPOOL_SUFFIX}"))

    def _recover_spool(self) -> None:
        """Count what an earlier process left in the spool; reclaim files of dead claimers."""
        import pyarrow.parquet as pq

        assert self.spool_dir is not None
        for claimed in self.spool_dir.glob(f"spool-*{_SPOOL_SUFFIX}.claimed-*"):
            pid = claimed.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                os.replace(claimed, claimed.with_name(claimed.name.split(".claimed-")[0]))
        for path in self._spool_files():
            try:
                rows = pq.ParquetFile(path).metadata.num_rows
            except Exception:  # noqa: BLE001 - a broken spool file is set aside, not fatal
                logger.error("unreadable prediction-log spool file %s; renamed to .bad", path)
                os.replace(path, path.with_suffix(".bad"))
                continue
            self._spool_rows += rows
            self._spool_bytes += path.stat().st_size
        if self._spool_rows:
            logger.info("prediction-log spool holds %d records from earlier; delivering", self._spool_rows)

    def _maybe_replay(self, *, force: bool = False) -> bool:
        """Deliver spooled batches oldest first; True when the spool is empty afterwards."""
        if not self._spool_rows:
            return True
        if not force and not self._healthy and time.monotonic() < self._next_retry:
            return False
        import pyarrow.parquet as pq

        for path in self._spool_files():
            claimed = path.with_name(f"{path.name}.claimed-{os.getpid()}")
            try:
                os.replace(path, claimed)  # another worker on the same spool may take it first
            except FileNotFoundError:
                continue
            size = claimed.stat().st_size
            try:
                table = _conform(pq.read_table(claimed))
            except Exception:  # a damaged spool file is set aside, the rest goes on
                logger.exception("unreadable prediction-log spool file %s; renamed to .bad", path)
                os.replace(claimed, path.with_suffix(".bad"))
                with self._lock:
                    self._spool_bytes = max(0, self._spool_bytes - size)
                continue
            strikes = self._strikes.get(path.name, 0)
            written = self._counters["written"]  # only this thread changes it
            left = self._write(table, suspect=strikes >= self.suspect_after)
            delivered = self._counters["written"] - written
            if left is not None:  # still down: keep what is left for later, under the same name (same order)
                self._strikes[path.name] = strikes + 1
                if left.num_rows < table.num_rows:
                    with self._lock:
                        self._spool_rows = max(0, self._spool_rows - table.num_rows)
                        self._spool_bytes = max(0, self._spool_bytes - size)
                    self._write_spool_file(path, left, respool=True)
                    claimed.unlink(missing_ok=True)
                    self._count("replayed", delivered)
                else:
                    os.replace(claimed, path)
                return False
            self._strikes.pop(path.name, None)
            claimed.unlink()
            with self._lock:
                self._spool_rows = max(0, self._spool_rows - table.num_rows)
                self._spool_bytes = max(0, self._spool_bytes - size)
            self._count("replayed", delivered)
        if not self._spool_files():
            with self._lock:
                self._spool_rows = 0
                self._spool_bytes = 0
        return self._spool_rows == 0


def _arrow_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` itself once Arrow is known to hold it (raises what Arrow raises)."""
    from modelyard.predictions.records import rows_to_table

    rows_to_table([row])
    return row


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One table of ``tables``' rows, in order."""
    import pyarrow as pa

    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _conform(table: pa.Table) -> pa.Table:
    """A spool file's table with exactly the log's schema (columns in order, types as written now)."""
    from modelyard.predictions.records import arrow_schema

    schema = arrow_schema()
    return table.select(schema.names).cast(schema)


def _answers_of(item: _Item) -> Sequence[Answer | None]:
    return item.answers if isinstance(item, AnsweredRows) else (None,)


def _records_of(items: list[_Item]) -> Iterator[PredictionRecord]:
    """Every row of ``items`` as a :class:`PredictionRecord` (built only when asked for)."""
    for item in items:
        if isinstance(item, AnsweredRows):
            yield from item.records()
        else:
            yield item


def _unit_record(unit: tuple[_Item, Answer | None]) -> PredictionRecord:
    item, answer = unit
    if isinstance(item, AnsweredRows):
        assert answer is not None
        return item.record(answer)
    return item


def _unit_fields(unit: tuple[_Item, Answer | None]) -> dict[str, Any]:
    """A row that could not become a record, as plain fields for its dead-letter line."""
    item, answer = unit
    if not isinstance(item, AnsweredRows):
        return _record_fields(item)
    fields = {"model": item.model, "mode": item.mode, "latency_ms": item.latency_ms}
    fields["timestamp"] = item.timestamp()
    for name in ("row", "request_id", "version", "variant", "prediction", "score", "cached", "error"):
        fields[name] = getattr(answer, name, None)
    return fields


def _record_fields(record: PredictionRecord) -> dict[str, Any]:
    """A record that could not become a row, as plain fields for its dead-letter line."""
    from dataclasses import fields

    return {f.name: getattr(record, f.name) for f in fields(record)}


def _dead_letter_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return repr(value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build_sink(yard: Yard) -> tuple[LogSink, Any]:
    choice = yard.config.serving.log
    spec = yard.host.spec("log_sink", choice.plugin)
    config = spec.validate_settings(choice.settings, file=str(yard.config_file), key="serving.log.settings")
    factory = spec.load()
    sink = factory(config, yard=yard) if config is not None else factory(yard=yard)
    return sink, config


def open_log_sink(yard: Yard) -> LogSink:
    """The log sink the yard's ``serving.log`` names, for reading (monitoring, feedback joins)."""
    return _build_sink(yard)[0]


def open_prediction_logger(yard: Yard, *, host: PluginHost | None = None) -> PredictionLogger:
    """The prediction logger the yard's ``serving.log`` config describes, spooling to ``yard.home/spool``."""
    sink, config = _build_sink(yard)
    tuning: Mapping[str, Any] = config.model_dump() if isinstance(config, LogSinkSettings) else {}
    defaults = LogSinkSettings()
    return PredictionLogger(
        sink,
        flush_interval=tuning.get("flush_interval", defaults.flush_interval),
        max_buffer=tuning.get("max_buffer", defaults.max_buffer),
        max_queue=tuning.get("max_queue", defaults.max_queue),
        max_spool_bytes=tuning.get("max_spool_bytes", defaults.max_spool_bytes),
        spool_dir=yard.home / "spool" / yard.config.serving.log.plugin,
        dead_letter_dir=yard.home / "dead-letter" / yard.config.serving.log.plugin,
        host=host or yard.host,
    )
