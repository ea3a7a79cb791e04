"""Automatic rollout policy on a real yard: SQLite registry, Parquet prediction log, event hooks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from routing_helpers import add_versions, write_yard

from modelyard.plugins import hookimpl
from modelyard.plugins.testing import make_host
from modelyard.predictions.records import PredictionRecord
from modelyard.rollout import changes
from modelyard.rollout.policy import RolloutPolicy
from modelyard.rollout.traffic import open_log_sink
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.router import Variant
from modelyard.routing.runtime import RoutingTable
from modelyard.yard import Yard


class Events:
    """A plugin that records alias events."""

    def __init__(self) -> None:
        self.rollbacks: list = []
        self.promotions: list = []

    @hookimpl
    def modelyard_on_rollback(self, event) -> None:
        self.rollbacks.append(event)

    @hookimpl
    def modelyard_on_promote(self, event) -> None:
        self.promotions.append(event)


# Guards decide at 95% confidence: 40 clean requests show an error rate under 10% (upper bound
# 7.2%) and a p90 under 100 ms; 50 requests at 250 ms show the p90 above it.
GUARDS = [
    {"type": "error_rate", "max": 0.1, "min_samples": 20},
    {"type": "latency", "quantile": 0.9, "max_ms": 100, "min_samples": 20},
]


@pytest.fixture
def yard_events(tmp_path: Path):
    events = Events()
    path = write_yard(tmp_path / "yard", registry_url=f"sqlite:///{tmp_path / 'reg.db'}", guards=GUARDS)
    yard = Yard.load(path, host=make_host(events))
    add_versions(yard.registry.backend, "rides", 3)
    yard.registry.promote("rides", 1, reason="first")
    events.promotions.clear()
    yield yard, events
    yard.registry.close()


def log_rows(
    yard: Yard,
    variant: str,
    version: int,
    n: int,
    *,
    error_every: int = 0,
    latency: float = 10.0,
    at: datetime,
) -> None:
    sink = open_log_sink(yard)
    rows = [
        PredictionRecord(
            request_id=f"{variant}-{at.timestamp()}-{i}",
            model="rides",
            version=version,
            prediction=None if error_every and i % error_every == 0 else 1,
            variant=variant,
            latency_ms=latency,
            error="boom" if error_every and i % error_every == 0 else None,
            timestamp=at + timedelta(milliseconds=i),
        ).to_row()
        for i in range(n)
    ]
    sink.write(rows)
    sink.close()


def test_canary_with_failing_guard_is_rolled_back_automatically(yard_events) -> None:
    yard, events = yard_events
    store = DeploymentStore.for_yard(yard)
    now = datetime.now(timezone.utc)
    changes.deploy(
        store,
        "rides",
        router="canary",
        variants=[Variant("v2", 2)],
        settings={"steps": [20, 100], "min_dwell_seconds": 0, "min_samples": 10},
        actor="ops",
        reason="canary v2",
        now=now - timedelta(minutes=5),
    )
    table = RoutingTable(yard, refresh_interval=0.0)
    assert {table.decide("rides", f"u{i}").live.name for i in range(300)} == {"v1", "v2"}
    log_rows(yard, "v1", 1, 200, at=now - timedelta(minutes=2))
    log_rows(yard, "v2", 2, 60, error_every=4, at=now - timedelta(minutes=2))  # 25 % errors

    result = RolloutPolicy(yard).tick("rides", now=now)

    assert result.action == "rollback" and "error rate of v2 is 25.00%" in result.reason
    dep = store.current("rides")
    assert dep.status == "rolled_back" and dep.weights() == {"v1": 1.0, "v2": 0.0}
    assert {table.decide("rides", f"u{i}").live.name for i in range(300)} == {"v1"}
    assert yard.registry.aliases("rides")["production"] == 1  # never moved
    (event,) = events.rollbacks
    assert (event.from_version, event.to_version, event.action) == (2, 1, "rollback")
    assert "25.00%" in event.reason
    assert store.history("rides")[-1].reason.startswith("guard failed for v2")
    assert RolloutPolicy(yard).tick("rides", now=now).action == "none"  # finished rollouts stay put


def test_healthy_canary_advances_and_is_promoted(yard_events) -> None:
    yard, events = yard_events
    store = DeploymentStore.for_yard(yard)
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    changes.deploy(
        store,
        "rides",
        router="canary",
        variants=[Variant("v2", 2)],
        settings={"steps": [20, 100], "min_dwell_seconds": 300, "min_samples": 30},
        actor="ops",
        reason="canary v2",
        now=start,
    )
    policy = RolloutPolicy(yard)
    log_rows(yard, "v2", 2, 40, at=start + timedelta(minutes=1))
    held = policy.tick("rides", now=start + timedelta(minutes=2))
    assert held.action == "hold" and "dwell" in held.reason
    advanced = policy.tick("rides", now=start + timedelta(minutes=6))
    assert advanced.action == "advance" and store.current("rides").weights()["v2"] == 1.0
    held = policy.tick("rides", now=start + timedelta(minutes=12))
    assert held.action == "hold" and "0 of 30" in held.reason  # the new step needs its own sample
    log_rows(yard, "v2", 2, 40, at=start + timedelta(minutes=13))
    promoted = policy.tick("rides", now=start + timedelta(minutes=14))
    assert promoted.action == "promote"
    assert yard.registry.aliases("rides")["production"] == 2
    assert [e.to_version for e in events.promotions] == [2]
    assert store.current("rides").status == "completed" and not events.rollbacks


def test_ab_guard_failure_moves_the_alias_back(yard_events) -> None:
    yard, events = yard_events
    store = DeploymentStore.for_yard(yard)
    yard.registry.promote("rides", 2, reason="v2 looked good offline")
    changes.deploy(
        store,
        "rides",
        router="ab",
        variants=[Variant("v1", 1, 0.5), Variant("v2", 2, 0.5)],
        actor="ops",
        reason="A/B v1 vs v2",
    )
    now = datetime.now(timezone.utc)
    log_rows(yard, "v1", 1, 50, at=now - timedelta(minutes=1))
    log_rows(yard, "v2", 2, 50, latency=250.0, at=now - timedelta(minutes=1))
    result = RolloutPolicy(yard).tick("rides", now=now)
    assert result.action == "rollback" and "latency_p90 of v2" in result.reason
    assert yard.registry.aliases("rides")["production"] == 1
    (event,) = events.rollbacks
    assert event.revision > 0  # a real alias move, fired by the registry
    assert store.current("rides").weights() == {"v1": 1.0, "v2": 0.0}


def test_a_canary_whose_candidate_fails_the_promotion_gates_holds_instead_of_completing(
    tmp_path: Path,
) -> None:
    import yaml

    path = write_yard(tmp_path / "yard", registry_url=f"sqlite:///{tmp_path / 'reg.db'}", guards=GUARDS)
    config = yaml.safe_load((path / "modelyard.yaml").read_text())
    config["models"]["rides"]["promotion"] = {"gates": ["auc >= 0.9"]}
    (path / "modelyard.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    yard = Yard.load(path)
    add_versions(yard.registry.backend, "rides", 2)  # no metrics: the gate cannot pass
    yard.registry.backend.move_alias(
        "rides", "production", action="promote", to_version=1, actor="t", reason="r"
    )
    store = DeploymentStore.for_yard(yard)
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    changes.deploy(
        store,
        "rides",
        router="canary",
        variants=[Variant("v2", 2)],
        settings={"steps": [20, 100], "min_dwell_seconds": 0, "min_samples": 10},
        actor="ops",
        reason="canary v2",
        now=start,
    )
    policy = RolloutPolicy(yard)
    # 40 clean requests: enough for the guards to show the limits respected at 95%
    log_rows(yard, "v2", 2, 40, at=start + timedelta(minutes=1))
    assert policy.tick("rides", now=start + timedelta(minutes=2)).action == "advance"
    log_rows(yard, "v2", 2, 40, at=start + timedelta(minutes=3))
    held = policy.tick("rides", now=start + timedelta(minutes=4))
    assert held.action == "hold" and "failed gate 'auc >= 0.9'" in held.reason
    assert store.current("rides").status == "active"  # not marked completed
    assert yard.registry.aliases("rides") == {"production": 1}
    yard.registry.close()
