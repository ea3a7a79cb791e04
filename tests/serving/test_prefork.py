"""`modelyard serve --workers N` forks its workers from a parent that imported their code once.

The parent (modelyard.serving.prefork.preload_serving) imports the flavors' libraries, Feast and
the app, and opens nothing a worker would share (no socket, no database, no thread); a real
two-worker server answers from both workers, replaces a worker that is killed, and stops cleanly
on SIGINT (each worker runs its app's shutdown, none is killed).
(Alias moves reaching forked and spawned workers: tests/serving/test_reload.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest
from srv_helpers import entities, free_port, register

from modelyard.errors import ServingError

PRELOAD = r"""
import json, os, sys, threading

def opened():
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return out

before = opened()
from modelyard.serving.prefork import preload_serving
from modelyard.yard import Yard

yard = Yard.load(sys.argv[1])
preload_serving(yard)
print(json.dumps({
    "threads": [t.name for t in threading.enumerate()],
    "yard_opened": sorted(k for k in ("registry", "feature_store", "features") if k in vars(yard)),
    "imported": [m for m in ("skops.io", "feast", "fastapi", "modelyard.serving.pipeline") if m in sys.modules],
    "opened": sorted(opened() - before),
}))
"""


@pytest.fixture(scope="module")
def yard(make_example_repo, tmp_path_factory):
    """The example yard, both models in production, no prediction cache."""
    from modelyard.yard import Yard

    repo = make_example_repo(tmp_path_factory.mktemp("prefork") / "repo")
    config = repo / "modelyard.yaml"
    config.write_text(config.read_text() + "\nserving:\n  cache: null\n")
    yard = Yard.load(repo)
    register(yard, "trip_acceptance")
    register(yard, "tip_amount")
    return yard


def test_preload_imports_the_workers_code_and_opens_nothing_they_would_share(yard) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PRELOAD, str(yard.path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MODELYARD_FEAST_TYPECHECKS": "0"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["threads"] == ["MainThread"]
    assert seen["yard_opened"] == []  # registry and feature store are opened by each worker
    assert seen["imported"] == ["skops.io", "feast", "fastapi", "modelyard.serving.pipeline"]
    # no socket, and nothing of the yard (registry.db, online_store.db, the prediction log)
    assert not [f for f in seen["opened"] if f.startswith("socket:") or f.startswith(str(yard.path))]


def test_preload_refuses_to_fork_a_process_running_threads(yard) -> None:
    from modelyard.serving.prefork import preload_serving

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="left-running", daemon=True)
    other.start()
    try:
        with pytest.raises(ServingError, match=r"left-running.*--no-preload"):
            preload_serving(yard)
    finally:
        stop.set()
        other.join()


def _workers(parent: int) -> set[int]:
    return {p.pid for p in psutil.Process(parent).children() if p.status() != psutil.STATUS_ZOMBIE}


def _predict(url: str, body: dict) -> int:
    try:
        return httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body, timeout=10).status_code
    except httpx.TransportError:
        return 0


def test_two_forked_workers_answer_and_a_killed_one_is_replaced(yard) -> None:
    rows = entities(yard.path, n=1)
    body = {"entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()}}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "modelyard.cli.main", "--repo", str(yard.path), "serve"),
            *("--port", str(port), "--workers", "2", "--log-level", "info"),
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()

    def wait_for(what: str, done, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{what}:\n{''.join(lines)[-3000:]}")
            time.sleep(0.1)

    try:
        wait_for(
            "two workers never started", lambda: sum("Application startup complete" in x for x in lines) >= 2
        )
        assert sum("Booting worker" in x for x in lines) == 2  # forked by gunicorn, not spawned
        first = _workers(proc.pid)
        assert len(first) == 2
        assert all(_predict(url, body) == 200 for _ in range(20))

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_for("the killed worker was not replaced", lambda: len(_workers(proc.pid) - {victim}) == 2)
        wait_for(
            "the new worker never started",
            lambda: sum("Application startup complete" in x for x in lines) >= 3,
        )
        assert all(_predict(url, body) == 200 for _ in range(20))
        assert "modelyard_requests_total" in httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C on the parent alone (SIGTERM: test_reload.py)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    out = "".join(lines)
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    # each worker shut down by itself (requests finished, prediction log flushed), none killed
    assert out.count("Application shutdown complete") == 2
    assert out.count("was sent SIGKILL") == 1  # the victim above, no other
