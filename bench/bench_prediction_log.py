"""Prediction log: modelyard's CPU per logged record vs the row-by-row write path it replaced.

Each round logs N serving-like records (one entity key, six features, a 0/1 prediction and a
score) and waits until the writer has delivered every one to a ``parquet`` sink (Arrow IPC
stream parts, fsync per batch, as in production). CPU per record is the CPU of the ``log``
calls plus the writer thread's own CPU clock over the run (so neither the waiting loop nor
other processes count); wall time runs from the first ``log`` call to the last delivery. The two sides run interleaved, rounds in
rotated order:

* modelyard - ``PredictionLogger`` + the ``parquet`` sink: records become one Arrow table per
  batch, column by column (``records_to_table``), written as they are (``write_table``);
* rows (before) - ``bench/baselines/prediction_log_rows.py``: the path as it was, without
  modelyard: the ``on_prediction`` hook fired record by record (the plugin host's dispatcher,
  as the old logger called it), a dict per record, a table built from the dicts, grouped row
  by row, same stream writes and fsyncs.

Both sides have the plugin host of the installed plugins, as a server's logger does (no
built-in plugin listens to ``on_prediction``; the new path looks once per batch).

Target (issue 15, target 6): modelyard's CPU per record at most half the row path's.

    .venv/bin/python bench/bench_prediction_log.py [--records 20000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "baselines"))

import prediction_log_rows  # noqa: E402
from _timing import profile_here, summary  # noqa: E402

from modelyard.plugins.manager import PluginHost  # noqa: E402
from modelyard.predictions.log import PredictionLogger  # noqa: E402
from modelyard.predictions.records import PredictionRecord, new_request_id  # noqa: E402
from modelyard_plugins.log_sinks.parquet import ParquetSink, ParquetSinkConfig  # noqa: E402


def make_records(n: int) -> list[PredictionRecord]:
    rng = random.Random(7)
    return [
        PredictionRecord(
            request_id=new_request_id(),
            model="trip_acceptance",
            version=3,
            prediction=i % 2,
            entities={"driver_id": 1000 + i % 5000},
            features={
                "conv_rate": rng.random(),
                "acc_rate": rng.random(),
                "avg_daily_trips": rng.randrange(100),
                "trip_distance": rng.random() * 20,
                "rating": rng.random() * 5,
                "city_id": rng.randrange(40),
            },
            variant="default",
            score=rng.random(),
            latency_ms=1.7,
            cache_hit=i % 5 == 0,
        )
        for i in range(n)
    ]


def _until(done, n: int) -> None:
    while done() < n:
        time.sleep(0.002)


def _thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds ``thread`` has used so far (Linux: its own CPU clock)."""
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def _timed(log, writer: threading.Thread, records: list[PredictionRecord], written) -> tuple[float, float]:
    """(CPU, wall) seconds to log ``records`` and have the writer deliver them all: the CPU of the
    logging calls (this thread) plus the writer thread's, so the waiting loop is not counted."""
    writer_cpu, wall = _thread_cpu(writer), time.perf_counter()
    caller_cpu = time.thread_time()
    for r in records:
        log(r)
    caller_cpu = time.thread_time() - caller_cpu
    _until(written, len(records))
    return caller_cpu + _thread_cpu(writer) - writer_cpu, time.perf_counter() - wall


HOST = PluginHost.from_entry_points()  # as a server's logger has: every installed plugin


def run_modelyard(records: list[PredictionRecord], root: Path) -> tuple[float, float]:
    sink = ParquetSink(ParquetSinkConfig(path=str(root / "logs")))
    logger = PredictionLogger(sink, flush_interval=0.05, max_buffer=1000, spool_dir=root / "spool", host=HOST)
    out = _timed(logger.log, logger._thread, records, lambda: logger.stats["written"])
    logger.close()
    return out


def run_rows(records: list[PredictionRecord], root: Path) -> tuple[float, float]:
    log = prediction_log_rows.RowLog(
        root / "logs", max_buffer=1000, flush_interval=0.05, each=HOST.on_prediction
    )
    out = _timed(log.log, log._thread, records, lambda: log.written)
    log.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile modelyard's writer work")
    args = parser.parse_args()
    records = make_records(args.records)
    sides = {"modelyard": run_modelyard, "rows (before)": run_rows}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    wall: dict[str, list[float]] = {k: [] for k in sides}
    with tempfile.TemporaryDirectory() as tmp:
        names = list(sides)
        for r in range(args.rounds + 1):  # round 0 warms both up and is not counted
            for name in names[r % 2 :] + names[: r % 2]:
                c, w = sides[name](records, Path(tmp) / f"{name[:4]}-{r}")
                if r:
                    cpu[name].append(c / args.records * 1e6)
                    wall[name].append(w / args.records * 1e6)
        if args.profile:
            sink = ParquetSink(ParquetSinkConfig(path=str(Path(tmp) / "profile")))
            logger = PredictionLogger(sink, flush_interval=3600, max_buffer=1000)
            batches = [records[i : i + 1000] for i in range(0, len(records), 1000)]
            profile_here(lambda: [logger._deliver(b) for b in batches], "prediction_log")
            logger.close()
    print(f"\nprediction log, {args.records} records per round, {args.rounds} rounds (us per record)")
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
    print(
        f"  CPU per record, modelyard / before: {ratio:.2f} (median), {mine['min'] / base['min']:.2f} (min)"
    )
    print(f"  target <= 0.50: {'met' if ratio <= 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
