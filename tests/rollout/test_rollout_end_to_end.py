"""The issue's scenario in one process: a canary of v2 ramps and is promoted, a slow v3 is rolled back.

Real Feast online reads (example repo), real registry (SQLite), real prediction log
(Parquet) and feedback, the serving PredictionService answering; the rollout policy ticks
as ``modelyard rollout watch`` would.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rollout_models import SlowModel, ThresholdModel

from modelyard.plugins import hookimpl
from modelyard.plugins.testing import make_host
from modelyard.predictions.feedback import record_feedback
from modelyard.rollout import changes
from modelyard.rollout.experiment import experiment_report
from modelyard.rollout.policy import RolloutPolicy
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.router import Variant
from modelyard.yard import Yard

MODEL = "trip_acceptance"
FEATURE = "conv_rate"
# Guards decide with 95% confidence: ~20 requests can show a median below 300 ms and an error
# rate below 20% (0 errors in 20: upper bound 13.9%), not a p99 (that takes 299 requests).
GUARDS = [
    {"type": "latency", "quantile": 0.5, "max_ms": 300, "min_samples": 8},
    {"type": "error_rate", "max": 0.2, "min_samples": 8},
]
CANARY = {"steps": [50, 100], "min_dwell_seconds": 0, "min_samples": 8}


class Rollbacks:
    def __init__(self) -> None:
        self.events: list = []

    @hookimpl
    def modelyard_on_rollback(self, event) -> None:
        self.events.append(event)


@pytest.fixture
def yard(example_repo: Path):
    repo = example_repo
    listener = Rollbacks()
    y = Yard.load(repo, host=make_host(listener))
    y.rollbacks = listener  # type: ignore[attr-defined]
    yield y
    if "registry" in y.__dict__:
        y.registry.close()


def traffic(state, yard: Yard, n: int, tag: str) -> list[str]:
    """``n`` single-row requests from distinct users; returns the variant that answered each."""
    rows = pd.read_parquet(yard.path / "data" / f"{MODEL}_entities.parquet").head(n)
    variants = []
    for i, row in enumerate(rows.itertuples()):
        answers = state.service.predict(
            MODEL,
            {"driver_id": [row.driver_id], "customer_id": [row.customer_id]},
            request_id=f"{tag}-{i}",
            routing_key=f"user-{i}",
        )
        variants.append(answers[0].variant)
    state.prediction_log.flush()
    record_feedback(yard, MODEL, [{"request_id": f"{tag}-{i}", "label": int(i % 3 == 0)} for i in range(n)])
    return variants


def test_canary_promotes_a_good_version_and_rolls_back_a_slow_one(yard: Yard) -> None:
    from modelyard.serving.app import build_state

    v1 = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.5))
    v2 = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.45))
    v3 = yard.registry.register(MODEL, SlowModel(FEATURE, delay=0.4))
    yard.registry.promote(MODEL, v1.version, reason="first")
    store = DeploymentStore.for_yard(yard)
    policy = RolloutPolicy(yard, store=store)
    state = build_state(yard, cache=False)
    try:
        traffic(state, yard, 5, "warm-up")  # first Feast reads are slow; keep them out of the canary
        # -- canary of v2: 50 %, then 100 %, then promoted
        changes.deploy(
            store,
            MODEL,
            router="canary",
            variants=[Variant("v2", v2.version)],
            settings=CANARY,
            guards=GUARDS,
            actor="demo",
            reason="canary v2",
            salt="demo-v2",
        )
        state.table.poll()
        seen = traffic(state, yard, 40, "a")
        assert set(seen) == {"v1", "v2"}
        assert policy.tick(MODEL).action == "advance"
        state.table.poll()
        assert set(traffic(state, yard, 20, "b")) == {"v2"}
        assert policy.tick(MODEL).action == "promote"
        assert yard.registry.aliases(MODEL)["production"] == v2.version

        # -- canary of v3, 400 ms per request: the latency guard rolls it back
        changes.deploy(
            store,
            MODEL,
            router="canary",
            variants=[Variant("v3", v3.version)],
            settings=CANARY,
            guards=GUARDS,
            actor="demo",
            reason="canary v3",
            salt="demo-v3",
        )
        state.table.poll()
        seen = traffic(state, yard, 30, "c")
        assert set(seen) == {"v2", "v3"}
        result = policy.tick(MODEL)
        assert result.action == "rollback" and "latency_p50 of v3" in result.reason
        state.table.poll()
        assert set(traffic(state, yard, 20, "d")) == {"v2"}  # every worker's next poll: v3 gets nothing
    finally:
        state.close()

    assert yard.registry.aliases(MODEL)["production"] == v2.version
    (event,) = yard.rollbacks.events
    assert (event.from_version, event.to_version) == (v3.version, v2.version)
    dep = store.current(MODEL)
    assert dep.status == "rolled_back" and "latency_p50 of v3" in dep.state["rollback_reason"]

    report = experiment_report(yard, MODEL, store=store, planned_units=20)  # a small test plans small
    by_variant = {v.variant: v for v in report.variants}
    assert by_variant["v3"].latency_ms["p50"] > 300 > by_variant["v2"].latency_ms["p50"]
    latency = next(c for c in report.comparisons if c.metric == "latency_ms")
    assert latency.verdict == "worse"
    assert by_variant["v2"].labelled > 0 and "accuracy" in by_variant["v2"].metrics
    assert report.srm is not None and not report.srm.mismatch
