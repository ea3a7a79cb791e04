"""The HTTP server end to end on the example yard (SQLite online store): v1, v2, errors, cache, metrics."""

from __future__ import annotations

import httpx
import pytest
from srv_helpers import entities, served_example


@pytest.fixture(scope="module")
def served(make_example_repo, tmp_path_factory):
    """(yard, base URL, state) of a real server over the example repo, both models in production."""
    with served_example(make_example_repo, tmp_path_factory.mktemp("serving")) as served:
        yield served


def test_predict_v1(served) -> None:
    yard, url, _ = served
    rows = entities(yard.path, n=3)
    body = {
        "entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()},
        "request_id": "abc",
    }
    r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["request_id"] == "abc"
    preds = out["predictions"]
    assert [p["row"] for p in preds] == [0, 1, 2]
    assert [p["request_id"] for p in preds] == ["abc:0", "abc:1", "abc:2"]
    assert {p["version"] for p in preds} == {1} and {p["variant"] for p in preds} == {"v1"}
    assert all(p["prediction"] in (0, 1) and 0.0 <= p["score"] <= 1.0 for p in preds)
    # the same answer as the registered model on Feast's own online vectors
    version = yard.registry.get_version("trip_acceptance", alias="production")
    predictor = yard.registry.load_predictor(version)
    frame = yard.features.online_vectors("trip_acceptance", body["entities"])
    assert [p["score"] for p in preds] == pytest.approx(list(predictor.predict_proba(frame)))


