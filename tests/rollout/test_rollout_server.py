"""Rollout through the real HTTP server: shadows off the response path, sticky A/B across two processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from rollout_models import GatedModel, ThresholdModel
from srv_helpers import free_port, running_server

from modelyard.predictions.log import open_log_sink
from modelyard.rollout import changes
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.router import Variant
from modelyard.yard import Yard

MODEL = "trip_acceptance"
FEATURE = "conv_rate"


@pytest.fixture
def yard(example_repo: Path):
    repo = example_repo
    y = Yard.load(repo)
    yield y
    if "registry" in y.__dict__:
        y.registry.close()


def entity_body(yard: Yard, n: int, offset: int = 0) -> dict:
    rows = pd.read_parquet(yard.path / "data" / f"{MODEL}_entities.parquet").iloc[offset : offset + n]
    return {"entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()}}


def test_blocked_and_failing_shadows_never_touch_the_live_answer(yard: Yard, tmp_path: Path) -> None:
    from modelyard.serving.app import build_state, create_app

    gate = tmp_path / "open-the-gate"
    v1 = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.5))
    v2 = yard.registry.register(MODEL, GatedModel(FEATURE, str(gate), fail=False, threshold=0.3))
    v3 = yard.registry.register(MODEL, GatedModel(FEATURE, str(gate), fail=True))
    yard.registry.promote(MODEL, v1.version, reason="live")
    store = DeploymentStore.for_yard(yard)
    changes.deploy(
        store,
        MODEL,
        router="shadow",
        variants=[Variant("v1", v1.version)],
        shadows=[Variant("v2", v2.version, 0, "shadow"), Variant("v3", v3.version, 0, "shadow")],
        settings={"shadows": [v2.version, v3.version]},
        actor="test",
        reason="shadow v2 and v3",
    )
    state = build_state(yard, cache=False)
    try:
        with running_server(create_app(state=state)) as url:
            answers = []
            for i in range(3):
                body = {**entity_body(yard, 4, offset=4 * i), "request_id": f"req{i}"}
                r = httpx.post(f"{url}/v1/models/{MODEL}/predict", json=body, timeout=30)
                # Both shadows are still blocked on the gate: the live answer did not wait for them.
                assert not gate.exists()
                assert r.status_code == 200, r.text
                answers += r.json()["predictions"]
            assert {a["version"] for a in answers} == {v1.version} and {a["variant"] for a in answers} == {
                "v1"
            }
            assert all(a.get("error") is None and a["prediction"] in (0, 1) for a in answers)
    finally:
        gate.touch()  # let the shadows finish
        state.close()  # waits for the shadows, flushes the log

    sink = open_log_sink(yard)
    log = sink.read_frame(MODEL)
    sink.close()
    live = log[log["mode"] == "live"]
    assert len(live) == 12 and live["error"].isna().all()
    shadow = log[log["mode"] == "shadow"]
    by_variant = {name: rows for name, rows in shadow.groupby("variant")}
    assert len(by_variant["v2"]) == 12 and by_variant["v2"]["error"].isna().all()
    assert (
        len(by_variant["v3"]) == 12 and by_variant["v3"]["error"].str.contains("shadow model exploded").all()
    )

    from modelyard.rollout.shadow_report import shadow_report

    report = {s.variant: s for s in shadow_report(log, task="classification")}
    assert report["v3"].errors == 12 and report["v3"].paired == 0
    assert report["v2"].paired == 12 and report["v2"].agreement is not None


def _start_worker(repo: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "MODELYARD_REPO": str(repo), "MODELYARD_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "modelyard.serving.app:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ready(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if (
                httpx.post(
                    f"{url}/v1/models/{MODEL}/predict",
                    json={"entities": {"driver_id": [1], "customer_id": [1]}},
                    timeout=5,
                ).status_code
                < 500
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("worker did not start in 120 s")


@pytest.mark.slow
def test_sticky_assignment_is_the_same_in_two_server_processes(yard: Yard) -> None:
    v1 = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.5))
    v2 = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.2))
    yard.registry.promote(MODEL, v1.version, reason="live")
    changes.deploy(
        DeploymentStore.for_yard(yard),
        MODEL,
        router="ab",
        variants=[Variant("control", v1.version, 0.5), Variant("treatment", v2.version, 0.5)],
        actor="test",
        reason="A/B",
    )
    ports = [free_port(), free_port()]
    procs = [_start_worker(yard.path, p) for p in ports]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for proc, url in zip(procs, urls, strict=True):
            _wait_ready(proc, url)
        seen = []
        for url in urls:
            variants = []
            for i in range(40):
                body = {**entity_body(yard, 1, offset=i), "routing_key": f"user-{i}"}
                r = httpx.post(f"{url}/v1/models/{MODEL}/predict", json=body, timeout=30)
                assert r.status_code == 200, r.text
                variants.append(r.json()["predictions"][0]["variant"])
            seen.append(variants)
        assert seen[0] == seen[1]
        assert set(seen[0]) == {"control", "treatment"}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
