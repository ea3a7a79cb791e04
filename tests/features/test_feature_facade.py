"""The feature facade over a real Feast repo: refs, schema, training frames, online vectors."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import FeatureError
from modelyard.features.store import FEATURE_STORE_YAML_ENV
from modelyard.yard import Yard

TRIP_FEATURES = [
    "conv_rate",
    "acc_rate",
    "avg_daily_trips",
    "vehicle_type",
    "rating",
    "customer_tier",
    "avg_rating_given",
    "trips_last_7d",
    "cancel_rate",
]


@pytest.fixture
def yard(example_repo) -> Yard:
    return Yard.load(example_repo)


def _entities(repo, n: int = 300) -> pd.DataFrame:
    return pd.read_parquet(repo / "data" / "trip_acceptance_entities.parquet").head(n)


def test_refs_names_and_schema_follow_the_feature_service(yard):
    features = yard.features
    assert features.feature_names("trip_acceptance") == TRIP_FEATURES
    assert features.feature_refs("trip_acceptance")[:2] == ["driver_stats:conv_rate", "driver_stats:acc_rate"]
    schema = features.schema("tip_amount")
    assert schema.fields[0] == ("rating", "DOUBLE") and ("payment_method", "STRING") in schema.fields
    assert features.fingerprint("tip_amount") == schema.fingerprint != features.fingerprint("trip_acceptance")
    features.validate()


def test_training_frame_keeps_every_row_in_order_with_duplicates(yard, example_repo):
    base = _entities(example_repo)
    # shuffled, with exact duplicates (same keys and timestamp) and a custom index
    frame = pd.concat([base.sample(frac=1.0, random_state=1), base.head(20), base.head(5)])
    frame.index = [f"r{i}" for i in range(len(frame))]
    result = yard.features.training_frame("trip_acceptance", frame)
    assert len(result) == len(frame)
    assert list(result.index) == list(frame.index)
    assert list(result.columns) == [*frame.columns, *TRIP_FEATURES]
    pd.testing.assert_frame_equal(result[list(frame.columns)], frame)
    # the duplicated rows got the same features as their originals
    dups = result.iloc[-25:].reset_index(drop=True)
    for _, row in dups.iterrows():
        same = result[
            (result.driver_id == row.driver_id)
            & (result.customer_id == row.customer_id)
            & (result.event_timestamp == row.event_timestamp)
        ]
        assert len(same) >= 2
        assert same[TRIP_FEATURES].astype(str).nunique().max() == 1


def _reference_join(repo, entities: pd.DataFrame) -> pd.DataFrame:
    """An independent point-in-time join with pandas.merge_asof (ttl and created tie-break included)."""
    views = {
        "driver_stats": (
            "driver_id",
            pd.Timedelta(days=2),
            "created",
            ["conv_rate", "acc_rate", "avg_daily_trips", "vehicle_type", "rating"],
        ),
        "customer_profile": (
            "customer_id",
            pd.Timedelta(days=10),
            "created",
            ["customer_tier", "avg_rating_given"],
        ),
        "customer_activity": ("customer_id", pd.Timedelta(days=3), None, ["trips_last_7d", "cancel_rate"]),
    }
    out = entities.reset_index(drop=True).copy()
    out["_row"] = range(len(out))
    left = out.sort_values("event_timestamp")
    for view, (key, ttl, created, cols) in views.items():
        src = pd.read_parquet(repo / "data" / f"{view}.parquet")
        if created:
            src = src.sort_values(created).drop_duplicates([key, "event_timestamp"], keep="last")
        src = src.rename(columns={"event_timestamp": "_fts"}).sort_values("_fts")
        left = pd.merge_asof(
            left,
            src[[key, "_fts", *cols]],
            left_on="event_timestamp",
            right_on="_fts",
            by=key,
            direction="backward",
        )
        stale = left["_fts"].isna() | (left["_fts"] < left["event_timestamp"] - ttl)
        for c in cols:
            left[c] = left[c].astype(object).where(~stale, None)
        left = left.drop(columns="_fts")
    return left.sort_values("_row").drop(columns="_row").reset_index(drop=True)


def test_training_frame_values_match_an_independent_merge_asof_join(yard, example_repo):
    entities = _entities(example_repo, 500)
    ours = yard.features.training_frame("trip_acceptance", entities).reset_index(drop=True)
    ref = _reference_join(example_repo, entities)
    assert ours[TRIP_FEATURES].isna().any().any(), (
        "the sample should contain missing values (ttl, NaN rating)"
    )
    for col in TRIP_FEATURES:
        a, b = ours[col].astype(object), ref[col]
        assert (a.isna() == b.isna()).all(), col
        present = a.notna()
        assert (a[present] == b[present]).all(), col


def test_training_frame_matches_feasts_own_file_offline_store(yard, example_repo):
    """Feast's default file (Dask) store is the reference semantics; on unique rows both agree."""
    from feast import FeatureStore

    entities = _entities(example_repo, 150).drop_duplicates(["driver_id", "customer_id", "event_timestamp"])
    ours = yard.features.training_frame("trip_acceptance", entities).reset_index(drop=True)
    config = (example_repo / "feature_store.yaml").read_text()
    dask_yaml = example_repo / "feature_store.dask.yaml"
    dask_yaml.write_text(
        config.replace("type: modelyard.features.offline.asof.AsofDuckDBOfflineStore", "type: file")
    )
    store = FeatureStore(repo_path=str(example_repo), fs_yaml_file=dask_yaml)
    assert store.config.offline_store.type == "file"
    theirs = store.get_historical_features(
        entity_df=entities, features=store.get_feature_service("trip_acceptance_v1")
    ).to_df()
    # Feast's file store drops entity rows (here, rows some view has no fresh value for); ours keeps all
    assert len(ours) == len(entities) >= len(theirs) > len(entities) // 2
    keys = ["driver_id", "customer_id", "event_timestamp"]
    both = theirs.merge(ours, on=[*keys, "accepted"], suffixes=("_feast", ""), validate="one_to_one")
    assert len(both) == len(theirs)
    for col in TRIP_FEATURES:
        a, b = both[col].astype(object), both[f"{col}_feast"].astype(object)
        assert (a.isna() == b.isna()).all(), col
        assert (a[a.notna()] == b[a.notna()]).all(), col

    # over a store that drops rows, the facade refuses rather than return a short frame
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FEATURE_STORE_YAML_ENV, "feature_store.dask.yaml")
        with pytest.raises(FeatureError, match="drops rows"):
            Yard.load(example_repo).features.training_frame("trip_acceptance", entities)
    # the rows it drops are those some view has no fresh value for (here customer_activity's 3-day ttl)
    dropped = ours[~ours.set_index(keys).index.isin(theirs.set_index(keys).index)]
    assert len(dropped) == len(entities) - len(theirs)
    assert dropped[TRIP_FEATURES].isna().any(axis=1).all()


