"""Hardening of the HTTP server: tokens and scopes on every route, bounded requests, no 5xx for bad input,
Open Inference Protocol conformance, readiness, and poison records under steady load."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from srv_helpers import entities, running_server

from modelyard.config.schema import AuthConfig, TokenConfig
from modelyard.errors import ConfigError
from modelyard.serving.auth import OPEN, Tokens, check_bind, digest

PREDICT, FEEDBACK, ADMIN = "p" * 20 + "redict", "f" * 20 + "eedback", "a" * 20 + "dmin"


@pytest.fixture
def served(served_example_yard):
    return served_example_yard


def _body(yard, n: int = 1, offset: int = 0) -> dict:
    rows = entities(yard.path).iloc[offset : offset + n]
    return {"entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()}}


# --- authentication ------------------------------------------------------------------------------


def _concrete(path: str) -> str:
    return path.replace("{model}", "trip_acceptance").replace("{version}", "1")


def _flat_routes(routes) -> list:
    """Routes, with FastAPI's included routers opened up (newer FastAPI keeps them nested)."""
    out = []
    for route in routes:
        nested = getattr(route, "effective_candidates", None)
        if nested is not None:
            out += _flat_routes(nested() if callable(nested) else nested)
        else:
            out.append(route)
    return out


def _routes(app) -> list[tuple[str, str]]:
    """(method, concrete path) of every route the app serves: new routes join the matrix by themselves."""
    out = []
    for route in _flat_routes(app.routes):
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                out.append((method, _concrete(route.path)))
    return sorted(set(out))


@pytest.fixture
def guarded(served):
    """A TestClient of an app over the served state with one token per scope (from the environment)."""
    from fastapi.testclient import TestClient

    from modelyard.serving.app import create_app

    _, _, state = served
    environ = {"MODELYARD_TOKENS_PREDICT": PREDICT, "MODELYARD_TOKENS_FEEDBACK": FEEDBACK}
    tokens = Tokens.load(
        AuthConfig(tokens=[TokenConfig(sha256=digest(ADMIN), scopes=["admin"], name="ops")]), environ
    )
    app = create_app(state=state)
    with TestClient(app) as client:
        app.guard(tokens, max_body_bytes=state.limits.max_body_bytes)
        yield app, client, app.tokens  # with the scopes each mounted protocol gives its paths


