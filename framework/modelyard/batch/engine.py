"""The batch scoring engines: local (this process) and Dask (a LocalCluster or a scheduler address).

Both read the source in the same chunks, score each chunk with
:class:`~modelyard.batch.scorer.ChunkScorer` and write the results in input order with one
``ParquetWriter`` to a temporary file that is fsynced and renamed onto ``out`` at the end, so
the output is identical whichever engine ran, and a failed or killed run leaves no
half-written file at ``out``. The writing runs in a background thread (pyarrow releases the
GIL while it encodes and writes), so it overlaps the scoring of what comes next: the local
engine joins a whole chunk at once and predicts it in parts of :data:`PART_ROWS` rows, handing
each part to the writer. Memory stays bounded: the local engine holds one chunk plus at most
:data:`WRITE_QUEUE` parts waiting for the writer; the Dask engine keeps at most
``2 x workers`` chunks in flight (and :data:`WRITE_QUEUE` results waiting for the writer).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from modelyard.batch.scorer import OUTPUT_COLUMNS, load_scorer, score_chunk_task
from modelyard.errors import BadRequest, BatchError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from modelyard.batch.sources import EntitySource
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

Engine = Literal["local", "dask"]

#: rows the local engine predicts at a time and hands to the writer (one Parquet row group each)
PART_ROWS = 50_000
#: result frames waiting for the writer thread at most
WRITE_QUEUE = 2
#: Parquet codec of the output: pandas' and pyarrow's default. "none" and "lz4" write 100k scored rows
#: 1-3 ms faster (in the background thread) but make larger files, so the default stays.
COMPRESSION = "snappy"


@dataclass(frozen=True)
class ScoreResult:
    """What a batch run wrote."""

    model: str
    version: int
    out: str
    rows: int
    chunks: int
    engine: str
    seconds: float


def resolve_version(yard: Yard, model: str, version: int | None, alias: str | None) -> int:
    """The version to score with: ``version``, the holder of ``alias``, else of ``production``, else the latest."""
    from modelyard.errors import AliasNotFound

    yard.model(model)
    registry = yard.registry
    if version is not None and alias is not None:
        raise BadRequest("give either --version or --alias, not both")
    if version is not None or alias is not None:
        return registry.get_version(model, version, alias=alias).version
    try:
        return registry.get_version(model, alias="production").version
    except AliasNotFound:
        return registry.get_version(model).version


def score(
    yard: Yard,
    model: str,
    source: EntitySource,
    out: str | os.PathLike[str],
    *,
    version: int | None = None,
    alias: str | None = None,
    engine: Engine = "local",
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
    chunk_rows: int = 200_000,
    timestamp: str = "event_timestamp",
    progress: bool = False,
) -> ScoreResult:
    """Score every row of ``source`` with ``model`` and write ``out`` (Parquet).

    Output columns: the input's, then ``prediction``, ``score`` (binary classifiers),
    ``model`` and ``version``. Features are read as of each row's ``timestamp`` column by
    Feast's point-in-time join, never from later. ``engine="dask"`` runs on ``scheduler``
    (a dask.distributed address) or on a LocalCluster of ``workers`` workers.
    """
    if chunk_rows < 1:
        raise BadRequest("chunk_rows must be at least 1")
    if engine not in ("local", "dask"):
        raise BadRequest(f"unknown engine {engine!r}; choose local or dask")
    resolved = resolve_version(yard, model, version, alias)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    started = time.perf_counter()
    total = source.num_rows
    rows = chunks = 0
    with (
        _Progress(progress, total, f"scoring {model} v{resolved}") as bar,
        _ParquetSink(tmp, source.arrow_schema, out_path) as sink,
    ):
        if engine == "local":
            scorer = load_scorer(yard, model, resolved, timestamp=timestamp, background=True)
            for chunk in source.chunks(chunk_rows):
                for part in scorer.score_parts(chunk, PART_ROWS):
                    sink.put(part)
                    rows += len(part)
                    bar.advance(len(part))
                chunks += 1
        else:
            with _dask_client(scheduler, workers, processes) as client:
                from modelyard.batch.dask_plugin import ScorerPreload

                # each worker loads the yard and the model once, as it joins, not in its first chunk
                client.register_plugin(ScorerPreload(str(yard.path), model, resolved, timestamp))
                window = 2 * max(1, len(client.scheduler_info().get("workers", {})) or workers)
                needed = _worker_columns(yard, model, timestamp)
                for frame in _dask_results(
                    client, str(yard.path), model, resolved, timestamp, source, chunk_rows, window, needed
                ):
                    sink.put(frame)
                    rows += len(frame)
                    chunks += 1
                    bar.advance(len(frame))
        sink.close()
    os.replace(tmp, out_path)
    seconds = time.perf_counter() - started
    logger.info(
        "scored %d rows of %s with %s v%d in %.1fs (%s)", rows, source, model, resolved, seconds, engine
    )
    return ScoreResult(model, resolved, str(out_path), rows, chunks, engine, seconds)


def _dask_results(
    client: Any,
    repo: str,
    model: str,
    version: int,
    timestamp: str,
    source: EntitySource,
    chunk_rows: int,
    window: int,
    needed: frozenset[str] | None = None,
) -> Iterator[pa.Table]:
    """Submit chunks with at most ``window`` in flight; yield results (Arrow tables) in input order.

    With ``needed`` (see :func:`_worker_columns`), a chunk with other columns too is sent with
    the needed ones only and its other columns stay here, joined to the worker's prediction
    columns when the result comes: a wide input (text, payloads) never reaches the workers.
    """
    in_flight: deque[tuple[Any, pd.DataFrame | None]] = deque()
    run = uuid.uuid4().hex[:12]
    try:
        for i, chunk in enumerate(source.chunks(chunk_rows)):
            narrow = _narrow(chunk, needed)
            future = client.submit(
                score_chunk_task,
                repo,
                model,
                version,
                timestamp,
                chunk if narrow is None else narrow,
                key=f"modelyard-score-{run}-{i}",
            )
            in_flight.append((future, None if narrow is None else chunk))
            if len(in_flight) >= window:
                yield _joined(client, *in_flight.popleft())
        while in_flight:
            yield _joined(client, *in_flight.popleft())
    finally:
        for future, _ in in_flight:
            future.cancel()


def _worker_columns(yard: Yard, model: str, timestamp: str) -> frozenset[str] | None:
    """The input columns a worker's point-in-time join reads, or ``None`` to send whole chunks.

    Known without Feast when the model's features are read from Feast's registry file
    (:meth:`~modelyard.features.store.FeatureFacade.plan`, which reads no on-demand view and so
    no request data): the entity keys and the timestamp. Columns named like a feature go too, so
    the worker refuses them exactly as the local engine does.
    """
    if yard.features.plan(model) is None:
        return None
    return frozenset([*yard.model(model).entity_keys, timestamp, *yard.features.schema(model).names])


def _narrow(chunk: pd.DataFrame, needed: frozenset[str] | None) -> pd.DataFrame | None:
    """``chunk`` with only the ``needed`` columns, or ``None`` when it has no others (or one the output adds)."""
    if needed is None or any(name in OUTPUT_COLUMNS for name in chunk.columns):
        return None
    keep = [name for name in chunk.columns if name in needed]
    return None if len(keep) == len(chunk.columns) else chunk[keep]


def _joined(client: Any, future: Any, kept: pd.DataFrame | None) -> pa.Table:
    """The worker's result; for a narrowed chunk, the kept chunk's columns then the added ones."""
    scored = _result(client, future)
    if kept is None:
        return scored
    import pyarrow as pa

    table = pa.Table.from_pandas(kept, preserve_index=False)
    for name in OUTPUT_COLUMNS:
        if name in scored.column_names:
            table = table.append_column(scored.schema.field(name), scored.column(name))
    return table


#: seconds the client waits for the next result before it asks the scheduler whether the workers are paused
PAUSED_CHECK_SECONDS = 30.0


def _result(client: Any, future: Any) -> Any:
    """``future.result()``, warning once if it waits on workers that are all paused.

    Dask pauses a worker whose memory passes its pause threshold (80% of ``--memory-limit``)
    and starts no task on it until the memory falls; when the memory is the worker's loaded
    libraries and model rather than chunks, it never does, and the run would wait silently.
    """
    from distributed import TimeoutError as DaskTimeoutError

    warned = False
    while True:
        try:
            return future.result(timeout=PAUSED_CHECK_SECONDS)
        except DaskTimeoutError:
            workers = client.scheduler_info(n_workers=-1).get("workers", {})
            paused = [w for w, info in workers.items() if info.get("status") == "paused"]
            if not warned and workers and len(paused) == len(workers):
                warned = True
                logger.warning(
                    "every Dask worker (%d) is paused: its memory is above Dask's pause threshold "
                    "(80%% of --memory-limit), so no chunk runs until it falls. Lower --chunk-rows, or "
                    "give the workers more --memory-limit (a worker needs its libraries and the model "
                    "plus about four chunks); see docs/scaling.md",
                    len(workers),
                )


#: seconds a LocalCluster's worker process gets to exit at the end of a run. Dask's own close gives
#: it 4 s, then kills it with a warning; a worker that imported Feast and a model needs longer to
#: finish its interpreter on a loaded machine.
WORKER_CLOSE_SECONDS = 60.0


class _dask_client:
    """A Client on ``scheduler``, or on a LocalCluster this run starts and stops (cleanly: the
    client first, then each worker given :data:`WORKER_CLOSE_SECONDS` to exit, then the cluster)."""

    def __init__(self, scheduler: str | None, workers: int, processes: bool) -> None:
        self.scheduler, self.workers, self.processes = scheduler, workers, processes
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> Any:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise BadRequest(
                "the dask engine needs dask[distributed]: pip install 'modelyard[dask]'"
            ) from None
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout="10s")
            except OSError as exc:
                raise BadRequest(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None
        else:
            self.cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=self.processes,
                dashboard_address=None,
                # no dashboard; the scheduler's HTTP routes on a free local port, not 8787 (taken
                # by any other cluster on the machine, which Dask then warns about)
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )
            self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            cluster = self.cluster

            async def close_workers() -> None:
                import asyncio

                workers = list(cluster.workers.values())
                await asyncio.gather(
                    *(w.close(timeout=WORKER_CLOSE_SECONDS) for w in workers), return_exceptions=True
                )

            if self.processes:
                cluster.sync(close_workers)
            cluster.close()


class _ParquetSink:
    """Writes result frames, in the order put, to one Parquet file from a background thread.

    ``put`` hands a frame over (waiting while :data:`WRITE_QUEUE` frames are already queued);
    the first frame fixes the schema (:func:`_output_schema`). ``close`` waits for the last
    write, closes and fsyncs the file. If the writer fails, the next ``put`` or ``close``
    raises :class:`~modelyard.errors.BatchError` (it never waits on a dead writer); leaving
    the ``with`` block on any error stops the thread and deletes the file.
    """

    _POLL_SECONDS = 0.2

    def __init__(self, path: Path, input_schema: pa.Schema | None, out: Path) -> None:
        self.path, self.input_schema, self.out = path, input_schema, out
        self._queue: queue.Queue[pd.DataFrame | pa.Table | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self._error: BaseException | None = None
        self._abort = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="modelyard-batch-writer", daemon=True)

    def __enter__(self) -> _ParquetSink:
        self._thread.start()
        return self

    def put(self, frame: pd.DataFrame | pa.Table) -> None:
        """Queue ``frame`` (a DataFrame or an Arrow table) for writing; raises BatchError if the writer has failed."""
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(frame, timeout=self._POLL_SECONDS)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until everything put is written and the file is closed and synced."""
        if not self._closed:
            self._closed = True
            self._stop()
        self._raise_if_failed()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.close()
                return
        except BaseException:
            self._discard()
            raise
        self._discard()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise BatchError(
                f"writing the scores to {self.out} failed: {type(self._error).__name__}: {self._error}"
            ) from self._error
        if self._closed or self._thread.is_alive():
            return
        raise BatchError(f"the thread writing the scores to {self.out} stopped unexpectedly")

    def _stop(self) -> None:
        """Tell the thread to finish (after what is queued) and wait for it."""
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=self._POLL_SECONDS)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _discard(self) -> None:
        """After a failure: stop the thread without writing what is queued and delete the file."""
        self._closed = True
        self._abort.set()
        self._stop()
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = None
        try:
            while (frame := self._queue.get()) is not None:
                if self._abort.is_set():
                    continue
                if writer is None:
                    schema = _output_schema(frame, self.input_schema)
                    writer = pq.ParquetWriter(
                        self.path,
                        schema,
                        compression=COMPRESSION,
                        # probabilities are all distinct: trying a dictionary for them only costs time
                        use_dictionary=[name for name in schema.names if name != "score"],
                    )
                if isinstance(frame, pa.Table):  # converted by a Dask worker already
                    table = frame.cast(schema) if frame.schema.remove_metadata() != schema else frame
                else:
                    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
                writer.write_table(table)
                del table
                del frame
            if self._abort.is_set():
                return
            if writer is None:  # empty input: an empty file with the input's columns
                writer = pq.ParquetWriter(
                    self.path, self.input_schema or pa.schema([]), compression=COMPRESSION
                )
            writer.close()
            writer = None
            with open(self.path, "r+b") as synced:
                os.fsync(synced.fileno())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by put() or close()
            self._error = exc
        finally:
            if writer is not None:
                try:
                    writer.close()
                except (
                    OSError,
                    pa.ArrowException,
                ) as exc:  # the file is deleted anyway: keep the first error
                    logger.debug("closing the batch output after an error failed: %s", exc)


def _output_schema(first: pd.DataFrame | pa.Table, input_schema: pa.Schema | None) -> pa.Schema:
    """The input's schema (when known) for its columns, the first result's types for the added ones."""
    import pyarrow as pa

    inferred = (
        first.schema if isinstance(first, pa.Table) else pa.Schema.from_pandas(first, preserve_index=False)
    ).remove_metadata()
    if input_schema is None:
        fields = [f if not pa.types.is_null(f.type) else pa.field(f.name, pa.string()) for f in inferred]
        return pa.schema(fields)
    fields = [input_schema.field(f.name) if f.name in input_schema.names else f for f in inferred]
    return pa.schema(fields)


class _Progress:
    """A rich progress bar over rows, or nothing."""

    def __init__(self, enabled: bool, total: int | None, description: str) -> None:
        self.enabled, self.total, self.description = enabled, total, description
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
