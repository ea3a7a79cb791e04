"""Protocol front ends are plugins: ``serving.protocols`` chooses what a worker mounts, auth covers them.

Real trained models on the example repo (the session's served yard); each app here is built over
that yard's loaded state with another ``serving.protocols`` or another plugin host.
"""

from __future__ import annotations

import pytest
from srv_helpers import entities
from starlette.requests import Request  # at module level: FastAPI resolves the handler's annotation here

from modelyard.config.schema import DEFAULT_PROTOCOLS, AuthConfig, TokenConfig
from modelyard.errors import ConfigError
from modelyard.plugins import hookimpl
from modelyard.serving.auth import Tokens, digest

PREDICT = "p" * 32
ADMIN = "a" * 32


@pytest.fixture
def served(served_example_yard):
    return served_example_yard


def _yard(yard, *, protocols=None, host=None):
    """``yard`` with another ``serving.protocols`` and/or plugin host (the same repo and registry)."""
    from modelyard.yard import Yard

    config = yard.config
    if protocols is not None:
        serving = config.serving.model_validate({**config.serving.model_dump(), "protocols": protocols})
        config = config.model_copy(update={"serving": serving})
    return Yard(yard.path, config, host or yard.host)


def _paths(app) -> set[str]:
    from modelyard.serving.protocol import endpoints

    return {path for _, path in endpoints(app.routes)}


def _row(yard) -> dict:
    row = entities(yard.path).iloc[0]
    return {"driver_id": int(row.driver_id), "customer_id": int(row.customer_id)}


def test_the_default_mounts_every_builtin_protocol(served) -> None:
    from modelyard.serving.app import create_app

    yard, _, state = served
    assert [c.plugin for c in yard.config.serving.protocols] == list(DEFAULT_PROTOCOLS)
    assert {
        name: yard.host.provider("protocol", name).distribution for name in DEFAULT_PROTOCOLS
    } == dict.fromkeys(DEFAULT_PROTOCOLS, "modelyard")
    paths = _paths(create_app(state=state))
    for path in (
        "/v1/models/{model}/predict",
        "/v1/features/{model}",
        "/v1/models",
        "/v2/models/{model}/infer",
        "/v2/health/ready",
        "/v1/models/{model}/feedback",
        "/v1/push/{push_source}",
        "/ui",
        "/metrics",
        "/docs",
    ):
        assert path in paths, path


def test_serving_protocols_chooses_what_a_worker_answers(served) -> None:
    from fastapi.testclient import TestClient

    from modelyard.serving.app import create_app

    yard, _, state = served
    row = _row(yard)
    app = create_app(_yard(yard, protocols=["v2"]), state=state)
    with TestClient(app) as client:
        infer = {
            "inputs": [{"name": k, "datatype": "INT64", "shape": [1], "data": [v]} for k, v in row.items()]
        }
        answered = client.post("/v2/models/trip_acceptance/infer", json=infer)
        assert answered.status_code == 200, answered.text
        assert answered.json()["outputs"][0]["name"] == "prediction"
        # v1's hot POST is gone with its routes, not only hidden from the document
        assert client.post("/v1/models/trip_acceptance/predict", json={"entities": row}).status_code == 404
        assert client.get("/v1/models").status_code == 404
        assert client.get("/ui").status_code == 404
        assert client.post("/v1/models/trip_acceptance/feedback", json=[]).status_code == 404
        assert client.get("/metrics").status_code == 200  # the app's own, whatever the protocols
        document = client.get("/openapi.json").json()
        assert document["info"]["description"].endswith("Protocols (serving.protocols): v2.")
        documented = document["paths"]
        assert not [p for p in documented if p.startswith(("/v1", "/ui"))]
        assert "/v2/models/{model}/infer" in documented

    # the same request through v1 when only v1 is mounted: same prediction
    with TestClient(create_app(_yard(yard, protocols=["v1"]), state=state)) as client:
        v1 = client.post(
            "/v1/models/trip_acceptance/predict", json={"entities": {k: [v] for k, v in row.items()}}
        )
        assert v1.status_code == 200, v1.text
        # (v2 sends labels as BYTES when the loaded versions' classes differ in type)
        assert str(v1.json()["predictions"][0]["prediction"]) == str(answered.json()["outputs"][0]["data"][0])
        assert client.post("/v2/models/trip_acceptance/infer", json=infer).status_code == 404


class _HelloProtocol:
    """A third-party protocol, registered in process: one route with a scope, one without."""

    @staticmethod
    def build(yard):
        from fastapi import APIRouter

        from modelyard.serving.protocol import ProtocolRoutes, serving_state

        router = APIRouter()

        @router.get("/hello/{model}")
        async def hello(model: str, request: Request) -> dict:
            return {"model": model, "versions": sorted(serving_state(request).table.get(model).versions)}

        @router.post("/hello-reset")
        async def reset() -> dict:  # no scope given: closed to all but admin tokens
            return {"reset": True}

        return ProtocolRoutes(router, scopes={"/hello/{model}": "predict"})

    @staticmethod
    @hookimpl
    def modelyard_protocols():
        from modelyard.plugins.specs import ProtocolSpec

        yield ProtocolSpec(name="hello", summary="hello", factory=_HelloProtocol.build)


