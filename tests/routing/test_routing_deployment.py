"""Deployment state through the real registry backend (SQLite, PostgreSQL) and the RoutingTable cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from routing_helpers import add_versions, make_store

from modelyard.errors import RolloutError, VersionNotFound
from modelyard.rollout import changes
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.router import Variant
from modelyard.routing.runtime import RoutingTable


class Clock:
    """A settable monotonic clock for the RoutingTable refresh interval."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_declared_deployment_follows_the_alias(store: DeploymentStore) -> None:
    clock = Clock()
    table = RoutingTable(store=store, refresh_interval=1.0, clock=clock)
    assert table.decide("rides", "u1").live.version == 1
    store.backend.move_alias(
        "rides", "production", action="promote", to_version=2, actor="t", reason="better"
    )
    assert table.decide("rides", "u1").live.version == 1  # cached until the interval passes
    clock.t = 1.5
    assert table.decide("rides", "u1").live.version == 2


def test_deploy_pause_resume_abort_are_recorded(store: DeploymentStore) -> None:
    dep = changes.deploy(
        store,
        "rides",
        router="ab",
        variants=[Variant("v1", 1, 0.5), Variant("v2", 2, 0.5)],
        actor="alice",
        reason="test v2",
    )
    assert dep.revision == 1 and dep.salt.startswith("rides-")
    changes.set_weights(store, "rides", {"v2": 0.2}, actor="alice", reason="less")
    changes.pause(store, "rides", actor="bob", reason="hold on")
    with pytest.raises(RolloutError, match="only an active one"):
        changes.pause(store, "rides", actor="bob", reason="again")
    changes.resume(store, "rides", actor="bob", reason="go")
    aborted = changes.abort(store, "rides", actor="bob", reason="enough")
    assert aborted.status == "aborted" and aborted.weights() == {"v1": 1.0, "v2": 0.0}
    history = store.history("rides")
    assert [h.revision for h in history] == [1, 2, 3, 4, 5]
    assert [h.deployment.status for h in history] == ["active", "active", "paused", "active", "aborted"]
    assert [h.actor for h in history] == ["alice", "alice", "bob", "bob", "bob"]
    assert history[1].deployment.weights()["v2"] == pytest.approx(0.2 / 0.7)
    assert store.current("rides").revision == 5
    assert all(h.deployment.salt == dep.salt for h in history)  # same experiment, same salt


def test_write_checks_versions_and_router(store: DeploymentStore) -> None:
    with pytest.raises(VersionNotFound):
        changes.deploy(
            store, "rides", router="ab", variants=[Variant("v1", 1), Variant("v9", 9)], actor="a", reason="r"
        )
    with pytest.raises(RolloutError, match="at least two live"):
        changes.deploy(store, "rides", router="ab", variants=[Variant("v1", 1)], actor="a", reason="r")
    assert store.stored("rides") is None  # failed checks wrote nothing


def test_canary_deploy_takes_alias_holder_as_baseline(store: DeploymentStore) -> None:
    dep = changes.deploy(
        store,
        "rides",
        router="canary",
        variants=[changes.parse_variant("v3")],
        settings={"steps": [10, 100], "min_dwell_seconds": 0, "min_samples": 0},
        actor="a",
        reason="canary v3",
        now=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    assert dep.weights() == {"v1": 0.9, "v3": 0.1}
    assert dep.state["candidate"] == "v3" and dep.state["step"] == 0


def test_parse_variant() -> None:
    assert changes.parse_variant("v2=0.25") == Variant("v2", 2, 0.25)
    assert changes.parse_variant("7") == Variant("v7", 7, 1.0)
    assert changes.parse_variant("treatment@3=2") == Variant("treatment", 3, 2.0)
    assert changes.parse_variant("4", mode="shadow") == Variant("v4", 4, 0.0, "shadow")
    with pytest.raises(RolloutError, match="VERSION"):
        changes.parse_variant("v2:0.5")


def shared_state_between_two_stores(url: str) -> None:
    """Two independent backends (as two workers have) on one database see the same deployment."""
    writer = make_store(url)
    reader = make_store(url)
    try:
        add_versions(writer.backend, "rides", 2)
        writer.backend.move_alias(
            "rides", "production", action="promote", to_version=1, actor="t", reason="s"
        )
        clock = Clock()
        table = RoutingTable(store=reader, refresh_interval=0.5, clock=clock)
        assert table.deployment("rides").router == "single"
        changes.deploy(
            writer,
            "rides",
            router="ab",
            variants=[Variant("v1", 1, 0.5), Variant("v2", 2, 0.5)],
            salt="shared",
            actor="ops",
            reason="start",
        )
        clock.t = 1.0
        seen = {table.decide("rides", f"u{i}").live.name for i in range(200)}
        assert seen == {"v1", "v2"}
        assert table.deployment("rides").revision == 1
        changes.abort(writer, "rides", actor="ops", reason="stop")
        clock.t = 2.0
        assert {table.decide("rides", f"u{i}").live.name for i in range(200)} == {"v1"}
        assert table.decide("rides", "u0").revision == 2
    finally:
        writer.backend.close()
        reader.backend.close()


def test_state_shared_through_sqlite(sqlite_url: str) -> None:
    shared_state_between_two_stores(sqlite_url)


@pytest.mark.postgres
def test_state_shared_through_postgresql(postgres_url: str) -> None:
    shared_state_between_two_stores(postgres_url)


_CHILD = """
import json, sys
sys.path.insert(0, {here!r})
from routing_helpers import make_store
from modelyard.routing.runtime import RoutingTable
table = RoutingTable(store=make_store({url!r}))
print(json.dumps([table.decide("rides", f"user-{{i}}").live.name for i in range(500)]))
"""


def test_another_process_routes_the_same_keys_the_same_way(store: DeploymentStore, sqlite_url: str) -> None:
    changes.deploy(
        store,
        "rides",
        router="ab",
        variants=[Variant("v1", 1, 0.5), Variant("v2", 2, 0.3), Variant("v3", 3, 0.2)],
        actor="ops",
        reason="three arms",
    )
    here = os.path.dirname(__file__)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD.format(here=here, url=sqlite_url)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "99"},
    )
    theirs = json.loads(proc.stdout)
    mine = [RoutingTable(store=store).decide("rides", f"user-{i}").live.name for i in range(500)]
    assert theirs == mine and set(mine) == {"v1", "v2", "v3"}


def test_refresh_failure_keeps_serving_last_state(store: DeploymentStore) -> None:
    clock = Clock()
    table = RoutingTable(store=store, refresh_interval=1.0, clock=clock)
    assert table.decide("rides", "u").live.version == 1
    store.backend.engine.dispose()
    store.backend.engine = __import__("sqlalchemy").create_engine("sqlite:////nonexistent-dir/x.db")
    clock.t = 5.0
    assert table.decide("rides", "u").live.version == 1  # database gone: the cached deployment answers
