"""A canary whose model raises: its failures reach the prediction log, the error_rate guard and a rollback.

Real Feast online reads (example repo), real registry (SQLite), real prediction log (Parquet),
requests through a real HTTP server; the rollout policy ticks in-process as
``modelyard rollout watch`` would.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd
import pytest
from rollout_models import GatedModel, ThresholdModel
from srv_helpers import running_server

from modelyard.rollout import changes
from modelyard.rollout.policy import RolloutPolicy
from modelyard.routing import guards
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.router import Variant
from modelyard.yard import Yard

MODEL = "trip_acceptance"
FEATURE = "conv_rate"
GUARDS = [{"type": "error_rate", "max": 0.05, "min_samples": 8}]
CANARY = {"steps": [50, 100], "min_dwell_seconds": 0, "min_samples": 8}


@pytest.fixture
def yard(example_repo: Path):
    repo = example_repo
    y = Yard.load(repo)
    yield y
    if "registry" in y.__dict__:
        y.registry.close()


def _traffic(url: str, yard: Yard, n: int, tag: str) -> list[httpx.Response]:
    rows = pd.read_parquet(yard.path / "data" / f"{MODEL}_entities.parquet").head(n)
    return [
        httpx.post(
            f"{url}/v1/models/{MODEL}/predict",
            json={
                "entities": {"driver_id": [int(row.driver_id)], "customer_id": [int(row.customer_id)]},
                "request_id": f"{tag}-{i}",
                "routing_key": f"user-{i}",
            },
            timeout=30,
        )
        for i, row in enumerate(rows.itertuples())
    ]


def test_a_crashing_canary_is_logged_fails_its_guard_and_is_rolled_back(yard: Yard, tmp_path: Path) -> None:
    from modelyard.serving.app import build_state, create_app

    gate = tmp_path / "open"
    gate.touch()  # GatedModel answers at once: with fail=True it raises on every call
    v1 = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.5))
    v2 = yard.registry.register(MODEL, GatedModel(FEATURE, str(gate), fail=True))
    yard.registry.promote(MODEL, v1.version, reason="first")
    store = DeploymentStore.for_yard(yard)
    changes.deploy(
        store,
        MODEL,
        router="canary",
        variants=[Variant("v2", v2.version)],
        settings=CANARY,
        guards=GUARDS,
        actor="test",
        reason="canary of a crashing v2",
        salt="crash-v2",
    )
    state = build_state(yard, cache=False)
    try:
        with running_server(create_app(state=state)) as url:
            answers = _traffic(url, yard, 40, "a")
            failed = [r for r in answers if r.status_code != 200]
            ok = [r for r in answers if r.status_code == 200]
            assert failed and ok, "the 50 % canary must take some of the 40 users"
            for r in failed:
                assert r.status_code == 422, r.text
                body = r.json()
                assert body["type"] == "PredictionFailed"
                assert (
                    f"'{MODEL}' v{v2.version}" in body["error"] and "shadow model exploded" in body["error"]
                )
            assert all(r.json()["predictions"][0]["variant"] == "v1" for r in ok)

            assert state.prediction_log.flush(timeout=30)
            log = state.prediction_log.sink.read_frame(MODEL)
            ours = log[log.request_id.str.startswith("a-")]
            assert len(ours) == 40, "every request is logged, failed or not"
            v2_rows = ours[ours.variant == "v2"]
            assert len(v2_rows) == len(failed)
            assert (v2_rows.version == v2.version).all() and (v2_rows["mode"] == "live").all()
            assert v2_rows.error.eq("RuntimeError: shadow model exploded").all()
            assert v2_rows.prediction.isna().all() and v2_rows.prediction_label.isna().all()
            assert (v2_rows.latency_ms > 0).all()
            assert '"conv_rate"' in v2_rows.features.iloc[0]  # the input the model failed on
            assert ours[ours.variant == "v1"].error.isna().all()

            results = guards.check_all(
                GUARDS,
                model=MODEL,
                variant=Variant("v2", v2.version),
                control=Variant("v1", v1.version),
                log=log,
                now=datetime.now(timezone.utc),
            )
            (result,) = results
            assert not result.ok and result.value == 1.0 and result.n == len(failed)
            control = guards.check_all(
                GUARDS,
                model=MODEL,
                variant=Variant("v1", v1.version),
                control=None,
                log=log,
                now=datetime.now(timezone.utc),
            )
            assert control[0].ok and control[0].value == 0.0

            tick = RolloutPolicy(yard, store=store).tick(MODEL)
            assert tick.action == "rollback" and "error rate of v2" in tick.reason, tick
            state.table.poll()
            after = _traffic(url, yard, 20, "b")
            assert all(r.status_code == 200 for r in after), [r.text for r in after if r.status_code != 200]
            assert {r.json()["predictions"][0]["variant"] for r in after} == {"v1"}
    finally:
        state.close()
    assert yard.registry.aliases(MODEL)["production"] == v1.version
    assert store.current(MODEL).status == "rolled_back"