def test_every_route_answers_no_token_wrong_token_wrong_scope_and_right_token(guarded) -> None:
    app, client, tokens = guarded
    routes = _routes(app)
    assert len(routes) >= 15
    results = {"open": 0, "401": 0, "403": 0, "allowed": 0}
    wrong_scope = {"predict": FEEDBACK, "feedback": PREDICT, "admin": PREDICT}
    right = {"predict": PREDICT, "feedback": FEEDBACK, "admin": ADMIN}
    for method, path in routes:
        scope = tokens.required(path)

        def call(token: str | None, method=method, path=path) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            return client.request(method, path, headers=headers, content=b"{}")

        if scope == OPEN:
            for token in (None, "nope", PREDICT):
                assert call(token).status_code not in (401, 403), (method, path)
            results["open"] += 1
            continue
        for token in (None, "x" * 40, ""):
            r = call(token)
            assert r.status_code == 401, (method, path, token)
            assert r.json() == {"error": r.json()["error"], "type": "Unauthorized"}
            assert r.headers["www-authenticate"].startswith("Bearer")
            results["401"] += 1
        r = call(wrong_scope[scope])
        assert r.status_code == 403 and r.json()["type"] == "Forbidden", (method, path)
        results["403"] += 1
        for token in (right[scope], ADMIN):
            r = call(token)
            assert r.status_code not in (401, 403) and r.status_code < 500, (method, path, r.text)
            results["allowed"] += 1
    print(f"auth matrix over {len(routes)} routes: {results}")
    # the OpenAPI document says the same: scheme, scope, 401 and 403 on every protected operation
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    documented = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            scope = tokens.required(path)
            if scope == OPEN:
                assert operation["security"] == [] and "401" not in operation["responses"], (method, path)
                continue
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
            assert operation["x-modelyard-scope"] == scope, (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            documented += 1
    assert documented == results["403"]  # every protected route, no more
    assert tokens.required("/ui") == "admin" and tokens.required("/v1/models/m/feedback") == "feedback"
    # a browser carries its token in the UI's admin cookie (set by the open sign-in form)
    from modelyard.ui.routes import ADMIN_COOKIE

    assert client.get("/ui", cookies={ADMIN_COOKIE: ADMIN}).status_code == 200
    assert client.get("/ui", cookies={ADMIN_COOKIE: PREDICT}).status_code == 403
    assert client.get("/ui/admin").status_code == 200
    assert tokens.required("/some/future/route") == "admin"  # closed until someone opens it


def test_tokens_are_kept_hashed_and_short_ones_refused() -> None:
    tokens = Tokens.load(AuthConfig(), {"MODELYARD_TOKENS_ADMIN": f"{ADMIN}, {PREDICT}"})
    assert all(len(digest_) == 32 for digest_, _ in tokens.entries)
    assert ADMIN.encode() not in repr(tokens).encode()
    assert tokens.scopes_of(PREDICT) == {"admin"} and tokens.scopes_of("other") == frozenset()
    with pytest.raises(ConfigError, match="shorter than 16"):
        Tokens.load(AuthConfig(), {"MODELYARD_TOKENS_PREDICT": "short"})


def test_binding_a_reachable_address_needs_tokens_or_insecure() -> None:
    none = Tokens()
    check_bind("127.0.0.1", none)
    check_bind("::1", none)
    check_bind("localhost", none)
    with pytest.raises(ConfigError, match=r"refusing to serve on 0.0.0.0 without authentication"):
        check_bind("0.0.0.0", none)
    check_bind("0.0.0.0", none, insecure=True)
    check_bind("0.0.0.0", Tokens.load(None, {"MODELYARD_TOKENS_PREDICT": PREDICT}))


def test_serve_refuses_to_start_open_on_all_interfaces(served) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    yard, _, _ = served
    result = CliRunner().invoke(main, ["--repo", str(yard.path), "serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 1
    assert "refusing to serve on 0.0.0.0" in result.output and "Traceback" not in result.output


def test_token_command_prints_a_token_and_its_config_entry() -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    result = CliRunner().invoke(main, ["token", "--scope", "feedback", "--name", "labeller"])
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[0]
    assert f"sha256: {digest(token)}" in result.output and "scopes: [feedback]" in result.output


# --- bounded requests, and 4xx for bad input -----------------------------------------------------


def test_a_body_beyond_the_limit_is_413_before_it_is_read(served) -> None:
    yard, url, state = served
    limit = state.limits.max_body_bytes
    r = httpx.post(f"{url}/v1/models/trip_acceptance/predict", content=b"x" * (limit + 1), timeout=60)
    assert r.status_code == 413 and r.json()["type"] == "BodyTooLarge"

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    r = httpx.post(f"{url}/v1/models/trip_acceptance/feedback", content=chunks(), timeout=60)
    assert r.status_code == 413
    ok = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json=_body(yard), timeout=60)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/trip_acceptance/predict",
        "/v1/features/trip_acceptance",
        "/v2/models/trip_acceptance/infer",
        "/v1/models/trip_acceptance/feedback",
    ],
)
def test_deep_nesting_and_long_request_ids_are_400_on_every_endpoint(served, path: str) -> None:
    _, url, _ = served
    deep = b'{"entities": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    r = httpx.post(f"{url}{path}", content=deep)
    assert r.status_code == 400, r.text
    deep33 = {"request_id": "a", "label": 1, "inputs": [], "entities": {"x": json.loads("[" * 33 + "]" * 33)}}
    r = httpx.post(f"{url}{path}", json=deep33)
    assert r.status_code == 400, r.text
    long_id = {"request_id": "r" * 300, "id": "r" * 300, "label": 1}
    r = httpx.post(f"{url}{path}", json=long_id)
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "row",
    [
        {"entities": "not an object", "label": 1},
        {"driver_id": 1, "customer_id": 2, "event_timestamp": "", "label": 1},
        {"request_id": "r", "label": "yes"},  # a string label for the regression model
        {"request_id": "r", "label": {"a": 1}},
    ],
)
def test_listed_feedback_500s_are_400s(served, row: dict) -> None:
    _, url, _ = served
    r = httpx.post(f"{url}/v1/models/tip_amount/feedback", json=row)
    assert r.status_code == 400, r.text


def test_ui_window_overflow_is_400(served) -> None:
    _, url, _ = served
    for window in ("99999999999999999999d", "9" * 5000, "1e400d", "0d"):
        r = httpx.get(f"{url}/ui/models/trip_acceptance/monitoring", params={"window": window})
        assert r.status_code == 400, (window, r.status_code)


# --- Open Inference Protocol conformance ---------------------------------------------------------


def _infer(yard, **changes) -> dict:
    rows = entities(yard.path).iloc[:2]
    inputs = [
        {"name": "driver_id", "shape": [2], "datatype": "INT64", "data": rows.driver_id.tolist()},
        {"name": "customer_id", "shape": [2], "datatype": "INT64", "data": rows.customer_id.tolist()},
    ]
    return {"inputs": inputs, **changes}


