"""Benchmark: Dask batch scoring of an input several times larger than a worker's memory limit.

Set-up (once, in ``--work``): the rideshare example of ``bench_batch.py`` at ``--repo-rows``
entity rows with its trained ONNX model; then the input, ``big.parquet``: those entity rows
repeated to ``--rows`` rows, each with a ``payload`` column of ``--payload-bytes`` random text
(carried to the output like any input column), so that the input's Arrow size is ``--times``
times the worker's ``--memory-limit``.

Run, all from the command line on ports ``--port`` and ``--port + 1``: a ``dask scheduler``, one
``dask worker --nthreads 1 --memory-limit LIMIT`` with its nanny (which restarts a worker
that passes 95% of its limit, and Dask pauses it at 80%), and ``modelyard score --engine dask
--scheduler ...`` in a fresh process. While it runs the worker's RSS is sampled with psutil
every 0.1 s. Then the worker's own peak (``ru_maxrss``), whether it spilled to disk, and that
it is the same process (no restart) are read through a Client; the output is compared with
``modelyard score`` on the local engine, column by column (a digest of every column read in
batches, so the comparison itself fits in memory). Exit status 1 when any check fails.

    python bench/bench_batch_memory.py [--memory-limit 400MB] [--times 3] [--chunk-rows 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import PY, RESULTS, run_fresh, stop_processes
from bench_batch import score_cmd, set_up

PART_ROWS = 50_000


def parse_bytes(text: str) -> int:
    from dask.utils import parse_bytes as dask_parse

    return int(dask_parse(text))


def write_input(entities: Path, out: Path, rows: int, payload_bytes: int) -> int:
    """``rows`` rows of ``entities`` (repeated) plus a random text ``payload``; returns the Arrow bytes."""
    import base64

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = pq.read_table(entities)
    rng = np.random.default_rng(0)
    nbytes = 0
    with pq.ParquetWriter(out, base.schema.append(pa.field("payload", pa.string()))) as writer:
        done = 0
        while done < rows:
            n = min(PART_ROWS, rows - done)
            start = done % base.num_rows
            part = base.slice(start, min(n, base.num_rows - start))
            n = part.num_rows
            text = base64.b64encode(rng.bytes(n * payload_bytes * 3 // 4 + 3))[: n * payload_bytes]
            offsets = pa.py_buffer(np.arange(0, n * payload_bytes + 1, payload_bytes, dtype=np.int32))
            payload = pa.StringArray.from_buffers(n, offsets, pa.py_buffer(text))
            part = part.append_column("payload", payload)
            writer.write_table(part)
            nbytes += part.nbytes
            done += n
    return nbytes


def column_digests(path: Path) -> dict[str, str]:
    """A digest of each column's values in order, read in batches (independent of row groups)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    digests = {name: hashlib.sha256() for name in file.schema_arrow.names}
    for batch in file.iter_batches(batch_size=20_000):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            h = digests[name]
            h.update(np.asarray(column.is_null()).tobytes())
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                filled = column.fill_null("")
                h.update(np.asarray(pc.utf8_length(filled)).tobytes())
                h.update("".join(filled.to_pylist()).encode())
            elif pa.types.is_dictionary(column.type):
                h.update("\x00".join(map(str, column.to_pylist())).encode())
            else:
                h.update(np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False)).tobytes())
    return {name: h.hexdigest() for name, h in digests.items()}


