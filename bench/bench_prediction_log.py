"""Prediction log: modelyard's CPU per logged record vs the record-per-row log it replaced,
end to end: from a request's answers in the serving pipeline to the bytes written.

Each round answers N serving-like requests (``--rows`` rows each, default 1 as in the serving
benchmark: one entity key, six features, a 0/1 prediction and a score), hands each request's
answers to the log as the server does, and waits until the writer has delivered every row to
the sink: ``parquet`` (Arrow IPC stream parts, fsync per batch, as in production) or, with
``--postgres URL``, the ``postgres`` sink (one transaction per batch). CPU per record is the
CPU of the request-path calls plus the writer thread's own CPU clock over the run (so neither
the waiting loop nor other processes count; a database server's own CPU is not counted);
wall time runs from the first call to the last delivery. The two sides run interleaved, rounds
in rotated order:

* modelyard - ``PredictionLogger.log_answers`` (what ``PredictionService`` calls once per
  request: the answers and references to the request's columns, nothing built per row), then
  one Arrow table per batch built column by column (``answered_to_table``), written as it is
  (``write_table``);
* rows (before) - ``bench/baselines/prediction_log_rows.py``: the path as it was, without
  modelyard: a record and two dicts per answer on the request path, the ``on_prediction`` hook
  fired record by record (the plugin host's dispatcher, as the old logger called it), a dict
  row per record, a table built from the dicts, grouped row by row, same stream writes and
  fsyncs (or the same PostgreSQL insert of the dict rows).

Both sides have the plugin host of the installed plugins, as a server's logger does (no
built-in plugin listens to ``on_prediction``; the new path looks once per batch).

Target (issue 15, target 6): modelyard's CPU per record at most half the row path's.

    .venv/bin/python bench/bench_prediction_log.py [--records 20000] [--rounds 5] [--rows 1]
        [--postgres postgresql+psycopg://localhost/test] [--profile]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "baselines"))

import prediction_log_rows  # noqa: E402
from _timing import profile_here, summary  # noqa: E402

from modelyard.plugins.manager import PluginHost  # noqa: E402
from modelyard.predictions.log import LogSink, PredictionLogger  # noqa: E402
from modelyard.predictions.records import new_request_id  # noqa: E402
from modelyard.serving.pipeline import RowAnswer  # noqa: E402
from modelyard_plugins.log_sinks.parquet import ParquetSink, ParquetSinkConfig  # noqa: E402

MODEL = "trip_acceptance"
KEYS = ["driver_id"]
NAMES = ["conv_rate", "acc_rate", "avg_daily_trips", "trip_distance", "rating", "city_id"]

#: a request as the pipeline holds it when it logs: its columns and its answers
Request = tuple[dict[str, list[Any]], list[RowAnswer]]


def make_requests(n: int, rows: int) -> list[Request]:
    """Requests of ``rows`` rows each, ``n`` rows in all."""
    rng = random.Random(7)
    requests: list[Request] = []
    for start in range(0, n, rows):
        size = min(rows, n - start)
        rid = new_request_id()
        columns: dict[str, list[Any]] = {
            "driver_id": [1000 + (start + j) % 5000 for j in range(size)],
            "conv_rate": [rng.random() for _ in range(size)],
            "acc_rate": [rng.random() for _ in range(size)],
            "avg_daily_trips": [rng.randrange(100) for _ in range(size)],
            "trip_distance": [rng.random() * 20 for _ in range(size)],
            "rating": [rng.random() * 5 for _ in range(size)],
            "city_id": [rng.randrange(40) for _ in range(size)],
        }
        answers = [
            RowAnswer(
                row=j,
                request_id=rid if size == 1 else f"{rid}:{j}",
                model=MODEL,
                version=3,
                variant="default",
                prediction=(start + j) % 2,
                score=rng.random(),
                cached=(start + j) % 5 == 0,
            )
            for j in range(size)
        ]
        requests.append((columns, answers))
    return requests


def _until(done: Callable[[], int], n: int) -> None:
    while done() < n:
        time.sleep(0.002)


def _thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds ``thread`` has used so far (Linux: its own CPU clock)."""
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def _timed(
    log_answers: Callable[..., Any],
    writer: threading.Thread,
    requests: list[Request],
    n: int,
    written: Callable[[], int],
) -> tuple[float, float]:
    """(CPU, wall) seconds to log ``requests`` and have the writer deliver their ``n`` rows: the CPU
    of the logging calls (this thread) plus the writer thread's, so the waiting loop is not counted."""
    writer_cpu, wall = _thread_cpu(writer), time.perf_counter()
    caller_cpu = time.thread_time()
    for columns, answers in requests:
        log_answers(MODEL, "live", answers, columns, KEYS, NAMES, 1.7)
    caller_cpu = time.thread_time() - caller_cpu
    _until(written, n)
    return caller_cpu + _thread_cpu(writer) - writer_cpu, time.perf_counter() - wall


HOST = PluginHost.from_entry_points()  # as a server's logger has: every installed plugin


