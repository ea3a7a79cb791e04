"""A predict request carrying request data for on-demand views, over real HTTP (v1 and v2)."""

from __future__ import annotations

import httpx
import pytest
from ondemand_repo import END, build, request_rows

from modelyard.yard import Yard


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from srv_helpers import running_server

    from modelyard.serving.app import build_state, create_app

    repo, _ = build(tmp_path_factory.mktemp("odfv_http"))
    yard = Yard.load(repo)
    yard.features.apply()
    yard.features.materialize(END, progress=False)
    rows = request_rows(300, seed=1)
    frame = yard.features.training_frame("trip_rt", rows)
    cols = ["conv_rate", "dist_x_conv", "trips_per_km"]
    y = frame["dist_x_conv"].fillna(0).to_numpy() + frame["pickup_hour"].to_numpy() / 10
    estimator = HistGradientBoostingRegressor(max_iter=20).fit(frame[cols].astype("float64"), y)
    version = yard.registry.register("trip_rt", estimator, feature_names=cols)
    yard.registry.promote("trip_rt", version.version, reason="on-demand tests")
    state = build_state(yard)
    with running_server(create_app(state=state)) as url:
        yield yard, url, estimator, cols
    state.close()


def test_predict_v1_with_request_data_equals_the_training_row(served) -> None:
    yard, url, estimator, cols = served
    rows = request_rows(4, seed=5).iloc[1:].reset_index(drop=True)  # known drivers, no null distance
    body = {
        "entities": {"driver_id": rows.driver_id.tolist()},
        "request": {
            "trip_distance_km": rows.trip_distance_km.tolist(),
            "pickup_hour": rows.pickup_hour.tolist(),
        },
    }
    r = httpx.post(f"{url}/v1/models/trip_rt/predict", json=body)
    assert r.status_code == 200, r.text
    frame = yard.features.training_frame("trip_rt", rows)
    expected = estimator.predict(frame[cols].astype("float64"))
    assert [p["prediction"] for p in r.json()["predictions"]] == pytest.approx(expected.tolist(), rel=1e-12)
    features = httpx.post(f"{url}/v1/features/trip_rt", json=body).json()["columns"]
    assert features["tier_hour"] == frame["tier_hour"].tolist()


def test_predict_with_bad_request_data_is_a_400_naming_the_field(served) -> None:
    _, url, _, _ = served
    base = {"entities": {"driver_id": [1]}}
    cases = [
        ({}, "missing request field"),
        ({"request": {"trip_distance_km": ["far"], "pickup_hour": [3]}}, "trip_distance_km"),
        ({"request": {"trip_distance_km": [1.0], "pickup_hour": [99]}}, "trip_python"),
        ({"request": "x"}, "'request' must be an object"),
    ]
    for extra, needle in cases:
        r = httpx.post(f"{url}/v1/models/trip_rt/predict", json={**base, **extra})
        assert r.status_code == 400, (extra, r.text)
        assert needle in r.text, (needle, r.text)


def test_v2_infer_takes_request_data_as_input_tensors(served) -> None:
    _, url, _, _ = served
    meta = httpx.get(f"{url}/v2/models/trip_rt").json()
    assert {"name": "pickup_hour", "datatype": "INT64", "shape": [-1]} in meta["inputs"]
    body = {
        "inputs": [
            {"name": "driver_id", "datatype": "INT64", "shape": [2], "data": [3, 4]},
            {"name": "trip_distance_km", "datatype": "FP64", "shape": [2], "data": [2.5, 7.0]},
            {"name": "pickup_hour", "datatype": "INT64", "shape": [2], "data": [8, 23]},
        ]
    }
    r = httpx.post(f"{url}/v2/models/trip_rt/infer", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [2]


def test_push_over_http_is_served_on_the_next_request(served) -> None:
    from datetime import timedelta

    _, url, _, _ = served
    body = {"entities": {"driver_id": [7]}, "request": {"trip_distance_km": [2.0], "pickup_hour": [8]}}
    before = httpx.post(f"{url}/v1/features/trip_rt", json=body).json()["columns"]["live_acceptance"]
    ts = (END + timedelta(minutes=5)).isoformat()
    r = httpx.post(
        f"{url}/v1/push/driver_live_push",
        json={"df": {"driver_id": [7], "live_acceptance": [0.0625], "event_timestamp": [ts]}, "to": "online"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 1 and r.json()["feature_views"] == ["driver_live"]
    after = httpx.post(f"{url}/v1/features/trip_rt", json=body).json()["columns"]["live_acceptance"]
    assert after == [0.0625] != before
    bad = httpx.post(f"{url}/v1/push/nope", json={"df": {"driver_id": [7]}})
    assert bad.status_code == 400 and "driver_live_push" in bad.text
    wrong = httpx.post(
        f"{url}/v1/push/driver_live_push",
        json={"df": {"driver_id": [7], "live_acceptance": ["x"], "event_timestamp": [ts]}},
    )
    assert wrong.status_code == 400 and "live_acceptance" in wrong.text
    metrics = httpx.get(f"{url}/metrics").text
    assert 'modelyard_feature_view_lag_seconds{view="driver_live"}' in metrics


def test_a_raising_transformation_fails_only_its_own_request(served) -> None:
    """Concurrent requests share the worker (and the model batcher): only the row's request gets the 400."""
    import asyncio

    _, url, _, _ = served

    def body(hour: int) -> dict:
        return {
            "entities": {"driver_id": [3, 4]},
            "request": {"trip_distance_km": [1.5, 2.5], "pickup_hour": [8, hour]},
        }

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            hours = [9 if i != 7 else 99 for i in range(16)]
            return await asyncio.gather(
                *(client.post(f"{url}/v1/models/trip_rt/predict", json=body(h)) for h in hours)
            )

    answers = asyncio.run(send_all())
    codes = [r.status_code for r in answers]
    assert codes == [200] * 7 + [400] + [200] * 8, codes
    bad = answers[7].text
    assert "trip_python" in bad and "row 1" in bad, bad
    assert all(len(r.json()["predictions"]) == 2 for r in answers if r.status_code == 200)
    # the worker is alive and answers the same request afterwards
    assert httpx.post(f"{url}/v1/models/trip_rt/predict", json=body(10)).status_code == 200
