"""A Feast repo with request data and on-demand views (pandas and python modes), for the real-time feature tests.

Not the rideshare example: its transformations read features the FeatureService does not take
(``trips``, ``tier``), a view with nulls, and request fields of two types, and the python-mode
view raises on a sentinel hour so the tests can see a transformation fail.
"""

from __future__ import annotations

import textwrap
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

DEFINITIONS = """
from datetime import timedelta

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Bool, Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)

driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(days=30),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="conv_rate", dtype=Float64),
        Field(name="trips", dtype=Int64),
        Field(name="tier", dtype=String),
    ],
    source=FileSource(
        path="data/driver_stats.parquet", timestamp_field="event_timestamp", created_timestamp_column="created"
    ),
)

trip_request = RequestSource(
    name="trip_request",
    schema=[Field(name="trip_distance_km", dtype=Float64), Field(name="pickup_hour", dtype=Int64)],
)


@on_demand_feature_view(
    sources=[driver_stats, trip_request],
    schema=[Field(name="dist_x_conv", dtype=Float64), Field(name="trips_per_km", dtype=Float64)],
    mode="pandas",
)
def trip_pandas(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    out["dist_x_conv"] = inputs["trip_distance_km"] * inputs["conv_rate"]
    out["trips_per_km"] = inputs["trips"].astype("float64") / (inputs["trip_distance_km"] + 0.1)
    return out


@on_demand_feature_view(
    sources=[driver_stats, trip_request],
    schema=[Field(name="rush", dtype=Bool), Field(name="tier_hour", dtype=String)],
    mode="python",
)
def trip_python(inputs: dict) -> dict:
    if 99 in inputs["pickup_hour"]:
        raise ValueError("hour 99 does not exist")
    return {
        "rush": [h is not None and (7 <= h <= 9 or 17 <= h <= 19) for h in inputs["pickup_hour"]],
        "tier_hour": [f"{t}@{h}" for t, h in zip(inputs["tier"], inputs["pickup_hour"])],
    }


driver_live = FeatureView(
    name="driver_live",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="live_acceptance", dtype=Float64)],
    source=PushSource(
        name="driver_live_push",
        batch_source=FileSource(path="data/driver_live.parquet", timestamp_field="event_timestamp"),
    ),
)

# for bench/bench_ondemand.py: the same plain features without, and with one, on-demand view
trip_plain = FeatureService(name="trip_plain", features=[driver_stats[["conv_rate"]], driver_live])
trip_one = FeatureService(name="trip_one", features=[driver_stats[["conv_rate"]], driver_live, trip_python])
trip_one_pandas = FeatureService(
    name="trip_one_pandas", features=[driver_stats[["conv_rate"]], driver_live, trip_pandas]
)

trip_rt = FeatureService(
    name="trip_rt", features=[driver_stats[["conv_rate"]], trip_pandas, trip_python, driver_live]
)
"""

MODELYARD_YAML = """
project: ondemand
models:
  trip_rt:
    feature_service: trip_rt
    entity_keys: [driver_id]
    task: regression
    label: y
    flavor: sklearn
"""

DRIVERS = list(range(1, 41))
END = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def build(tmp: Path, *, redis_url: str | None = None) -> tuple[Path, str]:
    """Write the repo (SQLite online store, or Redis at ``redis_url``) with data; return (path, project)."""
    repo = tmp / "ondemand_repo"
    (repo / "data").mkdir(parents=True)
    project = f"my_odfv_{uuid.uuid4().hex[:10]}"
    if redis_url is None:
        online = "type: sqlite\n  path: data/online_store.db"
    else:
        host_port, _, db = redis_url.removeprefix("redis://").partition("/")
        online = f'type: redis\n  connection_string: "{host_port},db={db or 0}"'
    (repo / "feature_store.yaml").write_text(
        f"project: {project}\nprovider: local\nregistry: data/registry.db\nonline_store:\n  {online}\n"
        "offline_store:\n  type: modelyard.features.offline.asof.AsofDuckDBOfflineStore\n"
        "entity_key_serialization_version: 3\n"
    )
    (repo / f"{project}_defs.py").write_text(DEFINITIONS)
    (repo / "modelyard.yaml").write_text(textwrap.dedent(MODELYARD_YAML))
    rng = np.random.default_rng(3)
    rows = []
    for d in DRIVERS:
        for day in range(3):
            ts = END - timedelta(days=day, hours=int(rng.integers(1, 20)))
            conv = None if rng.random() < 0.15 else float(rng.random())
            trips = None if rng.random() < 0.15 else int(rng.integers(0, 5000))
            tier = None if rng.random() < 0.1 else str(rng.choice(["gold", "silver", "bronze"]))
            rows.append((d, conv, trips, tier, ts, ts + timedelta(minutes=5)))
    frame = pd.DataFrame(
        rows, columns=["driver_id", "conv_rate", "trips", "tier", "event_timestamp", "created"]
    )
    frame["trips"] = frame["trips"].astype("Int64")
    frame.to_parquet(repo / "data" / "driver_stats.parquet", index=False)
    live = pd.DataFrame(
        {
            "driver_id": np.array(DRIVERS, dtype="int64"),
            "live_acceptance": rng.random(len(DRIVERS)),
            "event_timestamp": [END - timedelta(hours=2)] * len(DRIVERS),
        }
    )
    live.to_parquet(repo / "data" / "driver_live.parquet", index=False)
    return repo, project


def request_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Entity rows at END with request data: known and unknown drivers, a null distance, every hour."""
    rng = np.random.default_rng(seed)
    drivers = np.concatenate([rng.choice(DRIVERS, n - 1), [999]]).astype("int64")
    distance = rng.gamma(2.0, 3.0, n)
    distance[0] = np.nan
    return pd.DataFrame(
        {
            "driver_id": drivers,
            "trip_distance_km": distance,
            "pickup_hour": rng.integers(0, 24, n).astype("int64"),
            "event_timestamp": pd.Timestamp(END),
        }
    )
