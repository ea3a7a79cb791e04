"""Snapshots: deterministic Parquet, content-derived ids, bit-identical reloads, verified reads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from snapshot_frames import training_like

from modelyard.artifacts.hashing import tree_sha256
from modelyard.errors import ArtifactIntegrityError, RegistryError, SnapshotNotFound
from modelyard.monitoring.profile import Profile
from modelyard.registry.service import Registry
from modelyard.registry.snapshots import write_parquet

FEATURES = ["conv_rate", "avg_daily_trips", "vehicle_type", "is_premium"]


def test_same_frame_twice_gives_the_same_snapshot(snapshot_registry: Registry) -> None:
    entities, frame = training_like()
    first = snapshot_registry.snapshot("trip_acceptance", frame, entities, features=FEATURES)
    again = snapshot_registry.snapshot("trip_acceptance", frame.copy(), entities.copy(), features=FEATURES)
    assert again.id == first.id and again.content_sha256 == first.content_sha256
    assert len(snapshot_registry.list_snapshots("trip_acceptance")) == 1
    assert len(list(snapshot_registry.artifacts.uris())) == 2  # frame and entities, stored once

    changed = frame.copy()
    changed.loc[0, "conv_rate"] = 0.123456
    other = snapshot_registry.snapshot("trip_acceptance", changed, entities, features=FEATURES)
    assert other.id != first.id and other.content_sha256 != first.content_sha256
    other_model = snapshot_registry.snapshot("tip_amount", frame, entities, features=FEATURES)
    assert other_model.id != first.id and other_model.content_sha256 == first.content_sha256


def test_reload_is_bit_identical(snapshot_registry: Registry, tmp_path: Path) -> None:
    entities, frame = training_like()
    snap = snapshot_registry.snapshot("trip_acceptance", frame, entities, features=FEATURES)
    loaded = snapshot_registry.load_snapshot_frame(snap.id)
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)
    assert loaded["vehicle_type"].isna().sum() == frame["vehicle_type"].isna().sum()
    write_parquet(loaded, tmp_path / "again" / "frame.parquet")
    assert tree_sha256(tmp_path / "again") == snap.content_sha256
    pd.testing.assert_frame_equal(
        snapshot_registry.load_snapshot_entities(snap.id), entities, check_exact=True
    )


def test_record_holds_lineage_and_the_reference_profile(snapshot_registry: Registry) -> None:
    entities, frame = training_like()
    snap = snapshot_registry.snapshot(
        "trip_acceptance",
        frame,
        entities,
        features=FEATURES,
        feature_refs=["driver_stats:conv_rate", "driver_stats:avg_daily_trips"],
        schema_fingerprint="ab" * 32,
        feature_service="trip_acceptance_v1",
    )
    stored = snapshot_registry.get_snapshot(snap.id)
    assert stored.rows == len(frame)
    assert stored.start == entities["event_timestamp"].min().to_pydatetime()
    assert stored.end == entities["event_timestamp"].max().to_pydatetime()
    assert stored.feature_refs == ("driver_stats:conv_rate", "driver_stats:avg_daily_trips")
    assert stored.schema_fingerprint == "ab" * 32 and stored.feature_service == "trip_acceptance_v1"
    assert stored.size > 0 and stored.entities_size > 0
    profile = snapshot_registry.reference_profile(snap.id)
    assert isinstance(profile, Profile) and profile.n_rows == len(frame)
    assert profile.feature("vehicle_type").kind == "categorical"
    assert profile.feature("conv_rate").kind == "numeric"
    assert (
        profile.feature("conv_rate").missing + profile.feature("conv_rate").holdout_missing
        == frame["conv_rate"].isna().sum()
    )


def test_tampered_snapshot_data_is_refused(snapshot_registry: Registry) -> None:
    entities, frame = training_like()
    snap = snapshot_registry.snapshot("trip_acceptance", frame, entities, features=FEATURES)
    stored_file = Path(snapshot_registry.artifacts._path(snap.uri)) / "frame.parquet"
    tampered = frame.copy()
    tampered.loc[3, "conv_rate"] = 99.0
    write_parquet(tampered, stored_file)
    with pytest.raises(ArtifactIntegrityError, match=f"snapshot {snap.id}") as info:
        snapshot_registry.load_snapshot_frame(snap.id)
    assert snap.content_sha256 in str(info.value)


def test_bad_snapshots_are_refused(snapshot_registry: Registry) -> None:
    entities, frame = training_like()
    with pytest.raises(RegistryError, match="lacks feature columns"):
        snapshot_registry.snapshot("trip_acceptance", frame, entities, features=["nope"])
    with pytest.raises(RegistryError, match="empty"):
        snapshot_registry.snapshot("trip_acceptance", frame.iloc[:0], entities, features=FEATURES)
    with pytest.raises(SnapshotNotFound):
        snapshot_registry.load_snapshot_frame("0" * 16)
    assert snapshot_registry.list_snapshots() == []