def test_feedback_route_is_served_and_joins_the_prediction(served) -> None:
    from modelyard.predictions.feedback import join_feedback

    yard, url, state = served
    body = {**_body(yard, 1, offset=5), "request_id": "fb-1"}
    r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body)
    assert r.status_code == 200 and r.json()["predictions"][0]["request_id"] == "fb-1"
    r = httpx.post(
        f"{url}/v1/models/trip_acceptance/feedback", json={"feedback": [{"request_id": "fb-1", "label": 1}]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 1
    state.prediction_log.flush()
    joined = join_feedback(yard, "trip_acceptance")
    assert joined.loc[joined.request_id == "fb-1", "label"].tolist() == [1]


def _body(yard, n: int = 1, offset: int = 0) -> dict:
    rows = entities(yard.path).iloc[offset : offset + n]
    return {"entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()}}


def test_cache_hit_is_marked_and_keyed_on_features_not_request_id(served) -> None:
    yard, url, _state = served
    body = _body(yard, 2, offset=10)
    first = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json={**body, "request_id": "one"}).json()
    second = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json={**body, "request_id": "two"}).json()
    assert [p["cached"] for p in first["predictions"]] == [False, False]
    assert [p["cached"] for p in second["predictions"]] == [True, True]
    assert [p["score"] for p in second["predictions"]] == [p["score"] for p in first["predictions"]]
    # a changed feature value (request-time override) is a different vector: a miss
    third = httpx.post(
        f"{url}/v1/models/trip_acceptance/predict", json={**body, "features": {"conv_rate": [0.123, 0.456]}}
    ).json()
    assert [p["cached"] for p in third["predictions"]] == [False, False]
    metrics = httpx.get(f"{url}/metrics").text
    assert 'modelyard_cache_hits_total{model="trip_acceptance"}' in metrics


def test_regression_model_has_no_score(served) -> None:
    yard, url, _ = served
    r = httpx.post(f"{url}/v1/models/tip_amount/predict", json=_body(yard, 2))
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert all(isinstance(p["prediction"], float) and p["score"] is None for p in preds)


def test_features_endpoint_matches_feast(served) -> None:
    yard, url, _ = served
    body = _body(yard, 3)
    r = httpx.post(f"{url}/v1/features/trip_acceptance", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    names = yard.features.feature_names("trip_acceptance")
    assert list(out["columns"]) == ["driver_id", "customer_id", *names]
    feast = yard.feature_store.get_online_features(
        features=yard.feature_store.get_feature_service("trip_acceptance_v1"), entity_rows=body["entities"]
    ).to_dict()
    for name in names:
        assert out["columns"][name] == feast[name]


def test_unknown_entity_is_reported_missing(served) -> None:
    yard, url, _ = served
    r = httpx.post(
        f"{url}/v1/models/trip_acceptance/predict",
        json={"entities": {"driver_id": [999999], "customer_id": [888888]}},
    )
    assert r.status_code == 200, r.text
    row = r.json()["predictions"][0]
    assert set(row["missing"]) == set(yard.features.feature_names("trip_acceptance"))
    assert row["prediction"] in (0, 1)  # policy "pass": the pipeline imputes


@pytest.mark.parametrize(
    ("path", "payload", "status", "needle"),
    [
        ("/v1/models/nope/predict", {"entities": {"driver_id": [1]}}, 404, "unknown model 'nope'"),
        ("/v1/models/trip_acceptance/predict", {"entities": {"driver_id": [1], "rider": [2]}}, 400, "rider"),
        ("/v1/models/trip_acceptance/predict", {"entities": {"driver_id": [1]}}, 400, "customer_id"),
        (
            "/v1/models/trip_acceptance/predict",
            {"entities": {"driver_id": ["x"], "customer_id": [1]}},
            400,
            "driver_id",
        ),
        (
            "/v1/models/trip_acceptance/predict",
            {"entities": {"driver_id": [1, 2], "customer_id": [1]}},
            400,
            "length",
        ),
        ("/v1/models/trip_acceptance/predict", {"entities": {}}, 400, "entity keys"),
        ("/v1/models/trip_acceptance/predict", {"entities": {"driver_id": 5, "customer_id": 1}}, 400, "list"),
        ("/v1/models/trip_acceptance/predict", {"entitys": {}}, 400, "entitys"),
        ("/v1/models/trip_acceptance/predict", [1, 2], 400, "JSON object"),
        (
            "/v1/models/trip_acceptance/predict",
            {"entities": {"driver_id": [1], "customer_id": [1]}, "features": {"conv_rate": ["high"]}},
            400,
            "conv_rate",
        ),
        (
            "/v1/models/trip_acceptance/predict",
            {"entities": {"driver_id": [1], "customer_id": [1]}, "features": {"bogus": [1]}},
            400,
            "bogus",
        ),
        (
            "/v1/models/trip_acceptance/predict",
            {"entities": {"driver_id": list(range(1001)), "customer_id": list(range(1001))}},
            413,
            "max_batch",
        ),
        ("/v1/features/nope", {"entities": {"driver_id": [1]}}, 404, "nope"),
    ],
)
def test_bad_input_is_4xx_naming_the_problem(served, path, payload, status, needle) -> None:
    _, url, _ = served
    r = httpx.post(f"{url}{path}", json=payload)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]


def test_malformed_json_and_wrong_method(served) -> None:
    _, url, _ = served
    r = httpx.post(
        f"{url}/v1/models/trip_acceptance/predict",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", content=b"")
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = httpx.get(f"{url}/v1/models/trip_acceptance/predict")
    assert r.status_code == 405
    r = httpx.get(f"{url}/v9/nothing")
    assert r.status_code == 404 and "no such endpoint" in r.json()["error"]
    assert httpx.get(f"{url}/v2/health/live").status_code == 200  # the worker is still up


def test_v2_with_tritonclient(served) -> None:
    import numpy as np
    import tritonclient.http as triton

    yard, url, _ = served
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("trip_acceptance")
    meta = client.get_model_metadata("trip_acceptance")
    assert meta["versions"] == ["1"]
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]][:2] == [
        ("driver_id", "INT64"),
        ("customer_id", "INT64"),
    ]
    rows = entities(yard.path).iloc[20:24]
    inputs = []
    for key in ("driver_id", "customer_id"):
        tensor = triton.InferInput(key, [4], "INT64")
        tensor.set_data_from_numpy(rows[key].to_numpy(dtype=np.int64), binary_data=False)
        inputs.append(tensor)
    outputs = [
        triton.InferRequestedOutput("prediction", binary_data=False),
        triton.InferRequestedOutput("score", binary_data=False),
    ]
    result = client.infer("trip_acceptance", inputs, outputs=outputs, request_id="tri-1")
    scores = result.as_numpy("score")
    assert result.as_numpy("prediction").shape == (4,) and scores.shape == (4,)
    v1 = httpx.post(
        f"{url}/v1/models/trip_acceptance/predict",
        json={"entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()}},
    ).json()
    assert list(scores) == pytest.approx([p["score"] for p in v1["predictions"]])
    assert result.get_response()["id"] == "tri-1"
    # a pinned version, and features given directly as inputs (no store read)
    result = client.infer("trip_acceptance", inputs, model_version="1")
    assert result.get_response()["model_version"] == "1"
    # unknown model: the client raises with our message
    with pytest.raises(triton.InferenceServerException, match="unknown model"):
        client.infer("nope", inputs)
    # the binary extension is refused with a 400 that says what to do
    binary = triton.InferInput("driver_id", [1], "INT64")
    binary.set_data_from_numpy(np.array([1], dtype=np.int64), binary_data=True)
    with pytest.raises(triton.InferenceServerException, match="binary"):
        client.infer("trip_acceptance", [binary])


def test_v2_features_as_inputs(served) -> None:
    yard, url, _ = served
    frame = yard.features.online_vectors("trip_acceptance", _body(yard, 2)["entities"])
    types = {
        "vehicle_type": "BYTES",
        "customer_tier": "BYTES",
        "avg_daily_trips": "INT64",
        "trips_last_7d": "INT64",
    }
    inputs = []
    for name in yard.features.feature_names("trip_acceptance"):
        values = [
            None if v is None or v != v else (v.item() if hasattr(v, "item") else v)
            for v in frame[name].tolist()
        ]
        inputs.append({"name": name, "shape": [2], "datatype": types.get(name, "FP64"), "data": values})
    r = httpx.post(f"{url}/v2/models/trip_acceptance/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    assert [o["name"] for o in r.json()["outputs"]] == ["prediction", "score"]
    r = httpx.post(
        f"{url}/v2/models/trip_acceptance/infer",
        json={"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]},
    )
    assert r.status_code == 400 and "unknown input 'x'" in r.json()["error"]


def test_openapi_and_metrics(served) -> None:
    _, url, _ = served
    spec = httpx.get(f"{url}/openapi.json").json()
    for path in (
        "/v1/models/{model}/predict",
        "/v1/features/{model}",
        "/v2/models/{model}/infer",
        "/v2/health/ready",
        "/metrics",
    ):
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/models/{model}/predict"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert set(body["properties"]) == {"entities", "features", "request", "request_id", "routing_key"}
    text = httpx.get(f"{url}/metrics").text
    for name in (
        "modelyard_requests_total",
        "modelyard_request_latency_seconds_bucket",
        "modelyard_feature_store_latency_seconds_bucket",
        "modelyard_errors_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert name in text, name
    assert 'modelyard_request_latency_seconds_count{model="trip_acceptance",variant="v1",version="1"}' in text


def test_missing_value_policies(served) -> None:
    from modelyard.config.schema import MissingValuePolicy

    yard, url, state = served
    model = state.table.models["trip_acceptance"]
    saved = model.config.missing_values
    body = {
        "entities": {
            "driver_id": [999999, int(entities(yard.path).driver_id[0])],
            "customer_id": [888888, int(entities(yard.path).customer_id[0])],
        }
    }
    try:
        model.config.missing_values = MissingValuePolicy(policy="reject")
        r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body)
        assert r.status_code == 200, r.text
        bad, good = r.json()["predictions"]
        assert bad["prediction"] is None and "missing feature values" in bad["error"] and bad["missing"]
        assert good["prediction"] in (0, 1) and "error" not in good
        v2 = httpx.post(
            f"{url}/v2/models/trip_acceptance/infer",
            json={
                "inputs": [
                    {"name": k, "shape": [2], "datatype": "INT64", "data": v}
                    for k, v in body["entities"].items()
                ]
            },
        )
        assert v2.status_code == 422 and "row 0" in v2.json()["error"]
        defaults = {
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
        model.config.missing_values = MissingValuePolicy(policy="default", defaults=defaults)
        r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body)
        row = r.json()["predictions"][0]
        assert row["missing"] and row["prediction"] in (0, 1)
        direct = httpx.post(
            f"{url}/v1/models/trip_acceptance/predict",
            json={"features": {k: [v] for k, v in defaults.items()}},
        ).json()["predictions"][0]
        assert row["score"] == pytest.approx(direct["score"])  # the defaults were what the model saw
    finally:
        model.config.missing_values = saved


def test_predictions_are_logged_with_cache_flag(served) -> None:
    yard, url, state = served
    body = {**_body(yard, 1, offset=30), "request_id": "logged-1"}
    httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=body)
    httpx.post(f"{url}/v1/models/trip_acceptance/predict", json={**body, "request_id": "logged-2"})
    assert state.prediction_log.flush(timeout=30)
    frame = state.prediction_log.sink.read_frame("trip_acceptance")
    rows = frame.set_index("request_id").loc[["logged-1", "logged-2"]]
    assert rows["cache_hit"].tolist() == [False, True]
    assert rows["version"].tolist() == [1, 1] and rows["mode"].tolist() == ["live", "live"]
    assert '"driver_id"' in rows["entities"].iloc[0] and '"conv_rate"' in rows["features"].iloc[0]


def test_onnx_columnar_fast_path_equals_the_flavor(served) -> None:
    """The ONNX fast path (no DataFrame) answers exactly what the flavor's predict(frame) answers."""
    from srv_helpers import train

    from modelyard.artifacts.flavor import columnar_predictor
    from modelyard.serving.frames import build_frame

    yard, _, state = served
    estimator, cols = train(yard, "trip_acceptance", c=0.5)
    version = yard.registry.register("trip_acceptance", estimator, feature_names=cols, flavor="onnx")
    predictor = yard.registry.load_predictor(version)
    fast = columnar_predictor(predictor)
    assert fast is not None
    served_model = state.table.models["trip_acceptance"]
    ents = _body(yard, 25)["entities"]
    ents["driver_id"][3] = 999999  # missing features too
    columns = served_model.reader.read(ents)
    for rows in (list(range(25)), [1, 3, 4, 17], [3]):  # all rows, a subset with a missing row, one
        labels, scores = fast(columns, rows)
        frame = build_frame(columns, served_model.schema, rows)
        assert labels == predictor.predict(frame).tolist()
        assert scores == predictor.predict_proba(frame).tolist()


def test_the_worker_sizes_model_thread_pools_from_config(served) -> None:
    from modelyard.artifacts.flavor import model_threads

    yard, _, _ = served
    assert yard.config.serving.model_threads == 1  # the default: parallelism comes from workers
    assert model_threads() == 1


def test_v2_metadata_names_each_entity_keys_real_type() -> None:
    from feast.value_type import ValueType

    from modelyard.serving.routes_v2 import _key_datatype

    assert _key_datatype(ValueType.STRING.value) == "BYTES"  # was advertised as INT64
    assert _key_datatype(ValueType.INT32.value) == "INT32"
    assert _key_datatype(ValueType.INT64.value) == "INT64"
    assert _key_datatype(None) == "INT64"


def test_a_model_frame_holds_only_the_models_columns_in_its_order() -> None:
    from modelyard.errors import BadRequest
    from modelyard.features.schema import FeatureSchema
    from modelyard.serving.frames import build_frame

    schema = FeatureSchema((("a", "DOUBLE"), ("tier", "STRING"), ("rush", "BOOL"), ("b", "INT64")))
    columns = {"a": [0.5, None], "tier": ["x", "y"], "rush": [True, None], "b": [3, 4]}
    frame = build_frame(columns, schema, [1, 0], only=["b", "a"])
    assert list(frame.columns) == ["b", "a"]
    assert frame["b"].tolist() == [4, 3] and frame["a"].isna().tolist() == [True, False]
    whole = build_frame(columns, schema, [1, 0])
    assert list(whole.columns) == ["a", "tier", "rush", "b"]
    assert frame.equals(whole[["b", "a"]])
    # a name the schema lacks: the whole frame, so the predictor's own check names what is missing
    assert list(build_frame(columns, schema, only=["a", "nope"]).columns) == ["a", "tier", "rush", "b"]
    from modelyard.artifacts.flavor import select_columns

    with pytest.raises(BadRequest, match="nope"):
        select_columns(build_frame(columns, schema, only=["a", "nope"]), ["a", "nope"])
