"""The point-in-time join reads only the source rows a chunk of entity rows can join (bounded memory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from modelyard.features.offline.pit import ViewRead, _read_source, join

DAY = 86_400 * 10**9


def _source(path: Path, rows: int) -> ViewRead:
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 1000, rows),
            "event_timestamp": start + pd.to_timedelta(np.sort(rng.integers(0, 100 * DAY, rows))),
            "v": rng.normal(size=rows),
        }
    )
    frame.to_parquet(path, row_group_size=10_000)  # time-ordered: row groups outside a window are skipped
    return ViewRead(
        name="stats",
        base="stats",
        join_keys=(("driver_id", "driver_id"),),
        features=("v",),
        path=str(path),
        source_name="stats_source",
        timestamp_field="event_timestamp",
        created_column=None,
        ttl_ns=DAY,
    )


def test_a_chunk_reads_only_the_source_rows_it_can_join(tmp_path: Path) -> None:
    view = _source(tmp_path / "stats.parquet", 200_000)
    at = pd.Timestamp("2026-02-20", tz="UTC") + pd.to_timedelta(np.arange(50) * 60 * 10**9)
    keys = pa.array(np.arange(50, dtype="int64"))
    read = _read_source(view, [keys], pd.DatetimeIndex(at).as_unit("ns").asi8)
    # the window (one day of ttl before the chunk, an hour of chunk) and 50 of 1000 drivers
    assert 0 < read.num_rows < 200_000 / 100 * 2 * 50 / 1000 * 3
    assert set(read.column("driver_id").to_pylist()) <= set(range(50))

    # and the values equal a join over every row, computed independently with pandas
    entities = pd.DataFrame({"driver_id": np.arange(50), "event_timestamp": at})
    ours = join([view], entities, "event_timestamp")
    full = pd.read_parquet(view.path).sort_values("event_timestamp")
    expected = pd.merge_asof(
        entities.sort_values("event_timestamp"),
        full,
        on="event_timestamp",
        by="driver_id",
        direction="backward",
    ).set_index("driver_id")
    stale = (
        entities["event_timestamp"].to_numpy()
        - full.groupby("driver_id")["event_timestamp"].max().reindex(entities["driver_id"]).to_numpy()
    )
    assert ours["v"].notna().sum() > 0
    for i, row in ours.iterrows():
        want = expected.loc[row["driver_id"], "v"]
        matched = full[
            (full.driver_id == row["driver_id"]) & (full.event_timestamp <= row["event_timestamp"])
        ]
        fresh = len(matched) and (
            matched.event_timestamp.max().floor("s") + pd.Timedelta(DAY) >= row["event_timestamp"]
        )
        assert (row["v"] == want) if fresh else pd.isna(row["v"]), (i, stale[i])