def test_online_vectors_have_the_training_frames_columns_and_dtypes(yard):
    vectors = yard.features.online_vectors(
        "trip_acceptance", {"driver_id": [1000, 1001, 999_999], "customer_id": [50_000, 50_001, 50_002]}
    )
    assert list(vectors.columns) == ["driver_id", "customer_id", *TRIP_FEATURES]
    unknown = vectors.iloc[2]
    assert all(pd.isna(unknown[c]) for c in TRIP_FEATURES[:5]), (
        "an unknown driver has only missing driver features"
    )
    assert vectors.dtypes["avg_daily_trips"] == "Int64" and vectors.dtypes["conv_rate"] == np.float64
    assert vectors.dtypes["vehicle_type"].kind == "O"


def test_wrong_inputs_name_what_is_wrong(yard, example_repo):
    entities = _entities(example_repo, 5)
    with pytest.raises(FeatureError, match="customer_id"):
        yard.features.training_frame("trip_acceptance", entities.drop(columns="customer_id"))
    with pytest.raises(FeatureError, match="event_timestamp"):
        yard.features.training_frame("trip_acceptance", entities.drop(columns="event_timestamp"))
    with pytest.raises(FeatureError, match="different lengths"):
        yard.features.online_vectors("trip_acceptance", {"driver_id": [1000, 1001], "customer_id": [50_000]})


def test_materialize_is_incremental(yard):
    # the fixture materialized up to EXAMPLE_END; nothing new before then, new rows are counted per view
    again = yard.features.materialize(datetime.fromisoformat("2026-01-29T00:00:00+00:00"), progress=False)
    assert {"driver_stats", "customer_profile", "customer_activity", "driver_status"} <= set(
        again.rows_by_view
    )
    assert set(again.rows_by_view.values()) == {0}
