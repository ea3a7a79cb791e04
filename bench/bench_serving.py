"""Serving benchmark: our one-entity predict over HTTP vs a bare Starlette JSON endpoint, same run.

Setup (all in a temp dir, nothing shared): a private ``redis-server`` on a spare port as the
Feast online store, a copy of the example yard with generated data, materialized; a
scikit-learn pipeline trained on it and registered with the ``onnx`` flavor (and, for
comparison, the same pipeline with the ``sklearn`` flavor); the default Parquet prediction log.

Measured, each server a separate uvicorn process with one worker, the load generator a
separate process (a raw keep-alive HTTP/1.1 client on asyncio):

* latency: sequential requests (concurrency 1), p50 / p99 / p99.9 / max;
* throughput: 8 concurrent connections for a fixed time, requests per second, in ``--rounds``
  rounds that alternate between the servers (all of them up at once), best round of each:
  on a shared machine a burst of other work then hits both sides instead of one;
* server time in-process (no HTTP): cache miss and cache hit of ``PredictionService.predict``.

Targets (issue 4): predict p50 < 2 ms; throughput >= 0.25x bare Starlette; cache hit < 0.3 ms.
Run: ``.venv/bin/python bench/bench_serving.py [--seconds 5] [--requests 5000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

PY = sys.executable
EXAMPLE_END = "2026-01-29T00:00:00+00:00"
DATA = {"seed": 7, "drivers": 40, "customers": 150, "days": 21, "trips": 2000}

BARE_APP = """
import json
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def predict(request):
    body = json.loads(await request.body())
    return Response(json.dumps({"prediction": 1, "entities": body["entities"]}), media_type="application/json")

app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
"""

CLIENT = r"""
import asyncio, json, sys, time

host, port, path, concurrency, seconds, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
bodies = json.loads(sys.stdin.read())
requests = []
for body in bodies:
    data = json.dumps(body).encode()
    requests.append(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
    )

async def one(reader, writer, request):
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status

async def worker(i, deadline, latencies, errors, limit):
    reader, writer = await asyncio.open_connection(host, port)
    n = i
    while time.perf_counter() < deadline and (limit is None or len(latencies) < limit):
        request = requests[n % len(requests)]
        n += concurrency
        start = time.perf_counter()
        status = await one(reader, writer, request)
        latencies.append(time.perf_counter() - start)
        if status != 200:
            errors.append(status)
    writer.close()

async def main():
    latencies, errors = [], []
    limit = count if count > 0 else None
    start = time.perf_counter()
    await asyncio.gather(*(worker(i, start + seconds, latencies, errors, limit) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    print(json.dumps({"latencies": latencies, "errors": len(errors), "elapsed": elapsed}))

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}").status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server on port {port} did not come up")


