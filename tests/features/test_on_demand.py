"""Request data and on-demand views: the same values offline and online, on SQLite and real Redis,
every request field checked by name and type."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from ondemand_repo import END, build, request_rows

from modelyard.errors import BadRequest, FeatureError
from modelyard.features.online.reader import online_reader
from modelyard.yard import Yard

OUTPUTS = ["conv_rate", "dist_x_conv", "trips_per_km", "rush", "tier_hour", "live_acceptance"]


def _same(a, b) -> bool:
    """Equal as served values: floats bit for bit, every kind of missing equal to every other."""
    missing_a = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NA
    missing_b = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NA
    if missing_a or missing_b:
        return missing_a and missing_b
    if isinstance(a, float) or isinstance(b, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    return bool(a == b) and type(a) is type(b)


def _offline_and_online(repo):
    yard = Yard.load(repo)
    yard.features.apply()
    yard.features.materialize(END, progress=False)
    rows = request_rows(60)
    offline = yard.features.training_frame("trip_rt", rows).reset_index(drop=True)
    reader = online_reader(yard.feature_store, "trip_rt")
    request = {
        "trip_distance_km": [None if math.isnan(x) else float(x) for x in rows.trip_distance_km],
        "pickup_hour": rows.pickup_hour.tolist(),
    }
    online = reader.read({"driver_id": rows.driver_id.tolist()}, request)
    return yard, reader, rows, offline, online


def _assert_equal(offline: pd.DataFrame, online: dict) -> None:
    assert list(online) == ["driver_id", *OUTPUTS]
    for name in OUTPUTS:
        col = offline[name].astype(object).tolist()
        bad = [i for i, (a, b) in enumerate(zip(col, online[name], strict=True)) if not _same(a, b)]
        assert not bad, (
            f"{name}: rows {bad[:5]} differ: offline {[col[i] for i in bad[:3]]}, online {[online[name][i] for i in bad[:3]]}"
        )
    # the sample exercises missing inputs (unknown driver, null distance) and present values
    assert offline["dist_x_conv"].isna().any() and offline["dist_x_conv"].notna().any()


def test_on_demand_features_equal_offline_and_online_on_sqlite(tmp_path) -> None:
    _, reader, _, offline, online = _offline_and_online(build(tmp_path)[0])
    assert reader.request_fields == {"trip_distance_km": "DOUBLE", "pickup_hour": "INT64"}
    _assert_equal(offline, online)


def test_on_demand_features_equal_offline_and_online_on_redis_fast_path(tmp_path, redis_url) -> None:
    import redis

    repo, project = build(tmp_path, redis_url=redis_url)
    try:
        _, reader, _, offline, online = _offline_and_online(repo)
        assert reader.fast, "the fast Redis reader serves a service with on-demand views"
        _assert_equal(offline, online)
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=b"*" + project.encode()):
            client.delete(key)


def test_request_data_is_checked_by_name_and_type(tmp_path) -> None:
    repo, _ = build(tmp_path)
    yard = Yard.load(repo)
    yard.features.apply()
    reader = online_reader(yard.feature_store, "trip_rt")
    ok = {"trip_distance_km": [1.5], "pickup_hour": [8]}
    with pytest.raises(BadRequest, match=r"missing request field\(s\): pickup_hour \(INT64\)"):
        reader.read({"driver_id": [1]}, {"trip_distance_km": [1.5]})
    with pytest.raises(BadRequest, match=r"'pickup_hour'.*must be an integer; row 0 is str"):
        reader.read({"driver_id": [1]}, {**ok, "pickup_hour": ["8"]})
    with pytest.raises(BadRequest, match="unknown request field"):
        reader.read({"driver_id": [1]}, {**ok, "speed": [3]})
    with pytest.raises(BadRequest, match="has 2 value"):
        reader.read({"driver_id": [1]}, {**ok, "pickup_hour": [8, 9]})
    with pytest.raises(BadRequest, match=r"on-demand view 'trip_python' raised on row 1: ValueError"):
        reader.read({"driver_id": [1, 2]}, {"trip_distance_km": [1.0, 2.0], "pickup_hour": [8, 99]})


def test_training_frame_needs_the_request_columns(tmp_path) -> None:
    repo, _ = build(tmp_path)
    yard = Yard.load(repo)
    yard.features.apply()
    rows = request_rows(5).drop(columns=["pickup_hour"])
    with pytest.raises(FeatureError, match="pickup_hour: request data"):
        yard.features.training_frame("trip_rt", rows)