def test_auth_covers_every_route_a_protocol_plugin_adds(served) -> None:
    from fastapi.testclient import TestClient

    from modelyard.plugins.testing import make_host
    from modelyard.serving.app import create_app

    yard, _, state = served
    host = make_host(_HelloProtocol)
    app = create_app(_yard(yard, protocols=["v1", "hello"], host=host), state=state)
    tokens = Tokens.load(
        AuthConfig(tokens=[TokenConfig(sha256=digest(ADMIN), scopes=["admin"], name="ops")]),
        {"MODELYARD_TOKENS_PREDICT": PREDICT},
    )
    with TestClient(app) as client:
        app.guard(tokens, max_body_bytes=state.limits.max_body_bytes)

        def call(method: str, path: str, token: str | None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return client.request(method, path, headers=headers).status_code

        assert call("GET", "/hello/trip_acceptance", None) == 401
        assert call("GET", "/hello/trip_acceptance", "x" * 32) == 401
        assert call("GET", "/hello/trip_acceptance", PREDICT) == 200
        assert client.get(
            "/hello/trip_acceptance", headers={"Authorization": f"Bearer {PREDICT}"}
        ).json() == {
            "model": "trip_acceptance",
            "versions": sorted(state.table.get("trip_acceptance").versions),
        }
        assert call("POST", "/hello-reset", None) == 401
        assert call("POST", "/hello-reset", PREDICT) == 403  # a path nobody gave a scope needs admin
        assert call("POST", "/hello-reset", ADMIN) == 200
        assert call("GET", "/v1/models", PREDICT) == 200  # the built-ins keep theirs
        assert app.tokens.required("/v1/models/m/feedback") == "admin"  # feedback is not mounted here


def test_a_protocol_may_not_take_another_ones_path_or_scope(served) -> None:
    from fastapi import APIRouter

    from modelyard.plugins.specs import ProtocolSpec
    from modelyard.plugins.testing import make_host
    from modelyard.serving.app import create_app
    from modelyard.serving.protocol import ProtocolRoutes

    yard, _, state = served

    def plugin(routes):
        class Rogue:
            @staticmethod
            @hookimpl
            def modelyard_protocols():
                yield ProtocolSpec(name="rogue", summary="rogue", factory=lambda yard: routes)

        return Rogue

    def router(path: str, method: str = "get") -> APIRouter:
        r = APIRouter()
        getattr(r, method)(path)(lambda: {})
        return r

    cases = {
        "both answer POST /v1/models/{model}/predict": ProtocolRoutes(
            router("/v1/models/{model}/predict", "post")
        ),
        "sets the scope of '/v1/models', which is not one of its routes": ProtocolRoutes(
            router("/mine"), scopes={"/v1/models": "open"}
        ),
        "the scope 'public'": ProtocolRoutes(router("/mine"), scopes={"/mine": "public"}),
        "both answer GET /metrics": ProtocolRoutes(router("/metrics")),
        "has no POST route": ProtocolRoutes(router("/mine"), hot=[("/mine", None)]),
        "built a dict": {"routes": []},
    }
    for expected, routes in cases.items():
        host = make_host(plugin(routes))
        with pytest.raises(ConfigError) as err:
            create_app(_yard(yard, protocols=["v1", "rogue"], host=host), state=state)
        message = str(err.value)
        assert "rogue" in message and "serving.protocols" in message, message
        assert expected in message, (expected, message)


def test_scopes_of_protocol_paths_are_exact_and_ambiguity_is_admin() -> None:
    from modelyard.serving import auth

    tokens = Tokens().with_rules(
        auth.rules_for({"/m/{name}": "open", "/m/{name}:predict": "predict", "/p/{name}/go": "feedback"})
    )
    assert tokens.required("/p/x/go") == "feedback"
    assert tokens.required("/p/x/go/more") == "admin"  # templates match whole paths only
    assert tokens.required("/m/x") == "open"
    # '/m/{name}' also matches 'x:predict' as a name: two protocols' scopes disagree -> admin
    assert tokens.required("/m/x:predict") == "admin"
    assert tokens.required("/metrics") == "open" and tokens.required("/docs") == "open"  # the app's own
    # answers are remembered per path, boundedly, and never carried over to other rules
    for i in range(auth._KNOWN_PATHS + 10):
        tokens.required(f"/invented/{i}")
    assert len(tokens._known) <= auth._KNOWN_PATHS
    assert tokens.with_rules(auth.rules_for({"/p/{name}/go": "predict"})).required("/p/x/go") == "predict"