class Sampler(threading.Thread):
    """The RSS of one process, every ``every`` seconds, until stopped."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        import psutil

        self.process = psutil.Process(pid)
        self.every = every
        self.peak = 0
        self.samples = 0
        self.alive = True
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._stop_event.wait(self.every):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
                self.samples += 1
            except psutil.NoSuchProcess:
                self.alive = False
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def worker_state(address: str) -> dict[str, Any]:
    """The worker's pid, peak RSS (bytes), spilled bytes and status, read through a Client."""
    from dask.distributed import Client

    def state(dask_worker: Any) -> dict[str, Any]:
        import os as _os
        import resource as _resource

        spilled = getattr(dask_worker.data, "spilled_total", None)
        return {
            "pid": _os.getpid(),
            "ru_maxrss": _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss * 1024,
            "spilled_bytes": int(getattr(spilled, "disk", 0) or 0) if spilled is not None else 0,
            "spilled_keys": len(getattr(dask_worker.data, "slow", {}) or {}),
            "memory_limit": dask_worker.memory_manager.memory_limit,
            "status": str(dask_worker.status),
        }

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(1, timeout=180)
        answers = client.run(state)
    if len(answers) != 1:
        raise RuntimeError(f"expected one worker, the scheduler knows {len(answers)}: {answers}")
    return next(iter(answers.values()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-limit", default="400MB", help="the worker's --memory-limit")
    parser.add_argument("--times", type=float, default=3.0, help="input size (Arrow) / memory limit")
    parser.add_argument("--payload-bytes", type=int, default=2000)
    parser.add_argument("--repo-rows", type=int, default=100_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds before the Dask run counts as hung (a paused worker)",
    )
    parser.add_argument("--port", type=int, default=22000, help="the scheduler's port (the worker's is +1)")
    parser.add_argument("--work", help="directory for the generated yard and files (reused between runs)")
    args = parser.parse_args()

    limit = parse_bytes(args.memory_limit)
    work = Path(args.work or tempfile.gettempdir()) / f"modelyard-bench-batch-{args.repo_rows}"
    repo, entities, _ = set_up(work, args.repo_rows)
    rows = int(args.times * limit / (args.payload_bytes + 40))
    big = work / f"big-{rows}x{args.payload_bytes}.parquet"
    if not big.exists():
        nbytes = write_input(entities, big, rows, args.payload_bytes)
        (work / f"{big.name}.bytes").write_text(str(nbytes))
    nbytes = int((work / f"{big.name}.bytes").read_text())
    print(
        f"input: {rows:,} rows, {nbytes / 2**20:,.0f} MiB in Arrow ({big.stat().st_size / 2**20:,.0f} MiB of "
        f"Parquet), {nbytes / limit:.1f}x the worker's memory limit {args.memory_limit}; "
        f"load average {os.getloadavg()}"
    )

    local_out, dask_out = work / "memory_local.parquet", work / "memory_dask.parquet"
    local_seconds = run_fresh(score_cmd(repo, big, local_out, "--chunk-rows", str(args.chunk_rows)))
    local_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"local engine: {local_seconds:.1f} s, peak RSS {local_peak / 2**20:,.0f} MiB")

    bin_dir = Path(PY).parent
    address = f"tcp://127.0.0.1:{args.port}"
    logs = work / "memory-logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False", "MODELYARD_FEAST_TYPECHECKS": "0"}
    procs = []
    with (logs / "scheduler.log").open("w") as sched_log, (logs / "worker.log").open("w") as worker_log:
        try:
            procs.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "dask"),
                        "scheduler",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(args.port),
                        "--no-dashboard",
                    ],
                    stdout=sched_log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
            procs.append(
                subprocess.Popen(
                    [
                        *[str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
                        *["--memory-limit", args.memory_limit, "--worker-port", str(args.port + 1)],
                        *["--nanny-port", str(args.port + 2), "--local-directory", str(work / "dask-space")],
                    ],
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
            before = worker_state(address)
            sampler = Sampler(before["pid"])
            sampler.start()
            started = time.perf_counter()
            run_fresh(
                score_cmd(
                    repo,
                    big,
                    dask_out,
                    "--engine",
                    "dask",
                    "--scheduler",
                    address,
                    "--chunk-rows",
                    str(args.chunk_rows),
                ),
                timeout=args.timeout,
            )
            dask_seconds = time.perf_counter() - started
            sampler.stop()
            after = worker_state(address)
        finally:
            stop_processes(procs, timeout=30)

    worker_text = (logs / "worker.log").read_text()
    restarted = after["pid"] != before["pid"] or not sampler.alive or "Restarting worker" in worker_text
    warnings = [line for line in worker_text.splitlines() if "distributed.worker.memory" in line]
    paused = "Pausing worker" in worker_text
    same = column_digests(dask_out) == column_digests(local_out)
    peak = max(after["ru_maxrss"], sampler.peak)
    results = {
        "rows": rows,
        "input_arrow_bytes": nbytes,
        "memory_limit": limit,
        "chunk_rows": args.chunk_rows,
        "local_seconds": local_seconds,
        "dask_seconds": dask_seconds,
        "worker_rss_before": before["ru_maxrss"],
        "worker_peak_rss": peak,
        "worker_rss_samples": sampler.samples,
        "spilled_bytes": after["spilled_bytes"],
        "restarted": restarted,
        "paused": paused,
        "memory_log_lines": warnings,
        "output_equals_local": same,
        "load_avg_end": os.getloadavg(),
    }
    print(
        f"dask, 1 worker (--memory-limit {args.memory_limit}): {dask_seconds:.1f} s; worker RSS "
        f"{before['ru_maxrss'] / 2**20:,.0f} MiB after start-up, peak {peak / 2**20:,.0f} MiB "
        f"({peak / limit:.0%} of the limit, {sampler.samples} samples); spilled "
        f"{after['spilled_bytes'] / 2**20:,.1f} MiB; restarted: {restarted}; paused: {paused}; output equals local: {same}"
    )
    for line in warnings:
        print(f"  worker log: {line}")
    print(f"load average at the end {os.getloadavg()}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch_memory.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    ok = same and not restarted and peak < limit and not after["spilled_bytes"]
    print("bounded memory, no restart, no spill, same output:", "MET" if ok else "NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
