"""The ``cache`` fallback for a model with on-demand views reading request data (real Redis, stopped by the test).

A remembered vector holds features computed from one request's values (the trip's distance),
so while the store is down it may only answer a request with the same entity *and* the same
request data; any other request is a 503 that says so, never an answer computed for another trip.
"""

from __future__ import annotations

import contextlib
import os
import subprocess

import httpx
import pytest
from ondemand_repo import END, build, request_rows
from srv_helpers import running_server
from srv_servers import PrivateRedis

from modelyard.yard import Yard


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from sklearn.ensemble import HistGradientBoostingRegressor

    from modelyard.serving.app import build_state, create_app

    try:
        redis = PrivateRedis(tmp_path_factory.mktemp("odfv_fallback") / "redis")
    except (FileNotFoundError, OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot start a private Redis: {exc}")
        pytest.skip(f"cannot start a private Redis: {exc}")
    redis.start()
    try:
        repo, _ = build(tmp_path_factory.mktemp("odfv_fallback_repo"), redis_url=f"127.0.0.1:{redis.port}/0")
        yard = Yard.load(repo)
        yard.features.apply()
        yard.features.materialize(END, progress=False)
        frame = yard.features.training_frame("trip_rt", request_rows(200, seed=2))
        cols = ["conv_rate", "dist_x_conv", "trips_per_km"]
        y = frame["dist_x_conv"].fillna(0).to_numpy()
        estimator = HistGradientBoostingRegressor(max_iter=10).fit(frame[cols].astype("float64"), y)
        version = yard.registry.register("trip_rt", estimator, feature_names=cols)
        yard.registry.promote("trip_rt", version.version, reason="fallback test")
        yard.config.serving.online_store_fallback = "cache"
        state = build_state(yard)
        with running_server(create_app(state=state)) as url:
            yield redis, url
        state.close()
    finally:
        with contextlib.suppress(Exception):  # best-effort cleanup
            redis.stop()


def _body(distance: float) -> dict:
    return {"entities": {"driver_id": [5]}, "request": {"trip_distance_km": [distance], "pickup_hour": [8]}}


def test_cache_fallback_answers_only_the_same_request_data(served) -> None:
    redis, url = served
    live = httpx.post(f"{url}/v1/models/trip_rt/predict", json=_body(3.0), timeout=60)
    assert live.status_code == 200, live.text
    other = httpx.post(f"{url}/v1/models/trip_rt/predict", json=_body(12.0), timeout=60)
    assert other.status_code == 200, other.text
    assert other.json()["predictions"][0]["prediction"] != live.json()["predictions"][0]["prediction"]
    redis.stop()
    try:
        same = httpx.post(f"{url}/v1/models/trip_rt/predict", json=_body(3.0), timeout=60)
        assert same.status_code == 200, same.text
        assert same.json()["predictions"][0].get("fallback") == "cache", same.json()
        assert same.json()["predictions"][0]["prediction"] == live.json()["predictions"][0]["prediction"]
        new_trip = httpx.post(f"{url}/v1/models/trip_rt/predict", json=_body(7.0), timeout=60)
        assert new_trip.status_code == 503, new_trip.text
        assert "same request data" in new_trip.text
    finally:
        redis.start()
    back = httpx.post(f"{url}/v1/models/trip_rt/predict", json=_body(7.0), timeout=60)
    assert back.status_code == 200, back.text
    assert "fallback" not in back.json()["predictions"][0]
