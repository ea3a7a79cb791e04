"""Alias moves reach running servers (in-process and `modelyard serve --workers 2`, forked or not) with no failed request."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from srv_helpers import entities, free_port, register, running_server

EXAMPLE_END = "2026-01-29T00:00:00+00:00"  # as tests/conftest.py


@pytest.fixture(scope="module")
def yard(make_example_repo, tmp_path_factory):
    """Example yard polling every 0.3 s; trip_acceptance v1 in production, v2 registered; tip_amount v1."""
    from modelyard.yard import Yard

    repo = make_example_repo(tmp_path_factory.mktemp("reload") / "repo")
    config = repo / "modelyard.yaml"
    config.write_text(config.read_text() + "\nserving:\n  reload_interval: 0.3\n  cache: null\n")
    yard = Yard.load(repo)
    register(yard, "trip_acceptance")
    register(yard, "trip_acceptance", promote=False, c=0.01)
    register(yard, "tip_amount")
    return yard


class Loop:
    """A client thread sending predictions until stopped, recording (version, status) of each."""

    def __init__(self, url: str, body: dict) -> None:
        self.url, self.body = url, body
        self.seen: list[tuple[int | None, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                r = client.post(f"{self.url}/v1/models/trip_acceptance/predict", json=self.body)
                version = r.json()["predictions"][0]["version"] if r.status_code == 200 else None
                self.seen.append((version, r.status_code, time.monotonic()))

    def __enter__(self) -> Loop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _promote_and_watch(yard, url: str) -> None:
    rows = entities(yard.path, n=1)
    body = {"entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()}}
    with Loop(url, body) as loop:
        deadline = time.monotonic() + 30
        while len(loop.seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert loop.seen and loop.seen[-1][0] == 1
        moved = time.monotonic()
        yard.registry.promote("trip_acceptance", 2, reason="reload test")
        deadline = moved + 20
        while time.monotonic() < deadline:
            v2 = [t for v, _, t in loop.seen if v == 2]
            if v2 and sum(1 for _, _, t in loop.seen if t > v2[0] + 1) >= 5:
                break
            time.sleep(0.1)
        seen = list(loop.seen)
    assert all(status == 200 for _, status, _ in seen), [s for s in seen if s[1] != 200][:3]
    assert {v for v, _, _ in seen} == {1, 2}
    first_v2 = min(t for v, _, t in seen if v == 2)
    assert first_v2 - moved < 5, "the alias move took more than 5 s to reach the server"
    after = [v for v, _, t in seen if t > first_v2 + 1]
    assert after and set(after) == {2}  # and it stays on v2


def test_alias_move_reloads_in_process_without_failures(yard) -> None:
    from modelyard.serving.app import build_state, create_app

    yard.registry.promote("trip_acceptance", 1, reason="reset")
    state = build_state(yard, prediction_log=False)
    try:
        with running_server(create_app(state=state)) as url:
            _promote_and_watch(yard, url)
            status = httpx.get(f"{url}/v1/models").json()
            assert status["models"]["trip_acceptance"]["versions"] == [2]  # v1 dropped after the move
    finally:
        state.close()


# workers forked from one parent that imported their code, and workers started as fresh interpreters
@pytest.mark.parametrize("preload", ["--preload", "--no-preload"])
def test_cli_serve_two_workers_all_reload(yard, preload: str) -> None:
    yard.registry.promote("trip_acceptance", 1, reason="reset")
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelyard.cli.main",
            "serve",
            "--repo",
            str(yard.path),
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            preload,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"server did not become ready:\n{out[-3000:]}")
            time.sleep(0.3)
        time.sleep(2)  # let the second worker finish starting too
        _promote_and_watch(yard, url)
        metrics = httpx.get(f"{url}/metrics").text
        assert "modelyard_requests_total" in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stdout.read().decode()[-3000:] if proc.stdout else ""
