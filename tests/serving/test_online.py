"""The fast Redis online reader answers exactly what Feast's get_online_features answers."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
import srv_feast_repo as data
from services import need_compiled_rows

from modelyard.errors import BadRequest, OnlineStoreUnavailable

pytestmark = pytest.mark.redis


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _readers(repo, service: str):
    from feast import FeatureStore

    from modelyard.features.online.reader import FeastOnlineReader, RedisOnlineReader, online_reader

    store = FeatureStore(repo_path=str(repo))
    fast = online_reader(store, service)
    slow = online_reader(store, service, fast=False)
    assert isinstance(fast, RedisOnlineReader)
    assert isinstance(slow, FeastOnlineReader)
    return store, fast, slow


@pytest.fixture(params=["compiled", "python"])
def decoder(request, monkeypatch) -> str:
    """Run a test with the compiled row decoder (when built) and with the Python decoders alone."""
    from modelyard.features.online.redis import codec as redis_codec

    if request.param == "compiled":
        need_compiled_rows()
    else:
        monkeypatch.setattr(redis_codec, "compiled_rows", None)
    return request.param


@pytest.mark.parametrize("n", [1, 10, 25])
def test_values_identical_to_feast(redis_feast_repo, n: int, decoder: str) -> None:
    repo, _ = redis_feast_repo
    store, fast, slow = _readers(repo, "ride_features")
    drivers = [data.DRIVERS[i % len(data.DRIVERS)] for i in range(n)]
    customers = [data.CUSTOMERS[i % len(data.CUSTOMERS)] for i in range(n)]
    if n > 1:  # an unknown entity and a duplicate
        drivers[-1] = 999_999
        drivers[0] = drivers[1]
    entities = {"driver_id": drivers, "customer_id": customers}
    got = fast.read(entities)
    feast_dict = store.get_online_features(
        features=store.get_feature_service("ride_features"), entity_rows=entities
    ).to_dict()
    assert list(got) == ["driver_id", "customer_id", *fast.feature_names]
    assert set(feast_dict) == set(got)
    for column, values in feast_dict.items():
        assert len(got[column]) == n
        for mine, theirs in zip(got[column], values, strict=True):
            assert _same(mine, theirs), (column, mine, theirs)
    assert slow.read(entities).keys() == got.keys()


def test_every_value_type_is_covered(redis_feast_repo, decoder: str) -> None:
    repo, _ = redis_feast_repo
    _, fast, _ = _readers(repo, "ride_features")
    got = fast.read({"driver_id": data.DRIVERS, "customer_id": data.CUSTOMERS * 2})
    kinds = {name: {type(v) for v in got[name] if v is not None} for name in fast.feature_names}
    assert kinds["rating"] == {float} and kinds["level"] == {int} and kinds["active"] == {bool}
    assert kinds["tier"] == {str} and kinds["last_seen"] == {datetime} and kinds["recent_scores"] == {list}
    assert got["rating"][3] is None  # NaN in the source is stored as null by Feast
    assert None in got["tier"]  # null string
    assert any(v < 0 for v in got["level"]) and any(v < 0 for v in got["trips_total"])
    assert got["rides_together"][0] is not None and got["rides_together"][10] is None  # pair not written


def test_string_keys_and_subset_service(redis_feast_repo) -> None:
    repo, _ = redis_feast_repo
    _store, fast, slow = _readers(repo, "zone_features")
    entities = {"zone_id": [*data.ZONES, "nowhere"]}
    assert fast.read(entities) == slow.read(entities)
    assert fast.read(entities)["surge"] == [1.0, 1.5, 2.25, None]
    # both readers know the key is a string, which v2 metadata advertises as BYTES (not INT64)
    from feast.value_type import ValueType

    from modelyard.serving.routes_v2 import _key_datatype

    assert fast.key_types == slow.key_types == {"zone_id": ValueType.STRING.value}
    assert _key_datatype(fast.key_types["zone_id"]) == "BYTES"
    _, fast2, slow2 = _readers(repo, "driver_only")
    assert fast2.feature_names == ("rating", "acceptance_rate", "trips_total")
    assert fast2.entity_keys == ("driver_id",)
    a, b = fast2.read({"driver_id": data.DRIVERS[:4]}), slow2.read({"driver_id": data.DRIVERS[:4]})
    assert all(_same(x, y) for col in a for x, y in zip(a[col], b[col], strict=True))


@pytest.mark.parametrize(
    ("entities", "message"),
    [
        ({"driver_id": [1001]}, "missing entity key"),
        ({"driver_id": [1001], "customer_id": [2001], "rider": [1]}, "unknown entity key"),
        ({"driver_id": ["x"], "customer_id": [2001]}, "takes integers"),
        ({"driver_id": [1.5], "customer_id": [2001]}, "takes integers"),
        ({"driver_id": [True], "customer_id": [2001]}, "takes integers"),
        ({"driver_id": [1001, 1002], "customer_id": [2001]}, "different lengths"),
        ({"driver_id": [], "customer_id": []}, "no entities"),
        ({"driver_id": 1001, "customer_id": [2001]}, "must be a list"),
        ({"driver_id": [2**70], "customer_id": [2001]}, "64 bits"),
    ],
)
def test_bad_entities(redis_feast_repo, entities, message: str) -> None:
    repo, _ = redis_feast_repo
    _, fast, _ = _readers(repo, "ride_features")
    with pytest.raises(BadRequest, match=message):
        fast.read(entities)


def test_unreachable_store_names_it(redis_feast_repo) -> None:
    from modelyard.features.online.reader import RedisOnlineReader
    from modelyard.features.online.redis.wire import RedisWire

    repo, _ = redis_feast_repo
    _, fast, _ = _readers(repo, "driver_only")
    dead = RedisOnlineReader(
        RedisWire("127.0.0.1", 1, timeout=0.2),
        fast.project.decode(),
        fast.plans,
        fast.entity_keys,
        store_label="redis 127.0.0.1:1",
    )
    with pytest.raises(OnlineStoreUnavailable, match=r"online store .redis 127.0.0.1:1. is unreachable"):
        dead.read({"driver_id": [1001]})
