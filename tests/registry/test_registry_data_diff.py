"""Row-level data diff of two training frames: added, removed, changed rows, labels, features by movement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.registry.data_diff import diff_frames


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 200
    ts = pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC")
    a = pd.DataFrame(
        {
            "driver_id": np.arange(n) % 50,
            "event_timestamp": ts,
            "speed": rng.normal(0, 1, n),
            "stable": rng.normal(0, 1, n),
            "car": rng.choice(["hatchback", "sedan"], n),
            "accepted": rng.integers(0, 2, n),
        }
    )
    b = a.iloc[10:].copy()  # rows 0..9 removed
    b.loc[b.index[:20], "speed"] += 5.0  # 20 rows changed, speed moved
    b.loc[b.index[:5], "accepted"] = 1 - b.loc[b.index[:5], "accepted"]  # 5 labels flipped (same rows)
    extra = a.iloc[:3].copy()
    extra["event_timestamp"] += pd.Timedelta(days=30)  # 3 new rows
    b = pd.concat([b, extra], ignore_index=True)
    return a, b


def test_rows_labels_and_features_by_movement() -> None:
    a, b = _frames()
    d = diff_frames(a, b, keys=["driver_id"], label="accepted")
    assert d.keys == ["driver_id", "event_timestamp"]
    assert (d.rows_a, d.rows_b, d.added, d.removed, d.changed) == (200, 193, 3, 10, 20)
    assert d.unchanged == 190 - 20 and d.labels_changed == 5
    assert d.label_kind == "categorical" and set(d.label_a) == {"0", "1"}
    assert sum(d.label_b.values()) == pytest.approx(1.0)
    ranked = [f.feature for f in d.features]
    assert ranked[0] == "speed" and ranked.index("stable") > 0
    speed = d.features[0]
    assert speed.rows_changed == 20 and speed.share_changed == pytest.approx(20 / 190)
    stable = next(f for f in d.features if f.feature == "stable")
    assert stable.rows_changed == 0
    data = d.to_dict()
    assert data["rows"]["added"] == 3 and data["label"]["changed_rows"] == 5


def test_identical_frames_and_repeated_keys() -> None:
    a, _ = _frames()
    twice = pd.concat([a, a.iloc[:2]], ignore_index=True)  # the same key twice: matched by order
    d = diff_frames(twice, twice.copy(), keys=["driver_id"], label="accepted")
    assert (d.added, d.removed, d.changed, d.labels_changed) == (0, 0, 0, 0)
    assert all(f.movement == 0 for f in d.features)
    regression = diff_frames(a.assign(accepted=a.speed * 10), a, keys=["driver_id"], label="accepted")
    assert regression.label_kind == "numeric" and "mean" in regression.label_a
    assert regression.labels_changed == 200
