"""serving.online_store_fallback against a real Redis the test starts, stops and restarts itself.

Two servers over the same yard and Redis: one falls back to the model's declared defaults,
the other to the cached answer of the entity's last-seen feature vector. With Redis down
they answer marked fallbacks (and log them so), or a 503 saying why they cannot; with Redis
back they answer from the store again.
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
from srv_servers import PrivateRedis

EXAMPLE_END = "2026-01-29T00:00:00+00:00"  # as tests/conftest.py
DEFAULTS = {
    "conv_rate": 0.5,
    "acc_rate": 0.5,
    "avg_daily_trips": 10,
    "rating": 4.5,
    "vehicle_type": "sedan",
    "customer_tier": "basic",
    "avg_rating_given": 4.0,
    "trips_last_7d": 2,
    "cancel_rate": 0.1,
}


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    try:
        server = PrivateRedis(tmp_path_factory.mktemp("fallback") / "redis")
    except (FileNotFoundError, OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot start a private Redis for the fallback tests: {exc}")
        pytest.skip(f"cannot start a private Redis for the fallback tests: {exc}")
    server.start()
    yield server
    with contextlib.suppress(Exception):  # best-effort cleanup
        server.stop()


@pytest.fixture(scope="module")
def servers(redis, example_repo_template, tmp_path_factory):
    """(yard, default-fallback URL and state, cache-fallback URL and state) over Redis."""
    from modelyard.config.schema import MissingValuePolicy
    from modelyard.serving.app import build_state, create_app
    from modelyard.yard import Yard

    env = {
        "MODELYARD_FEATURE_STORE_YAML": "feature_store.redis.yaml",
        "REDIS_CONNECTION_STRING": f"127.0.0.1:{redis.port},db=0",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        repo = tmp_path_factory.mktemp("fallback_repo") / "repo"
        from modelyard.examples.repo import copy_example_repo

        copy_example_repo(repo, source=example_repo_template)
        yard = Yard.load(repo)
        yard.features.apply()
        yard.features.materialize(datetime.fromisoformat(EXAMPLE_END), progress=False)
        register(yard, "trip_acceptance")
        register(yard, "tip_amount")
        yard.config.models["trip_acceptance"].missing_values = MissingValuePolicy(defaults=DEFAULTS)
        yard.config.serving.online_store_fallback = "default"
        by_default = build_state(yard)
        yard.config.serving.online_store_fallback = "cache"
        by_cache = build_state(yard)
        with (
            running_server(create_app(state=by_default)) as d_url,
            running_server(create_app(state=by_cache)) as c_url,
        ):
            yield yard, (d_url, by_default), (c_url, by_cache)
        by_default.close()
        by_cache.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _body(yard, n: int, offset: int, request_id: str) -> dict:
    rows = entities(yard.path).iloc[offset : offset + n]
    return {
        "entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()},
        "request_id": request_id,
    }


def _predict(url: str, body: dict, model: str = "trip_acceptance") -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{model}/predict", json=body, timeout=10)


def test_config_rejects_cache_fallback_without_a_cache(servers) -> None:
    from modelyard.errors import ConfigError
    from modelyard.serving.pipeline import PredictionService

    _, (_, state), _ = servers
    with pytest.raises(ConfigError, match=r"serving.online_store_fallback"):
        PredictionService(state.table, cache=None, online_store_fallback="cache")


def test_redis_down_answers_fallbacks_marked_and_logged_then_recovers(servers, redis) -> None:
    yard, (d_url, d_state), (c_url, c_state) = servers
    seen = _body(yard, 3, offset=10, request_id="seen")
    up = {}
    for url in (d_url, c_url):
        r = _predict(url, seen)
        assert r.status_code == 200, r.text
        assert all("fallback" not in p for p in r.json()["predictions"])
        up[url] = r.json()["predictions"]
    assert len(c_state.service.last_vectors) >= 3 and d_state.service.last_vectors is None
    # what the model answers on exactly the declared defaults (features given directly: no store read)
    direct = _predict(d_url, {"features": {k: [v] for k, v in DEFAULTS.items()}}).json()["predictions"][0]

    redis.stop()
    try:
        # -- default: the declared defaults are the features, rows marked and logged so
        r = _predict(d_url, {**seen, "request_id": "down-default"})
        assert r.status_code == 200, r.text
        rows = r.json()["predictions"]
        assert [p["fallback"] for p in rows] == ["default"] * 3
        assert all(p["score"] == pytest.approx(direct["score"]) and "missing" not in p for p in rows)
        v2 = httpx.post(
            f"{d_url}/v2/models/trip_acceptance/infer",
            json={
                "inputs": [
                    {"name": k, "shape": [3], "datatype": "INT64", "data": v}
                    for k, v in seen["entities"].items()
                ]
            },
        )
        assert v2.status_code == 200 and v2.json()["parameters"]["fallback"] == ["default"] * 3, v2.text
        assert d_state.prediction_log.flush(timeout=30)
        log = d_state.prediction_log.sink.read_frame("trip_acceptance")
        logged = log[log.request_id.str.startswith("down-default:")]
        assert len(logged) == 3 and (logged["mode"] == "fallback:default").all()
        assert all('"rating":4.5' in f for f in logged.features)
        metrics = httpx.get(f"{d_url}/metrics").text
        assert (
            'modelyard_online_store_fallback_rows_total{fallback="default",model="trip_acceptance"} 6.0'
            in metrics
        )
        # a model without declared defaults cannot fall back: 503 saying so
        r = _predict(d_url, _body(yard, 1, offset=0, request_id="tip"), model="tip_amount")
        assert r.status_code == 503 and "declares no missing_values.defaults" in r.json()["error"], r.text
        assert "online store" in r.json()["error"] and str(redis.port) in r.json()["error"]
        # feature reads never fall back
        r = httpx.post(f"{d_url}/v1/features/trip_acceptance", json=seen)
        assert r.status_code == 503 and "online store" in r.json()["error"]

        # -- cache: the answer cached for each entity's last-seen vector
        r = _predict(c_url, {**seen, "request_id": "down-cache"})
        assert r.status_code == 200, r.text
        rows = r.json()["predictions"]
        assert [p["fallback"] for p in rows] == ["cache"] * 3 and all(p["cached"] for p in rows)
        assert [(p["prediction"], p["score"]) for p in rows] == [
            (p["prediction"], p["score"]) for p in up[c_url]
        ]
        assert c_state.prediction_log.flush(timeout=30)
        log = c_state.prediction_log.sink.read_frame("trip_acceptance")
        assert (log[log.request_id.str.startswith("down-cache:")]["mode"] == "fallback:cache").all()
        # an entity this server never saw has nothing to answer from
        r = _predict(c_url, _body(yard, 2, offset=100, request_id="unseen"))
        assert r.status_code == 503, r.text
        assert (
            "no remembered feature vector for 2 of 2" in r.json()["error"]
            and str(redis.port) in r.json()["error"]
        )
    finally:
        redis.start()

    for url in (d_url, c_url):
        deadline = time.monotonic() + 10
        while True:
            r = _predict(url, seen)
            if r.status_code == 200 and "fallback" not in r.json()["predictions"][0]:
                break
            assert time.monotonic() < deadline, f"{url} did not recover: {r.text}"
            time.sleep(0.2)
        assert [p["score"] for p in r.json()["predictions"]] == [p["score"] for p in up[url]]
