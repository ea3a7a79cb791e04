"""A late row (event time before the last materialization, written after it) reaches the online store.

Incremental materialization starts at the last end time, so such a row is in every training
frame but never served. Picking rows up by created time (or a lookback) is materialization work
(issue 11 item 3, done in the materialization rewrite); until it lands this test is a strict
xfail, so it fails loudly the day it starts passing without the marker being removed.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from cons_generator import END_NS, MID_NS, SECOND, _write_parquet, generate
from cons_oracle import canonical_rows, diff, expected_frame

from modelyard.features import expiry
from modelyard.yard import Yard


def _repo_with_a_lasting_rider_view(tmp_path):
    """The first seed whose rider_stats view has no ttl or a long one (a late row stays fresh)."""
    for seed in range(30, 60):
        repo = generate(tmp_path / str(seed), seed)
        ttl = repo.views[0].ttl
        if ttl is None or ttl > timedelta(days=1):
            return repo
    raise AssertionError("no seed gives rider_stats a long ttl")


@pytest.mark.xfail(
    strict=True,
    reason="materialization does not pick up late rows yet (issue 11 item 3: created-time pickup or "
    "lookback in the materialization rewrite of issue 15)",
)
def test_a_late_row_is_served_after_the_next_incremental_materialization(tmp_path, monkeypatch) -> None:
    repo = _repo_with_a_lasting_rider_view(tmp_path)
    view = repo.views[0]
    rows = repo.rows[view.name]
    path = repo.path / "data" / f"{view.name}.parquet"
    on_time = rows[rows["created_ns"] <= MID_NS]
    _write_parquet(path, view, on_time.reset_index(drop=True))
    yard = Yard.load(repo.path)
    yard.features.apply()
    yard.features.materialize(pd.Timestamp(MID_NS, tz="UTC").to_pydatetime(), progress=False)

    # written after the first materialization: everything else, and a late row for rider 5
    late = rows.iloc[[0]].copy()
    late["rider_id"] = 5
    late["event_ns"] = MID_NS - 600 * SECOND
    late["created_ns"] = MID_NS + 60 * SECOND
    late["r_int64"], late["r_string"] = 42, "late"
    everything = pd.concat([rows, late], ignore_index=True)
    repo.rows[view.name] = everything
    _write_parquet(path, view, everything)
    yard = Yard.load(repo.path)
    yard.features.materialize(pd.Timestamp(END_NS, tz="UTC").to_pydatetime(), progress=False)

    monkeypatch.setattr(expiry, "now_ns", lambda: END_NS)
    keys = {"rider_id": [5, 1, 7], "zone": ["north"] * 3}
    entities = pd.DataFrame({**keys, "event_timestamp": pd.to_datetime([END_NS] * 3, utc=True)})
    expected = expected_frame(repo, entities)
    assert expected[0]["r_string"] == ("str", "late")  # training sees the late row
    types = repo.feature_types()
    online = yard.features.online_vectors(repo.model, keys)
    problems = diff(expected, canonical_rows(online[list(types)], types), "online after a late row")
    assert not problems, "\n".join(problems)
