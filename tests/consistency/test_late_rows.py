"""Rows that arrive after a materialization reached them (late rows) are served after the next one.

Incremental materialization starts at the previous end, so a row whose event time is before
it but which was written after it used to be in every training frame and never served. Now
a view with a created-timestamp column picks such rows up by created time, and a view without
one re-reads ``features.materialize.lookback`` before the previous end. After each run the
online store must hold, for every entity, the row the point-in-time join picks at the end
(created-time tie-break included), and never an older row over a newer one; on SQLite and Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from cons_generator import END_NS, MID_NS, RIDERS, SECOND, ZONES, GeneratedRepo, _write_parquet, generate
from cons_oracle import canonical_rows, diff, expected_frame
from services import REDIS_HOST, REDIS_PORT, need_redis

from modelyard.features import expiry
from modelyard.yard import Yard

KEYS = {"rider_id": [r for r in RIDERS for _ in ZONES], "zone": [z for _ in RIDERS for z in ZONES]}


def _repo_with_a_lasting_rider_view(tmp_path, online: dict[str, Any] | None) -> GeneratedRepo:
    """The first seed whose rider_stats view has no ttl or a long one (a late row stays fresh)."""
    for seed in range(30, 60):
        repo = generate(tmp_path / str(seed), seed, online=online)
        ttl = repo.views[0].ttl
        if ttl is None or ttl > timedelta(days=1):
            return repo
    raise AssertionError("no seed gives rider_stats a long ttl")


@pytest.fixture(params=["sqlite", "redis"])
def repo(request, tmp_path) -> Iterator[GeneratedRepo]:
    online: dict[str, Any] | None = None
    if request.param == "redis":
        need_redis()
        online = {"type": "redis", "connection_string": f'"{REDIS_HOST}:{REDIS_PORT},db=0"'}
    generated = _repo_with_a_lasting_rider_view(tmp_path, online)
    try:
        yield generated
    finally:
        if request.param == "redis":
            Yard.load(generated.path).feature_store.teardown()


def _at(ns: int) -> Any:
    return pd.Timestamp(ns, tz="UTC").to_pydatetime()


def _write(repo: GeneratedRepo, index: int, rows: pd.DataFrame) -> None:
    view = repo.views[index]
    repo.rows[view.name] = rows.reset_index(drop=True)
    _write_parquet(repo.path / "data" / f"{view.name}.parquet", view, repo.rows[view.name])


def _check_online_equals_training(repo: GeneratedRepo, monkeypatch, what: str) -> list[dict[str, Any]]:
    monkeypatch.setattr(expiry, "now_ns", lambda: END_NS)
    entities = pd.DataFrame(
        {**KEYS, "event_timestamp": pd.to_datetime([END_NS] * len(KEYS["zone"]), utc=True)}
    )
    expected = expected_frame(repo, entities)
    types = repo.feature_types()
    online = Yard.load(repo.path).features.online_vectors(repo.model, KEYS)
    problems = diff(expected, canonical_rows(online[list(types)], types), what)
    assert not problems, "\n".join(problems)
    return expected


def _row_of(expected: list[dict[str, Any]], rider: int, zone: str) -> dict[str, Any]:
    return next(
        row
        for row, r, z in zip(expected, KEYS["rider_id"], KEYS["zone"], strict=True)
        if (r, z) == (rider, zone)
    )


def test_late_rows_corrections_and_stale_rows_after_incremental_runs(repo, monkeypatch) -> None:
    riders = repo.views[0]
    zones = repo.views[1]
    assert riders.created and not zones.created
    everything = repo.rows[riders.name]
    _write(repo, 0, everything[everything["created_ns"] <= MID_NS])
    yard = Yard.load(repo.path)
    yard.features.apply()
    yard.features.materialize(_at(MID_NS), progress=False)

    # written after the first run: everything else, and a late row for rider 5 (no other row)
    late = everything.iloc[[0]].copy()
    late["rider_id"] = 5
    late["event_ns"] = MID_NS - 600 * SECOND
    late["created_ns"] = MID_NS + 60 * SECOND
    late["r_int64"], late["r_string"] = 42, "late"
    _write(repo, 0, pd.concat([everything, late]))
    result = Yard.load(repo.path).features.materialize(_at(END_NS), progress=False)
    assert result.late_by_view[riders.name] >= 1
    expected = _check_online_equals_training(repo, monkeypatch, "online after a late row")
    assert _row_of(expected, 5, "north")["r_string"] == ("str", "late")  # training sees the late row

    # nothing new: nothing is written again
    again = Yard.load(repo.path).features.materialize(_at(END_NS), progress=False)
    assert set(again.rows_by_view.values()) == {0}, again.rows_by_view

    # after the run at END: a correction of rider 1's winner (same event time, later created
    # time), a stale row for rider 7 (older than its winner, created later), and, in the view
    # without a created column, a row for a zone that had none, event time before the last end
    rows = repo.rows[riders.name]
    winner = (
        rows[(rows["rider_id"] == 1) & (rows["event_ns"] <= END_NS)]
        .sort_values(["event_ns", "created_ns"])
        .iloc[[-1]]
    )
    correction = winner.assign(created_ns=END_NS + 120 * SECOND, r_string="correction", r_int64=7)
    other = next(r for r in RIDERS[1:] if (rows["rider_id"] == r).any())
    theirs = rows[rows["rider_id"] == other]
    stale = theirs.iloc[[0]].assign(
        event_ns=int(theirs["event_ns"].max()) - 1, created_ns=END_NS + 150 * SECOND, r_string="stale"
    )
    _write(repo, 0, pd.concat([rows, correction, stale]))
    zone_rows = repo.rows[zones.name]
    newcomer = zone_rows.iloc[[0]].assign(zone="zone-4", event_ns=END_NS - 30 * SECOND)
    newcomer["z_string_list"] = [["newcomer"]]
    _write(repo, 1, pd.concat([zone_rows, newcomer]))

    third = Yard.load(repo.path).features.materialize(_at(END_NS), progress=False)
    assert third.rows_by_view[riders.name] == 1, third.rows_by_view  # the correction; not the stale row
    assert third.rows_by_view[zones.name] == 1, third.rows_by_view  # found by the lookback
    expected = _check_online_equals_training(repo, monkeypatch, "online after a correction and a stale row")
    assert _row_of(expected, 1, "north")["r_string"] == ("str", "correction")
    assert _row_of(expected, other, "north")["r_string"] != ("str", "stale")
    assert _row_of(expected, 5, "zone-4")["z_string_list"] is not None
