"""The seeded rideshare generator: deterministic, realistic enough, and drift where asked."""

from __future__ import annotations

import pandas as pd
import pytest

from modelyard.examples import rideshare

END = "2026-01-29T00:00:00+00:00"
SMALL = {"drivers": 30, "customers": 80, "days": 14, "trips": 800}


def _read(result: rideshare.GeneratedData, name: str) -> pd.DataFrame:
    return pd.read_parquet(result.files[name])


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    a = rideshare.generate(tmp_path / "a", seed=3, end=END, **SMALL)
    b = rideshare.generate(tmp_path / "b", seed=3, end=END, **SMALL)
    c = rideshare.generate(tmp_path / "c", seed=4, end=END, **SMALL)
    for name in a.files:
        pd.testing.assert_frame_equal(_read(a, name), _read(b, name))
    assert not _read(a, "driver_stats").equals(_read(c, "driver_stats"))


def test_sources_cover_weeks_with_missing_values_categories_and_labels(tmp_path):
    result = rideshare.generate(tmp_path, end=END, **SMALL)
    stats = _read(result, "driver_stats")
    assert stats["event_timestamp"].min() >= pd.Timestamp(result.start)
    assert stats["event_timestamp"].max() < pd.Timestamp(result.end)
    assert (stats["event_timestamp"].max() - stats["event_timestamp"].min()).days >= 13
    assert 0 < stats["rating"].isna().mean() < 0.2
    assert set(stats["vehicle_type"]) <= set(rideshare.VEHICLE_TYPES)
    # corrections: same driver and event time, a later created time
    dup = stats.duplicated(["driver_id", "event_timestamp"], keep=False)
    assert (
        dup.any() and stats.loc[dup].groupby(["driver_id", "event_timestamp"])["created"].nunique().min() == 2
    )
    profile = _read(result, "customer_profile")
    assert profile["payment_method"].isna().any() and set(profile["customer_tier"].dropna()) <= set(
        rideshare.TIERS
    )
    accepted = _read(result, "trip_acceptance_entities")
    assert list(accepted.columns) == ["driver_id", "customer_id", "event_timestamp", "accepted"]
    assert 0.2 < accepted["accepted"].mean() < 0.9
    tips = _read(result, "tip_amount_entities")
    assert list(tips.columns) == ["driver_id", "customer_id", "event_timestamp", "tip_amount"]
    assert len(tips) == accepted["accepted"].sum() and (tips["tip_amount"] >= 0).all()


def test_drift_changes_driver_features_only_after_drift_from(tmp_path):
    drift_from = pd.Timestamp("2026-01-22T00:00:00+00:00")
    clean = _read(rideshare.generate(tmp_path / "clean", end=END, **SMALL), "driver_stats")
    drifted_result = rideshare.generate(
        tmp_path / "drift", end=END, drift_from=drift_from.isoformat(), **SMALL
    )
    drifted = _read(drifted_result, "driver_stats")
    assert drifted_result.effects == rideshare.DRIFT_EFFECTS

    before_d, after_d = (
        drifted[drifted.event_timestamp < drift_from],
        drifted[drifted.event_timestamp >= drift_from],
    )
    before_c, after_c = clean[clean.event_timestamp < drift_from], clean[clean.event_timestamp >= drift_from]
    pd.testing.assert_frame_equal(before_d.reset_index(drop=True), before_c.reset_index(drop=True))
    assert after_d["conv_rate"].mean() - after_c["conv_rate"].mean() > 0.15
    assert rideshare.DRIFT_UNSEEN_VEHICLE not in set(before_d["vehicle_type"])
    assert (after_d["vehicle_type"] == rideshare.DRIFT_UNSEEN_VEHICLE).mean() > 0.15
    assert after_d["rating"].isna().mean() > 0.3 > before_d["rating"].isna().mean()


def test_drift_outside_the_data_range_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outside the data's range"):
        rideshare.generate(tmp_path, end=END, drift_from="2025-01-01", **SMALL)


def test_command_line_writes_the_files(tmp_path, capsys):
    assert (
        rideshare.main(
            [
                "--repo",
                str(tmp_path),
                "--drivers",
                "5",
                "--customers",
                "5",
                "--days",
                "7",
                "--trips",
                "50",
                "--end",
                END,
                "--drift-from",
                "2026-01-27",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "driver_stats.parquet" in out and "drift from 2026-01-27" in out
    assert (tmp_path / "data" / "trip_acceptance_entities.parquet").exists()
