"""Push through a Feast PushSource (checked, offline before online, retry-safe) and the freshness of the
online store (status, detector), on a generated repo with real Feast and SQLite / Redis."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from click.testing import CliRunner
from ondemand_repo import END, build

from modelyard.errors import BadRequest, OnlineStoreUnavailable
from modelyard.yard import Yard


def _yard(tmp_path, **kw) -> Yard:
    repo, _ = build(tmp_path, **kw)
    yard = Yard.load(repo)
    yard.features.apply()
    yard.features.materialize(END, progress=False)
    return yard


def _live(yard: Yard, driver: int) -> float:
    frame = yard.features.online_vectors(
        "trip_rt", {"driver_id": [driver]}, request={"trip_distance_km": [1.0], "pickup_hour": [3]}
    )
    return frame["live_acceptance"].iloc[0]


def _offline_live(yard: Yard, driver: int, at) -> float:
    rows = pd.DataFrame(
        {
            "driver_id": [driver],
            "trip_distance_km": [1.0],
            "pickup_hour": [3],
            "event_timestamp": [pd.Timestamp(at)],
        }
    )
    return yard.features.training_frame("trip_rt", rows)["live_acceptance"].iloc[0]


def test_pushed_rows_are_served_next_and_equal_the_training_frame_when_pushed_to_both(tmp_path) -> None:
    yard = _yard(tmp_path)
    before = _live(yard, 3)
    at = END + timedelta(minutes=1)
    yard.features.push(
        "driver_live_push",
        {"driver_id": [3], "live_acceptance": [0.125], "event_timestamp": [at.isoformat()]},
    )
    assert _live(yard, 3) == 0.125 != before
    # online only: the training data do not know the row
    assert _offline_live(yard, 3, at + timedelta(minutes=1)) == before
    at2 = END + timedelta(minutes=3)
    row = {"driver_id": [3], "live_acceptance": [0.75], "event_timestamp": [at2.isoformat()]}
    result = yard.features.push("driver_live_push", row, to="online_and_offline")
    assert result.rows == 1 and result.views == ("driver_live",)
    assert _live(yard, 3) == 0.75 == _offline_live(yard, 3, at2 + timedelta(minutes=1))
    # a retry of the same push changes nothing
    yard.features.push("driver_live_push", row, to="online_and_offline")
    assert _live(yard, 3) == 0.75 == _offline_live(yard, 3, at2 + timedelta(minutes=1))


def test_bad_pushes_name_the_problem_and_write_nothing(tmp_path) -> None:
    yard = _yard(tmp_path)
    before = _live(yard, 4)
    ts = (END + timedelta(minutes=1)).isoformat()
    good = {"driver_id": [4, 5], "live_acceptance": [0.5, 0.6], "event_timestamp": [ts, ts]}
    cases = [
        ("nope", good, "unknown push source 'nope'; this repo's push sources: driver_live_push"),
        ("driver_live_push", {**good, "live_acceptance": [0.5, "high"]}, "'live_acceptance'.*row 1"),
        ("driver_live_push", {k: v for k, v in good.items() if k != "event_timestamp"}, "event_timestamp"),
        ("driver_live_push", {**good, "extra": [1, 2]}, r"no column\(s\) \['extra'\]"),
        ("driver_live_push", {**good, "driver_id": [4, None]}, "join key"),
        ("driver_live_push", {**good, "event_timestamp": [ts, "yesterday"]}, "timestamps"),
    ]
    for source, rows, message in cases:
        with pytest.raises(BadRequest, match=message):
            yard.features.push(source, rows, to="online_and_offline")
    with pytest.raises(BadRequest, match="'to' must be one of"):
        yard.features.push("driver_live_push", good, to="everywhere")
    assert _live(yard, 4) == before
    assert len(pd.read_parquet(yard.path / "data" / "driver_live.parquet")) == 40


def test_push_while_redis_is_down_is_unavailable_and_writes_nothing(tmp_path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo, _ = build(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0")
    yard = Yard.load(repo)
    yard.features.apply()
    ts = (END + timedelta(minutes=1)).isoformat()
    with pytest.raises(OnlineStoreUnavailable, match="nothing was written"):
        yard.features.push(
            "driver_live_push",
            {"driver_id": [1], "live_acceptance": [0.5], "event_timestamp": [ts]},
            to="online_and_offline",
        )
    assert len(pd.read_parquet(repo / "data" / "driver_live.parquet")) == 40


def test_freshness_status_and_detector_name_the_stale_view_and_its_models(tmp_path) -> None:
    from modelyard.cli.main import main as cli
    from modelyard.monitoring.freshness import FreshnessConfig, FreshnessDetector

    yard = _yard(tmp_path)
    now = END + timedelta(hours=13)
    by_view = {v.view: v for v in yard.features.freshness(now=now)}
    assert set(by_view) == {"driver_stats", "driver_live"}
    assert by_view["driver_live"].last_materialized == END and by_view["driver_live"].last_pushed is None
    assert by_view["driver_live"].lag == timedelta(hours=13)
    assert by_view["driver_live"].models == ("trip_rt",)
    # driver_stats feeds the model only through the on-demand views' inputs
    assert yard.features.views_of("trip_rt") == ["driver_stats", "driver_live"]

    detector = FreshnessDetector(FreshnessConfig(max_lag_share_of_ttl=0.5)).bind(yard, "trip_rt")
    results = {r.feature: r for r in detector.score(pd.DataFrame())}
    # the data end at END, so both views lag by the time since: driver_live's ttl is 1 day
    lag_live = results["driver_live"]
    assert lag_live.statistic == "lag_seconds" and lag_live.threshold == 43200.0
    assert lag_live.details["models"] == ["trip_rt"]
    assert lag_live.drifted == (lag_live.value > 43200.0)

    # rows pushed to the offline store only are not served: the online store is as stale as before
    yard.features.push(
        "driver_live_push",
        {"driver_id": [1], "live_acceptance": [0.5], "event_timestamp": [END.isoformat()]},
        to="offline",
    )
    assert {r.feature: r for r in detector.score(pd.DataFrame())}["driver_live"].value > 3600
    yard.features.push(
        "driver_live_push",
        {"driver_id": [1], "live_acceptance": [0.5], "event_timestamp": [END.isoformat()]},
    )
    fresh = {r.feature: r for r in detector.score(pd.DataFrame())}
    assert fresh["driver_live"].value < 60 and not fresh["driver_live"].drifted

    window = pd.DataFrame({"live_acceptance": [None] * 60 + [0.5] * 40, "conv_rate": [0.1] * 100})
    shares = FreshnessDetector(FreshnessConfig(max_missing_share=0.5)).bind(yard, "trip_rt").score(window)
    missing = next(r for r in shares if r.statistic == "missing_share" and r.feature == "driver_live")
    assert missing.value == pytest.approx(0.6) and missing.drifted

    out = CliRunner().invoke(cli, ["--repo", str(yard.path), "features", "status", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["view"]: r for r in json.loads(out.output)}
    assert rows["driver_live"]["last_pushed"] is not None and rows["driver_live"]["models"] == ["trip_rt"]


def test_push_times_on_redis_are_seen_by_every_yard_on_that_redis(tmp_path, redis_url) -> None:
    """Two yard directories (two machines) over one Redis: a push through one shows in the other's freshness."""
    import shutil

    import redis

    first = _yard(tmp_path / "a", redis_url=redis_url)
    second_path = tmp_path / "b" / "ondemand_repo"
    shutil.copytree(first.path, second_path)
    (second_path / "data" / ".modelyard" / "pushes.json").unlink(missing_ok=True)
    second = Yard.load(second_path)
    key = f"modelyard:pushes:{first.features.store.config.project}"
    client = redis.Redis.from_url(redis_url)
    try:
        assert second.features.push_record.times() == {}
        result = first.features.push(
            "driver_live_push",
            {"driver_id": [2], "live_acceptance": [0.25], "event_timestamp": [END.isoformat()]},
        )
        by_view = {v.view: v for v in second.features.freshness(now=result.pushed_at + timedelta(seconds=5))}
        assert by_view["driver_live"].last_pushed == result.pushed_at
        assert by_view["driver_live"].lag == timedelta(seconds=5)
        assert client.hget(key, "driver_live").decode() == result.pushed_at.isoformat()
        assert not (first.path / "data" / ".modelyard" / "pushes.json").exists()  # nothing machine-local
    finally:
        client.delete(key)


def test_concurrent_pushes_on_one_machine_keep_every_views_time(tmp_path) -> None:
    """The file record (SQLite online store) is updated under a lock: no push time is lost to a race."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime, timezone

    from modelyard.features.push_record import FilePushRecord

    path = tmp_path / "pushes.json"
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)

    def note(i: int) -> None:
        FilePushRecord(path).record([f"view_{i}"], at + timedelta(seconds=i))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(note, range(64)))
    times = FilePushRecord(path).times()
    assert times == {f"view_{i}": (at + timedelta(seconds=i)).isoformat() for i in range(64)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pushes.json", "pushes.lock"]
