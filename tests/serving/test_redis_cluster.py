"""Feast's Redis online store in cluster mode, read by the fast path: values identical to
Feast's ``get_online_features`` on a real three-node cluster started by the test, every
read path, and through a slot migration (``ASK`` while it is under way, ``MOVED`` after)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import srv_feast_repo as data
from services import missing
from srv_redis_cluster import LocalCluster, tools_missing

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def cluster_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Path]]:
    """A fresh local Redis Cluster with the test repo materialized into it by Feast."""
    why = tools_missing()
    if why:
        missing(f"a local Redis Cluster cannot be started: {why}", "install redis-server and redis-cli")
    tmp = tmp_path_factory.mktemp("cluster")
    with LocalCluster(tmp / "nodes") as cluster:
        repo, _ = data.build(tmp, "redis://unused", cluster=cluster.connection_string)
        yield cluster, repo


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _readers(repo: Path, service: str) -> tuple[Any, Any]:
    from feast import FeatureStore

    from modelyard.features.online.reader import RedisClusterOnlineReader, online_reader

    store = FeatureStore(repo_path=str(repo))
    fast = online_reader(store, service)
    assert isinstance(fast, RedisClusterOnlineReader), type(fast)
    return store, fast


def _check(store: Any, service: str, got: dict[str, list[Any]], entities: dict[str, list[Any]]) -> None:
    theirs = store.get_online_features(
        features=store.get_feature_service(service), entity_rows=entities
    ).to_dict()
    assert set(theirs) == set(got)
    for column, values in theirs.items():
        assert len(got[column]) == len(values)
        for mine, their in zip(got[column], values, strict=True):
            assert _same(mine, their), (column, mine, their)


def _ride_entities(n: int) -> dict[str, list[int]]:
    drivers = [data.DRIVERS[i % len(data.DRIVERS)] for i in range(n)]
    customers = [data.CUSTOMERS[i % len(data.CUSTOMERS)] for i in range(n)]
    if n > 1:  # an unknown entity and a duplicate
        drivers[-1] = 999_999
        drivers[0] = drivers[1]
    return {"driver_id": drivers, "customer_id": customers}


@pytest.mark.parametrize("n", [1, 10, 25])
def test_values_identical_to_feast_on_every_read_path(cluster_repo, n: int) -> None:
    _, repo = cluster_repo
    store, fast = _readers(repo, "ride_features")
    entities = _ride_entities(n)
    got = fast.read(entities)
    assert list(got) == ["driver_id", "customer_id", *fast.feature_names]
    _check(store, "ride_features", got, entities)
    assert asyncio.run(fast.read_async(entities)) == got
    fast.close()


def test_string_keys_and_a_subset_service(cluster_repo) -> None:
    _, repo = cluster_repo
    for service, entities in (
        ("zone_features", {"zone_id": [*data.ZONES, "nowhere"]}),
        ("driver_only", {"driver_id": data.DRIVERS}),
    ):
        store, fast = _readers(repo, service)
        _check(store, service, fast.read(entities), entities)
        fast.close()


def test_keys_are_spread_and_each_node_gets_one_pipeline(cluster_repo, monkeypatch) -> None:
    """The test is only meaningful if a read spans nodes: check it does, and that every node
    is written to once per read."""
    from modelyard.features.online.redis.cluster import key_slots

    cluster, repo = cluster_repo
    _, fast = _readers(repo, "ride_features")
    entities = _ride_entities(20)
    keys, commands = fast.commands(entities, 20)
    assert len(commands) == 20 * len(fast.plans)
    owners = {fast.cluster.owners()[s] for s in key_slots(keys)}
    assert owners == {("127.0.0.1", p) for p in cluster.ports}
    sends: list[tuple[str, int]] = []
    from modelyard.features.online.redis.wire import RedisWire

    original = RedisWire.send

    def counting(self: RedisWire, payload: bytes) -> Any:
        sends.append((self.host, self.port))
        return original(self, payload)

    monkeypatch.setattr(RedisWire, "send", counting)
    fast.read(entities)
    assert sorted(sends) == sorted(owners)
    fast.close()


def _driver_slot(fast: Any, driver: int) -> tuple[int, bytes]:
    """The slot and key of ``driver``'s row of the driver_stats view."""
    from modelyard.features.online.redis.cluster import key_slots

    plan = next(p for p in fast.plans if p.name == "driver_stats")
    (key,) = fast.keys(plan, {"driver_id": [driver]}, 1)
    return key_slots([key])[0], key


def test_a_slot_being_migrated_is_read_with_ask_then_moved_after(cluster_repo) -> None:
    cluster, repo = cluster_repo
    store, fast = _readers(repo, "ride_features")
    entities = _ride_entities(20)
    before = fast.read(entities)  # the reader knows the slot map now
    driver = data.DRIVERS[2]
    slot, key = _driver_slot(fast, driver)
    source = cluster.owner(slot)
    target = next(p for p in cluster.ports if p != source)

    cluster.begin_migration(slot, target)
    cluster.move_keys(source, target, [key])  # the key is on the target, the slot still the source's
    assert key not in cluster.keys_in(source, slot) and key in cluster.keys_in(target, slot)
    asked = fast.cluster.redirections["ask"]
    during = fast.read(entities)  # the source answers ASK for this key
    assert fast.cluster.redirections["ask"] == asked + 1
    _check(store, "ride_features", during, entities)
    assert during == before
    assert asyncio.run(fast.read_async(entities)) == before
    assert fast.cluster.owners()[slot] == ("127.0.0.1", source)  # ASK leaves the map as it is

    cluster.finish_migration(slot, source, target)
    refreshes = fast.cluster.refreshes
    after = fast.read(entities)  # the source answers MOVED: map refreshed, read again
    assert after == before
    _check(store, "ride_features", after, entities)
    assert fast.cluster.refreshes > refreshes and fast.cluster.redirections["moved"] >= 1
    assert fast.cluster.owners()[slot] == ("127.0.0.1", target)

    cluster.begin_migration(slot, source)  # and back, read on the event loop this time
    cluster.finish_migration(slot, target, source)
    moved = fast.cluster.redirections["moved"]
    assert asyncio.run(fast.read_async(entities)) == before
    assert fast.cluster.redirections["moved"] > moved
    assert fast.cluster.owners()[slot] == ("127.0.0.1", source)
    fast.close()


def test_an_unreachable_cluster_is_named(tmp_path: Path) -> None:
    from srv_redis_cluster import free_ports

    from modelyard.errors import OnlineStoreUnavailable
    from modelyard.features.online.reader import RedisClusterOnlineReader
    from modelyard.features.online.redis.cluster import RedisClusterWire

    (port,) = free_ports(1)
    dead = RedisClusterOnlineReader(
        RedisClusterWire([("127.0.0.1", port)], timeout=0.2),
        "p",
        [],
        ["driver_id"],
        store_label="redis cluster x",
    )
    with pytest.raises(OnlineStoreUnavailable, match="redis cluster x"):
        dead.read({"driver_id": [1]})
