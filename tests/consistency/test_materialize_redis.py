"""modelyard's Redis materialization writes what ``feast materialize`` writes, byte for byte.

Two copies of one generated repo (every scalar type, three list types, nulls, NaN-free floats
at their extremes, compound and string keys) in two Feast projects on the real Redis: one
materialized by modelyard's fast writer, one by Feast's own ``materialize``, first at MID and
then incrementally at END. After each run both projects hold the same keys with the same hash
fields and bytes, and Feast's ``get_online_features`` reads the same values from both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from cons_generator import END_NS, MID_NS, RIDERS, ZONES, GeneratedRepo, _write_parquet, generate
from services import REDIS_HOST, REDIS_PORT, need_redis

from modelyard.features.materialize.plan import plan_view
from modelyard.features.materialize.views import from_feast
from modelyard.yard import Yard

SEED = 11


def _at(ns: int) -> Any:
    return pd.Timestamp(ns, tz="UTC").to_pydatetime()


@pytest.fixture
def pair(tmp_path) -> Iterator[tuple[GeneratedRepo, GeneratedRepo]]:
    need_redis()
    online = {"type": "redis", "connection_string": f'"{REDIS_HOST}:{REDIS_PORT},db=0"'}
    ours = generate(tmp_path / "ours", SEED, online=online)
    feasts = generate(tmp_path / "feast", SEED, online=online)
    try:
        yield ours, feasts
    finally:
        for repo in (ours, feasts):
            Yard.load(repo.path).feature_store.teardown()


def _write(repo: GeneratedRepo, keep) -> None:
    for view in repo.views:
        rows = repo.rows[view.name]
        _write_parquet(
            repo.path / "data" / f"{view.name}.parquet", view, rows[keep(rows)].reset_index(drop=True)
        )


def _feast_materialize(repo: GeneratedRepo, end_ns: int) -> None:
    """Feast's own materialization of every view, over the window modelyard's first run uses, then incrementally."""
    yard = Yard.load(repo.path)
    store = yard.feature_store
    for view in store.list_feature_views():
        if view.most_recent_end_time is None:
            begin = plan_view(
                from_feast(view, store.config.repo_path),
                _at(end_ns),
                start=None,
                lookback=pd.Timedelta(0),
                watermark_ns=None,
            ).begin
        else:
            begin = view.most_recent_end_time
        store.materialize(begin, _at(end_ns), feature_views=[view.name])


def _dump(project: str) -> dict[bytes, dict[bytes, bytes]]:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    try:
        suffix = project.encode()
        return {
            key[: -len(suffix)]: client.hgetall(key)
            for key in client.scan_iter(match=f"*{project}", count=1000)
        }
    finally:
        client.close()


def _same_bytes_and_reads(ours: GeneratedRepo, feasts: GeneratedRepo, what: str) -> None:
    mine, theirs = _dump(ours.project), _dump(feasts.project)
    assert mine, f"{what}: nothing written"
    assert mine.keys() == theirs.keys(), f"{what}: keys differ"
    for key in mine:
        assert mine[key] == theirs[key], f"{what}: hash {key!r} differs"
    keys = {"rider_id": [r for r in RIDERS for _ in ZONES], "zone": [z for _ in RIDERS for z in ZONES]}
    reads = []
    for repo in (ours, feasts):
        store = Yard.load(repo.path).feature_store
        refs = [f"{v.name}:{f.name}" for v in store.list_feature_views() for f in v.features]
        reads.append(store.get_online_features(features=refs, entity_rows=keys).proto.SerializeToString())
    assert reads[0] == reads[1], f"{what}: Feast's get_online_features reads differ"


def test_fast_redis_materialization_equals_feasts_bytes_first_and_incremental(pair) -> None:
    ours, feasts = pair
    for repo in pair:
        _write(repo, lambda rows: rows["created_ns"] <= MID_NS)
        Yard.load(repo.path).features.apply()
    first = Yard.load(ours.path).features.materialize(_at(MID_NS), progress=False)
    assert sum(first.rows_by_view.values()) > 0
    _feast_materialize(feasts, MID_NS)
    _same_bytes_and_reads(ours, feasts, "after the first run")

    # later rows, no late ones (Feast's incremental run would miss those: see test_late_rows)
    for repo in pair:
        _write(repo, lambda rows: (rows["created_ns"] <= MID_NS) | (rows["event_ns"] > MID_NS))
    second = Yard.load(ours.path).features.materialize(_at(END_NS), progress=False)
    assert sum(second.rows_by_view.values()) > 0 and not any(second.late_by_view.values())
    _feast_materialize(feasts, END_NS)
    _same_bytes_and_reads(ours, feasts, "after the incremental run")