def load(
    port: int, path: str, bodies: list[dict], *, concurrency: int, seconds: float, count: int = 0
) -> dict:
    out = subprocess.run(
        [PY, "-c", CLIENT, "127.0.0.1", str(port), path, str(concurrency), str(seconds), str(count)],
        input=json.dumps(bodies),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(port: int, path: str, bodies: list[dict], args: argparse.Namespace) -> dict:
    """Sequential requests: latency percentiles (ms)."""
    load(port, path, bodies, concurrency=1, seconds=1.0)  # warm up
    seq = load(port, path, bodies, concurrency=1, seconds=60, count=args.requests)
    lat = seq["latencies"]
    return {
        "p50": pct(lat, 0.5) * 1e3,
        "p99": pct(lat, 0.99) * 1e3,
        "p999": pct(lat, 0.999) * 1e3,
        "max": max(lat) * 1e3,
        "errors": seq["errors"],
        "n": len(lat),
    }


def throughput(port: int, path: str, bodies: list[dict], args: argparse.Namespace, pid: int) -> dict:
    """8 concurrent connections for ``args.seconds``: requests per second and server CPU per request."""
    cpu = cpu_seconds(pid)
    thr = load(port, path, bodies, concurrency=8, seconds=args.seconds)
    cpu = cpu_seconds(pid) - cpu
    done = max(1, len(thr["latencies"]))
    return {
        "rps": len(thr["latencies"]) / thr["elapsed"],
        "cpu_us": cpu / done * 1e6,
        "errors": thr["errors"],
    }


def build_yard(tmp: Path, redis_port: int, flavor: str) -> Path:
    """The example yard on the private Redis, trip_acceptance trained and promoted with ``flavor``."""
    tests = Path(__file__).resolve().parents[1] / "tests"
    sys.path[:0] = [str(tests), str(tests / "serving")]
    from srv_helpers import (
        register,  # noqa: F401 - same training recipe as the tests
        train,
    )

    from modelyard.examples.repo import copy_example_repo
    from modelyard.examples.rideshare import generate
    from modelyard.yard import Yard

    repo = copy_example_repo(tmp / f"repo_{flavor}")
    generate(repo, end=EXAMPLE_END, **DATA)
    (repo / "modelyard.yaml").write_text(
        (repo / "modelyard.yaml").read_text() + "\nserving:\n  cache: null\n"
    )
    yard = Yard.load(repo)
    yard.features.apply()
    yard.features.materialize(datetime.fromisoformat(EXAMPLE_END), progress=False)
    for model in ("trip_acceptance", "tip_amount"):
        estimator, cols = train(yard, model)
        version = yard.registry.register(model, estimator, feature_names=cols, flavor=flavor)
        yard.registry.promote(model, version.version, reason="benchmark")
    return repo


def in_process(repo: Path, bodies: list[dict]) -> dict:
    """Server time of predict (no HTTP): cache miss (cache off) and cache hit (LRU)."""
    from modelyard.serving.app import build_state
    from modelyard.yard import Yard
    from modelyard_plugins.caches.lru import LruCache

    yard = Yard.load(repo)
    state = build_state(yard, cache=False)
    service = state.service
    ents = [b["entities"] for b in bodies]

    def timed(n: int) -> list[float]:
        out = []
        for i in range(n):
            start = time.perf_counter()
            service.predict("trip_acceptance", ents[i % len(ents)])
            out.append(time.perf_counter() - start)
        return out

    timed(200)
    miss = timed(2000)
    reader = state.table.models["trip_acceptance"].reader
    read = []
    for i in range(2000):
        start = time.perf_counter()
        reader.read(ents[i % len(ents)])
        read.append(time.perf_counter() - start)
    service.cache = LruCache()
    timed(len(ents))  # fill
    hit = timed(2000)
    state.close()
    return {
        "miss_p50": statistics.median(miss) * 1e3,
        "hit_p50": statistics.median(hit) * 1e3,
        "read_p50": statistics.median(read) * 1e3,
        "fast_path": type(reader).__name__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run length per server")
    parser.add_argument(
        "--requests", type=int, default=5000, help="sequential requests for latency percentiles"
    )
    parser.add_argument("--flavors", default="onnx,sklearn", help="flavors to benchmark, comma separated")
    parser.add_argument(
        "--rounds", type=int, default=3, help="throughput rounds per server, alternating; best one counts"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))
    redis_port = free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    procs: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "MODELYARD_FEATURE_STORE_YAML": "feature_store.redis.yaml",
        "REDIS_CONNECTION_STRING": f"127.0.0.1:{redis_port},db=0",
    }
    os.environ.update(env)
    try:
        import pandas as pd

        (tmp / "bare_app.py").write_text(textwrap.dedent(BARE_APP))
        bare_port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    PY,
                    "-m",
                    "uvicorn",
                    "bare_app:app",
                    "--port",
                    str(bare_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=tmp,
                env=env,
            )
        )
        results: dict[str, dict] = {}
        extra: dict[str, dict] = {}
        bodies: list[dict] = []
        servers: dict[str, tuple[int, str, int]] = {}  # name -> (port, path, pid)
        for flavor in args.flavors.split(","):
            repo = build_yard(tmp, redis_port, flavor)
            rows = pd.read_parquet(repo / "data" / "trip_acceptance_entities.parquet").head(500)
            bodies = [
                {"entities": {"driver_id": [int(d)], "customer_id": [int(c)]}}
                for d, c in zip(rows.driver_id, rows.customer_id, strict=True)
            ]
            extra[flavor] = in_process(repo, bodies)
            port = free_port()
            proc = subprocess.Popen(
                [
                    PY,
                    "-m",
                    "modelyard.cli.main",
                    "serve",
                    "--repo",
                    str(repo),
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
            )
            procs.append(proc)
            wait_http(port, "/v2/health/ready")
            servers[f"modelyard ({flavor})"] = (port, "/v1/models/trip_acceptance/predict", proc.pid)
        wait_http(bare_port, "/docs")
        servers["bare starlette"] = (bare_port, "/predict", procs[0].pid)
        for name, (port, path, _pid) in servers.items():
            results[name] = latency(port, path, bodies, args)
        rounds: dict[str, list[dict]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, (port, path, pid) in servers.items():
                rounds[name].append(throughput(port, path, bodies, args, pid))
        for name, measured in rounds.items():
            best = max(measured, key=lambda r: r["rps"])
            results[name].update(rps=best["rps"], cpu_us=best["cpu_us"])
            results[name]["errors"] += sum(r["errors"] for r in measured)
            results[name]["all_rps"] = [round(r["rps"]) for r in measured]
        base = results["bare starlette"]
        print()
        print(
            f"{'server':<22} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7} {'req/s':>8} {'x bare':>7} "
            f"{'cpu us/req':>10} {'x bare cpu':>10} {'errors':>6}  rounds req/s"
        )
        for name, r in results.items():
            print(
                f"{name:<22} {r['p50']:>7.3f} {r['p99']:>7.3f} {r['p999']:>8.3f} {r['max']:>7.2f} "
                f"{r['rps']:>8.0f} {r['rps'] / base['rps']:>7.2f} {r['cpu_us']:>10.0f} "
                f"{base['cpu_us'] / r['cpu_us']:>10.2f} {r['errors']:>6}  {r['all_rps']}"
            )
        print("(x bare cpu: bare Starlette's server CPU per request over ours, i.e. throughput per core)")
        print()
        print(f"{'server time (no HTTP)':<22} {'miss ms':>8} {'hit ms':>8} {'feature read ms':>16} reader")
        for flavor, r in extra.items():
            print(
                f"{flavor:<22} {r['miss_p50']:>8.3f} {r['hit_p50']:>8.3f} {r['read_p50']:>16.3f} {r['fast_path']}"
            )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        redis.terminate()
        redis.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