def test_v2_datatypes_ranges_and_duplicate_names_are_enforced(served) -> None:
    yard, url, _ = served
    endpoint = f"{url}/v2/models/trip_acceptance/infer"
    body = _infer(yard)
    body["inputs"][0].update(datatype="INT8", data=[100000, 1])
    r = httpx.post(endpoint, json=body)
    assert r.status_code == 400 and "INT8" in r.json()["error"] and "'driver_id'" in r.json()["error"]
    declared = {
        i["name"]: i["datatype"] for i in httpx.get(f"{url}/v2/models/trip_acceptance").json()["inputs"]
    }
    assert declared["driver_id"] == "INT64" and declared["rating"] == "FP64"
    # a datatype other than the metadata's is refused, naming the input, even when the values would fit
    for datatype, data in (("INT32", None), ("FP64", None), ("BYTES", ["1", "2"]), (None, None)):
        body = _infer(yard)
        body["inputs"][1].update(datatype=datatype, data=data or body["inputs"][1]["data"])
        r = httpx.post(endpoint, json=body)
        assert r.status_code == 400, (datatype, r.text)
        error = r.json()["error"]
        assert "'customer_id'" in error and "INT64" in error and str(datatype) in error, error
    body = _infer(yard)
    body["inputs"].append({"name": "rating", "shape": [2], "datatype": "FP32", "data": [4.5, 4.0]})
    r = httpx.post(endpoint, json=body)
    assert r.status_code == 400 and "'rating' is FP64" in r.json()["error"], r.text
    body["inputs"][-1]["datatype"] = "FP64"  # the declared datatype is accepted
    assert httpx.post(endpoint, json=body).status_code == 200
    body = _infer(yard)
    body["inputs"].append(dict(body["inputs"][0]))
    r = httpx.post(endpoint, json=body)
    assert r.status_code == 400 and "twice" in r.json()["error"]
    body = _infer(yard)
    body["inputs"][0].update(datatype="BOOL", data=[1, 2])
    assert httpx.post(endpoint, json=body).status_code == 400
    body = _infer(yard)
    body["inputs"][0]["shape"] = [3]
    assert httpx.post(endpoint, json=body).status_code == 400
    assert httpx.post(endpoint, json=_infer(yard, parameters=[1])).status_code == 400
    assert httpx.post(endpoint, json=_infer(yard, outputs=[{"name": ["x"]}])).status_code == 400


def test_v2_metadata_output_datatype_matches_infer(served) -> None:
    yard, url, _ = served
    for model in ("trip_acceptance", "tip_amount"):
        meta = httpx.get(f"{url}/v2/models/{model}").json()
        declared = {o["name"]: o["datatype"] for o in meta["outputs"]}
        body = _infer(yard)
        r = httpx.post(f"{url}/v2/models/{model}/infer", json=body)
        assert r.status_code == 200, r.text
        assert {o["name"]: o["datatype"] for o in r.json()["outputs"]} == declared


def test_v2_unknown_versions_are_404_and_405_says_allow(served) -> None:
    yard, url, _ = served
    for path in ("/v2/models/trip_acceptance/versions/7", "/v2/models/trip_acceptance/versions/7/ready"):
        assert httpx.get(f"{url}{path}").status_code == 404, path
    r = httpx.post(f"{url}/v2/models/trip_acceptance/versions/7/infer", json=_infer(yard))
    assert r.status_code == 404
    r = httpx.post(f"{url}/v2/models/trip_acceptance/versions/x/infer", json=_infer(yard))
    assert r.status_code == 404
    r = httpx.get(f"{url}/v2/models/trip_acceptance/infer")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_readiness_is_per_model_and_ignores_models_without_a_version(served) -> None:
    from modelyard.serving.models import ModelTable

    yard, url, _ = served
    ready = httpx.get(f"{url}/v2/health/ready")
    assert ready.status_code == 200 and ready.json()["not_serving"] == []
    table = ModelTable(yard)
    table.start()
    try:  # as the poller leaves a model whose alias names no version yet
        served_tip = table.models["tip_amount"]
        served_tip.versions = {}
        served_tip.unversioned = True
        status = table.status()
        assert status["ready"] is True and status["not_serving"] == ["tip_amount"]
        served_tip.unversioned = False  # has a version, not loaded (yet): not ready
        assert table.status()["ready"] is False
    finally:
        table.stop()


# --- poison records under steady load ------------------------------------------------------------