class Sinks:
    """Where each side writes: a fresh directory per run, or fresh tables in PostgreSQL."""

    def __init__(self, root: Path, postgres: str | None) -> None:
        self.root = root
        self.url = postgres
        self.tables: list[str] = []
        self.engine: Any = None
        if postgres is not None:
            import sqlalchemy as sa

            self.engine = sa.create_engine(postgres)

    def _table_name(self) -> str:
        name = f"bench_predlog_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.tables.append(name)
        return name

    def modelyard(self, run: str) -> LogSink:
        if self.url is None:
            return ParquetSink(ParquetSinkConfig(path=str(self.root / run)))
        from modelyard_plugins.log_sinks.postgres import PostgresSink, PostgresSinkConfig

        sink = PostgresSink(PostgresSinkConfig(url=self.url, table=self._table_name()))
        sink._ensure_table()  # created before the clock starts, as the baseline's is
        return sink

    def rows(self, run: str) -> dict[str, Any]:
        if self.url is None:
            return {}
        import sqlalchemy as sa

        table = prediction_log_rows.postgres_table(sa.MetaData(), self._table_name())
        table.metadata.create_all(self.engine)
        return {"postgres": (self.engine, table)}

    def drop(self) -> None:
        if self.engine is None:
            return
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            for name in self.tables:
                conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
        self.engine.dispose()


def run_modelyard(requests: list[Request], n: int, sinks: Sinks, run: str) -> tuple[float, float]:
    logger = PredictionLogger(
        sinks.modelyard(run),
        flush_interval=0.05,
        max_buffer=1000,
        spool_dir=sinks.root / f"spool-{run}",
        host=HOST,
    )
    out = _timed(logger.log_answers, logger._thread, requests, n, lambda: logger.stats["written"])
    logger.close()
    return out


def run_rows(requests: list[Request], n: int, sinks: Sinks, run: str) -> tuple[float, float]:
    log = prediction_log_rows.RowLog(
        sinks.root / run, max_buffer=1000, flush_interval=0.05, each=HOST.on_prediction, **sinks.rows(run)
    )
    out = _timed(log.log_answers, log._thread, requests, n, lambda: log.written)
    log.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1, help="rows per request")
    parser.add_argument("--postgres", metavar="URL", help="write to this database (postgres sink)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile modelyard's side, request path and writer"
    )
    args = parser.parse_args()
    n = args.records
    requests = make_requests(n, args.rows)
    # the inputs and the imported modules are nobody's garbage: frozen, a full collection does
    # not walk them (which costs whichever side happens to trigger it); each side's own
    # allocations are still collected, and counted, as in a server
    gc.collect()
    gc.freeze()
    sides = {"modelyard": run_modelyard, "rows (before)": run_rows}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    wall: dict[str, list[float]] = {k: [] for k in sides}
    with tempfile.TemporaryDirectory() as tmp:
        sinks = Sinks(Path(tmp), args.postgres)
        try:
            names = list(sides)
            for r in range(args.rounds + 1):  # round 0 warms both up and is not counted
                for name in names[r % 2 :] + names[: r % 2]:
                    c, w = sides[name](requests, n, sinks, f"{name[:4]}-{r}")
                    if r:
                        cpu[name].append(c / n * 1e6)
                        wall[name].append(w / n * 1e6)
            if args.profile:
                logger = PredictionLogger(sinks.modelyard("profile"), flush_interval=3600, max_buffer=1000)

                def work() -> None:
                    for columns, answers in requests:
                        logger.log_answers(MODEL, "live", answers, columns, KEYS, NAMES, 1.7)
                    while logger._records:
                        logger._deliver(logger._take(len(logger._records)))

                profile_here(work, "prediction_log")
                logger.close()
        finally:
            sinks.drop()
    sink = "postgres" if args.postgres else "parquet"
    print(
        f"\nprediction log ({sink} sink), {n} records per round in requests of {args.rows} row(s), "
        f"{args.rounds} rounds (us per record), load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  {'side':<16} {'cpu min':>8} {'median':>8} {'max':>8}   {'wall min':>8} {'median':>8} {'max':>8}"
    )
    for name in sides:
        c, w = summary(cpu[name]), summary(wall[name])
        print(
            f"  {name:<16} {c['min']:>8.2f} {c['median']:>8.2f} {c['max']:>8.2f}   "
            f"{w['min']:>8.2f} {w['median']:>8.2f} {w['max']:>8.2f}"
        )
    base = summary(cpu["rows (before)"])
    mine = summary(cpu["modelyard"])
    ratio = mine["median"] / base["median"]
    # each round runs both sides back to back: the ratio within a round cancels the machine's drift
    paired = summary([m / b for m, b in zip(cpu["modelyard"], cpu["rows (before)"], strict=True)])
    print(
        f"  CPU per record, modelyard / before: {ratio:.2f} (median), {mine['min'] / base['min']:.2f} (min), "
        f"{paired['median']:.2f} (median of the rounds' ratios, {paired['min']:.2f}-{paired['max']:.2f})"
    )
    print(f"  target <= 0.50: {'met' if ratio <= 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
