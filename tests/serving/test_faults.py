"""Faults against real servers the test starts itself: the Redis online store and the registry's PostgreSQL.

Redis down: requests get a 503 naming the online store, the worker stays up, and it answers
again within seconds of Redis returning. Registry down: predictions go on with the loaded
versions and readiness says "degraded" until the database is back.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from datetime import datetime

import httpx
import pytest
from srv_helpers import entities, register, running_server
from srv_servers import PrivatePostgres, PrivateRedis

EXAMPLE_END = "2026-01-29T00:00:00+00:00"  # as tests/conftest.py


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    try:
        redis = PrivateRedis(base / "redis")
        postgres = PrivatePostgres()
    except (FileNotFoundError, OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot start private servers for the fault tests: {exc}")
        pytest.skip(f"cannot start private servers for the fault tests: {exc}")
    redis.start()
    postgres.start()
    yield redis, postgres
    for server in (redis, postgres):
        with contextlib.suppress(Exception):  # best-effort cleanup
            server.stop()
    postgres.remove()


@pytest.fixture(scope="module")
def served(servers, example_repo_template, tmp_path_factory):
    """A server over the example repo with Redis as online store and PostgreSQL as registry."""
    from modelyard.serving.app import build_state, create_app
    from modelyard.yard import Yard

    redis, postgres = servers
    env = {
        "MODELYARD_FEATURE_STORE_YAML": "feature_store.redis.yaml",
        "REDIS_CONNECTION_STRING": f"127.0.0.1:{redis.port},db=0",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        repo = tmp_path_factory.mktemp("faults_repo") / "repo"
        from modelyard.examples.repo import copy_example_repo

        copy_example_repo(repo, source=example_repo_template)
        config = repo / "modelyard.yaml"
        config.write_text(
            config.read_text()
            + f"\nregistry:\n  plugin: sqlalchemy\n  settings:\n    url: {postgres.url}\n"
            + "serving:\n  reload_interval: 0.3\n"
        )
        yard = Yard.load(repo)
        yard.features.apply()
        yard.features.materialize(datetime.fromisoformat(EXAMPLE_END), progress=False)
        register(yard, "trip_acceptance")
        register(yard, "tip_amount")
        state = build_state(yard, prediction_log=False)
        with running_server(create_app(state=state)) as url:
            yield yard, url, state, redis, postgres
        state.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _body(yard, n: int = 2, offset: int = 0) -> dict:
    rows = entities(yard.path).iloc[offset : offset + n]
    return {"entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()}}


def test_fast_path_serves_the_example_identically_to_feast(served) -> None:
    from modelyard.features.online.reader import RedisOnlineReader

    yard, url, state, _, _ = served
    assert isinstance(state.table.models["trip_acceptance"].reader, RedisOnlineReader)
    body = _body(yard, 30)
    body["entities"]["driver_id"][-1] = 987654  # an unknown driver
    r = httpx.post(f"{url}/v1/features/trip_acceptance", json=body)
    assert r.status_code == 200, r.text
    feast = yard.feature_store.get_online_features(
        features=yard.feature_store.get_feature_service("trip_acceptance_v1"), entity_rows=body["entities"]
    ).to_dict()
    for name in yard.features.feature_names("trip_acceptance"):
        assert r.json()["columns"][name] == feast[name], name
    assert r.json()["missing"][-1]  # the unknown driver's features are reported missing


def test_redis_down_is_503_naming_the_store_then_recovers(served) -> None:
    yard, url, _, redis, _ = served
    body = _body(yard, offset=40)
    assert httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body).status_code == 200
    redis.stop()
    try:
        start = time.monotonic()
        r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body, timeout=10)
        assert r.status_code == 503, r.text
        assert "online store" in r.json()["error"] and str(redis.port) in r.json()["error"]
        assert time.monotonic() - start < 3
        r = httpx.post(
            f"{url}/v2/models/trip_acceptance/infer",
            json={
                "inputs": [
                    {
                        "name": "driver_id",
                        "shape": [1],
                        "datatype": "INT64",
                        "data": body["entities"]["driver_id"][:1],
                    },
                    {
                        "name": "customer_id",
                        "shape": [1],
                        "datatype": "INT64",
                        "data": body["entities"]["customer_id"][:1],
                    },
                ]
            },
        )
        assert r.status_code == 503 and "online store" in r.json()["error"]
        assert httpx.get(f"{url}/v2/health/live").status_code == 200
        assert (
            'modelyard_errors_total{error="OnlineStoreUnavailable",model="trip_acceptance"}'
            in httpx.get(f"{url}/metrics").text
        )
    finally:
        redis.start()
    deadline = time.monotonic() + 10
    while True:
        r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    assert "missing" not in r.json()["predictions"][0]  # real features again, not an empty store


def test_registry_down_keeps_serving_and_reports_degraded(served) -> None:
    yard, url, _state, _, postgres = served
    body = _body(yard, offset=60)
    postgres.stop()
    try:
        deadline = time.monotonic() + 10
        while not httpx.get(f"{url}/v2/health/ready").json().get("degraded"):
            assert time.monotonic() < deadline, "readiness never reported the registry as down"
            time.sleep(0.1)
        ready = httpx.get(f"{url}/v2/health/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert ready.json()["registry_error"]
        for _ in range(5):
            r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body)
            assert r.status_code == 200 and r.json()["predictions"][0]["version"] == 1, r.text
    finally:
        postgres.start()
    deadline = time.monotonic() + 15
    while httpx.get(f"{url}/v2/health/ready").json().get("degraded"):
        assert time.monotonic() < deadline, "readiness stayed degraded after the registry returned"
        time.sleep(0.2)