def _steady_load_with_poison(yard, url: str, state, n: int = 240) -> tuple[int, int]:
    """``n`` predictions from 4 threads, nasty legal values among them, and one record the sink must
    refuse injected in the middle; returns (2xx answers, records sent to the log)."""
    from modelyard.predictions.records import PredictionRecord

    ok = 0
    lock = threading.Lock()
    nasty_ids = ["nul\u0000id", "\u2028\uffff\U0001f600", "x" * 256]

    def worker(k: int) -> None:
        nonlocal ok
        with httpx.Client() as client:
            for i in range(k, n, 4):
                body = _body(yard, 1, offset=i % 50)
                body["request_id"] = nasty_ids[i % 3] + f"-{i}" if i % 10 == 0 else f"steady-{i}"
                if i % 7 == 0:
                    body["features"] = {"vehicle_type": ["\u0000\u202e"]}
                r = client.post(f"{url}/v1/models/trip_acceptance/predict", json=body)
                assert r.status_code in (200, 400), r.text
                if r.status_code == 200:
                    with lock:
                        ok += 1
                if i == n // 2:  # a record the sink refuses, in the middle of the load
                    state.prediction_log.log(
                        PredictionRecord(
                            request_id=f"poison-{i}", model="trip_acceptance", version=2**63, prediction=1
                        )
                    )

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.prediction_log.flush(30)
    return ok, ok + 1


def _serve_with_log(yard, logger):
    from modelyard.serving.app import build_state, create_app

    state = build_state(yard, prediction_log=logger, cache=False)
    return state, running_server(create_app(state=state))


def _dead(directory: Path) -> list[dict]:
    return [json.loads(line) for f in directory.glob("dead-*.jsonl") for line in f.read_text().splitlines()]


@pytest.mark.postgres
def test_poison_record_under_steady_load_postgres(served, postgres_url: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from modelyard.plugins.testing import make_host
    from modelyard.predictions.log import PredictionLogger

    yard, _, _ = served
    sink = make_host().spec("log_sink", "postgres").build({"url": postgres_url, "table": "plog"})
    logger = PredictionLogger(sink, flush_interval=0.05, max_buffer=50, spool_dir=tmp_path / "spool")
    state, server = _serve_with_log(yard, logger)
    with server as url:
        answered, sent = _steady_load_with_poison(yard, url, state)
        metrics = httpx.get(f"{url}/metrics").text
    state.close()
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        delivered = conn.execute(sa.text("SELECT count(*) FROM plog")).scalar_one()
        nul = conn.execute(
            sa.text("SELECT count(*) FROM plog WHERE request_id LIKE 'nul\ufffdid-%'")
        ).scalar_one()
    engine.dispose()
    dead = _dead(tmp_path / "spool" / "dead-letter")
    print(
        f"postgres: sent {sent} ({answered} 2xx + 1 poison), delivered {delivered}, dead-lettered {len(dead)}"
    )
    assert delivered + len(dead) == sent and len(dead) == 1 and nul > 0
    # refused with the reason: by PostgreSQL ("out of range") or, since the log converts batches to
    # Arrow first, by that conversion ("too large to convert"); either way dead-lettered, not lost
    error = dead[0]["error"]
    assert dead[0]["row"]["request_id"].startswith("poison") and (
        "out of range" in error or "too large" in error
    )
    assert "modelyard_prediction_log_dead_lettered 1.0" in metrics


def test_poison_record_under_steady_load_parquet(served, tmp_path: Path) -> None:
    from modelyard.plugins.testing import make_host
    from modelyard.predictions.log import PredictionLogger

    yard, _, _ = served
    build = make_host().spec("log_sink", "parquet").build
    logger = PredictionLogger(
        build({"path": str(tmp_path / "logs")}),
        flush_interval=0.05,
        max_buffer=50,
        spool_dir=tmp_path / "spool",
    )
    state, server = _serve_with_log(yard, logger)
    with server as url:
        answered, sent = _steady_load_with_poison(yard, url, state)
    state.close()
    delivered = len(build({"path": str(tmp_path / "logs")}).read_frame("trip_acceptance"))
    dead = _dead(tmp_path / "spool" / "dead-letter")
    print(
        f"parquet: sent {sent} ({answered} 2xx + 1 poison), delivered {delivered}, dead-lettered {len(dead)}"
    )
    assert delivered + len(dead) == sent and len(dead) == 1


def test_docs_page_loads_nothing_from_another_host(guarded) -> None:
    """/docs (Swagger UI) works offline: every URL on the page is the worker's own, and each asset is served."""
    import re

    _, client, _ = guarded
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert not re.search(r"(?:https?:)?//[A-Za-z0-9]", page.text), (
        page.text
    )  # no other host, not even a badge
    urls = set(re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", page.text))
    assets = {u for u in urls if u.startswith("/docs/assets/")}
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= assets, urls
    assert urls - assets <= {"/openapi.json", "/docs/oauth2-redirect"}, urls
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200 and asset.content, url
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert len(bundle.content) > 100_000 and "SwaggerUIBundle" in bundle.text
    assert bundle.headers["content-type"].startswith(("application/javascript", "text/javascript"))
    assert client.get("/docs/oauth2-redirect").status_code == 200
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert client.get("/redoc", headers=admin).status_code == 404  # ReDoc only ever loaded from a CDN
