"""Benchmark: what the request guards (bearer token + scope, bounded body) cost per request.

Three ASGI apps answer the same POST with a small JSON body, called in-process (no sockets, so
the guards are not hidden in network noise):

* ``baseline``  a bare ASGI callable that reads the body and answers: calls none of our code
* ``open``      ``ServingApp`` with a hot route, guards off (no tokens, no body limit)
* ``guarded``   the same with three tokens (SHA-256 + constant-time compare against each) and
                the 8 MiB body limit (the body is read once by the guard and replayed)

Rounds are interleaved (baseline, open, guarded, baseline, ...) so machine load hits all three
alike; each figure is microseconds per request, min/median/max over the rounds. ``--cold`` also
times one guarded request in a fresh process (imports included). Results go to
``bench/results/guards.json``.

    python bench/bench_guards.py [--requests 20000] [--rounds 7] [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BODY = b'{"entities": {"driver_id": [1001], "customer_id": [2001]}, "request_id": "bench"}'
TOKEN = "b" * 43


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/models/m/predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-length", str(len(BODY)).encode()), *headers],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 1234),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        raise AssertionError(f"the benchmarked request was answered {message['status']}, not 200")


async def baseline(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = (await receive())["body"]
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body[:2]})


def _apps() -> dict[str, tuple[Any, dict[str, Any]]]:
    from starlette.responses import Response

    from modelyard.config.schema import AuthConfig, TokenConfig
    from modelyard.serving import routes_v1, routes_v2
    from modelyard.serving.auth import Tokens, digest, rules_for
    from modelyard.serving.hot_routes import ServingApp

    async def predict(request: Any, model: str) -> Response:
        return Response((await request.body())[:2], media_type="application/json")

    def app(guarded: bool) -> Any:
        served = ServingApp()
        served.hot_routes([("/v1/models/{model}/predict", predict)])
        # the scopes the built-in protocols give their paths, as a served app has them
        served.protect(rules_for({**routes_v1.SCOPES, **routes_v2.SCOPES}))
        if guarded:
            tokens = [TokenConfig(sha256=digest(t), scopes=["predict"]) for t in ("x" * 40, "y" * 40, TOKEN)]
            served.guard(Tokens.load(AuthConfig(tokens=tokens), {}), max_body_bytes=8 * 1024 * 1024)
        return served

    auth = [(b"authorization", f"Bearer {TOKEN}".encode())]
    return {
        "baseline": (baseline, _scope([])),
        "open": (app(False), _scope([])),
        "guarded": (app(True), _scope(auth)),
    }


async def _time(app: Any, scope: dict[str, Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), _receive, _send)
    return (time.perf_counter() - start) / n * 1e6


def warm(requests: int, rounds: int) -> dict[str, dict[str, float]]:
    apps = _apps()
    samples: dict[str, list[float]] = {name: [] for name in apps}

    async def run() -> None:
        for app, scope in apps.values():  # warm-up
            await _time(app, scope, 200)
        for _ in range(rounds):
            for name, (app, scope) in apps.items():
                samples[name].append(await _time(app, scope, requests))

    asyncio.run(run())
    return {
        name: {"min_us": min(v), "median_us": statistics.median(v), "max_us": max(v)}
        for name, v in samples.items()
    }


def cold() -> float:
    """Milliseconds for imports + app + one guarded request, in a fresh interpreter."""
    code = (
        "import time, asyncio; t=time.perf_counter(); import bench_guards as b; "
        "app, scope = b._apps()['guarded']; asyncio.run(app(scope, b._receive, b._send)); "
        "print((time.perf_counter()-t)*1000)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"warm": warm(args.requests, args.rounds)}
    base = result["warm"]["baseline"]["median_us"]
    result["guard_cost_us"] = result["warm"]["guarded"]["median_us"] - result["warm"]["open"]["median_us"]
    result["open_over_baseline_us"] = result["warm"]["open"]["median_us"] - base
    if args.cold:
        result["cold_ms"] = sorted(cold() for _ in range(3))
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "guards.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
