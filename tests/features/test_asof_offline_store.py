"""The DuckDB ASOF offline store through Feast's own API, on a tiny hand-made repo with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=6)
T3 = T1 + timedelta(days=3)
DAY = timedelta(days=1)

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
source = FileSource(name="stats_source", path="data/stats.parquet", timestamp_field="ts",
                    created_timestamp_column="created")
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1), source=source,
                    schema=[Field(name="driver_id", dtype=Int64), Field(name="v", dtype=Float64),
                            Field(name="n", dtype=Int64), Field(name="s", dtype=String)])
svc = FeatureService(name="svc", features=[stats])
"""

YAML = """project: asoftest
provider: local
registry: data/registry.db
online_store: {type: sqlite, path: data/online.db}
offline_store: {type: modelyard.features.offline.asof.AsofDuckDBOfflineStore}
entity_key_serialization_version: 3
"""


@pytest.fixture
def store(tmp_path):
    from feast import FeatureStore

    from modelyard.features.definitions import parse_definitions

    (tmp_path / "data").mkdir()
    (tmp_path / "features.py").write_text(DEFINITIONS)
    (tmp_path / "feature_store.yaml").write_text(YAML)
    rows = [  # driver_id, ts, created, v, n, s
        (1, T0, T0, 1.0, 10, "a"),
        (1, T1, T1, 2.0, 20, "b"),
        (1, T1, T1 + timedelta(hours=1), 3.0, None, None),  # correction of the T1 row: wins
        (1, T3, T3, 4.0, 40, "d"),
        (3, T0, T0, 9.0, 90, "z"),
    ]
    frame = pd.DataFrame(rows, columns=["driver_id", "ts", "created", "v", "n", "s"])
    frame["n"] = frame["n"].astype("Int64")
    frame.to_parquet(tmp_path / "data" / "stats.parquet", index=False)
    fs = FeatureStore(repo_path=str(tmp_path))
    repo = parse_definitions(tmp_path)
    fs.apply([*repo.entities, *repo.data_sources, *repo.feature_views, *repo.feature_services])
    return fs


def test_point_in_time_semantics_row_order_and_duplicates(store):
    cases = [  # driver, entity time, expected v (None = missing)
        (1, T1 + DAY + timedelta(seconds=1), None),  # older than the ttl
        (1, T1, 3.0),  # exact time counts; the later-created correction wins
        (1, T0 - timedelta(seconds=1), None),  # before any value
        (1, T1 + DAY, 3.0),  # exactly at the ttl edge: still fresh
        (2, T1, None),  # unknown driver
        (1, T1, 3.0),  # duplicate of row 1
        (3, T0 + timedelta(hours=1), 9.0),
        (1, T3 + timedelta(hours=1), 4.0),
    ]
    entities = pd.DataFrame(
        {
            "driver_id": [c[0] for c in cases],
            "event_timestamp": [c[1] for c in cases],
            "label": range(len(cases)),
        }
    )
    out = store.get_historical_features(entity_df=entities, features=store.get_feature_service("svc")).to_df()
    assert list(out["label"]) == list(range(len(cases)))  # one row per entity row, in order
    assert list(out.columns) == ["driver_id", "event_timestamp", "label", "v", "n", "s"]
    got = [None if pd.isna(v) else v for v in out["v"]]
    assert got == [c[2] for c in cases]
    # the correction's missing int and string stay missing (not the value of the row it replaced)
    assert pd.isna(out.loc[1, "n"]) and pd.isna(out.loc[1, "s"])
    assert str(out["n"].dtype) == "Int64" and out.loc[7, "n"] == 40 and out.loc[7, "s"] == "d"


def test_full_feature_names_and_materialization_of_the_latest_row(store):
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [T3]})
    out = store.get_historical_features(
        entity_df=entities, features=store.get_feature_service("svc"), full_feature_names=True
    ).to_df()
    assert out.loc[0, "stats__v"] == 4.0
    store.materialize(T0 - DAY, T1 + timedelta(hours=2))
    online = store.get_online_features(
        features=["stats:v", "stats:n"], entity_rows=[{"driver_id": 1}]
    ).to_dict()
    assert online["v"] == [3.0] and online["n"] == [None]  # the correction, as offline


def test_entity_frame_without_the_join_key_is_refused(store):
    from modelyard.errors import FeatureError
    from modelyard.features.offline.asof import point_in_time_join

    entities = pd.DataFrame({"other_id": [1], "event_timestamp": [T1]})
    with pytest.raises(FeatureError, match="driver_id"):
        point_in_time_join(store.config, [store.get_feature_view("stats")], ["stats:v"], entities)
