"""A small Feast repo on the real Redis online store, built fresh per test (for the serving tests).

It covers every scalar Feast value type plus a list type, nulls, a two-key view and a
string-keyed view, so the fast online reader is checked against Feast on all of them.
"""

from __future__ import annotations

import textwrap
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Bool, Float32, Float64, Int32, Int64, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
zone = Entity(name="zone", join_keys=["zone_id"], value_type=ValueType.STRING)

driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(days=3650),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="rating", dtype=Float32),
        Field(name="acceptance_rate", dtype=Float64),
        Field(name="trips_total", dtype=Int64),
        Field(name="level", dtype=Int32),
        Field(name="active", dtype=Bool),
        Field(name="tier", dtype=String),
        Field(name="last_seen", dtype=UnixTimestamp),
    ],
    source=FileSource(path="data/driver_stats.parquet", timestamp_field="event_timestamp"),
)
customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(days=3650),
    schema=[
        Field(name="customer_id", dtype=Int64),
        Field(name="avg_spend", dtype=Float64),
        Field(name="recent_scores", dtype=Array(Float64)),
    ],
    source=FileSource(path="data/customer_profile.parquet", timestamp_field="event_timestamp"),
)
pair_stats = FeatureView(
    name="pair_stats",
    entities=[driver, customer],
    ttl=timedelta(days=3650),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="customer_id", dtype=Int64),
        Field(name="rides_together", dtype=Int64),
    ],
    source=FileSource(path="data/pair_stats.parquet", timestamp_field="event_timestamp"),
)
zone_stats = FeatureView(
    name="zone_stats",
    entities=[zone],
    ttl=timedelta(days=3650),
    schema=[Field(name="zone_id", dtype=String), Field(name="surge", dtype=Float64)],
    source=FileSource(path="data/zone_stats.parquet", timestamp_field="event_timestamp"),
)

ride_features = FeatureService(
    name="ride_features",
    features=[driver_stats, customer_profile[["avg_spend", "recent_scores"]], pair_stats],
)
driver_only = FeatureService(
    name="driver_only",
    features=[driver_stats[["rating", "acceptance_rate", "trips_total"]]],
)
zone_features = FeatureService(name="zone_features", features=[zone_stats])
"""

DRIVERS = list(range(1001, 1021))
CUSTOMERS = list(range(2001, 2011))
ZONES = ["north", "south", "éast"]


def build(
    tmp: Path, redis_url: str, *, n_drivers: int = len(DRIVERS), cluster: str | None = None
) -> tuple[Path, str]:
    """Write, apply and materialize the repo into ``tmp``; return (repo path, Feast project).

    Drivers are ``1001..1000+n_drivers`` (tests use the default 20, benchmarks more). With
    ``cluster`` (``"host:port,host:port,..."``) the online store is that Redis Cluster
    (``redis_type: redis_cluster``) instead of ``redis_url``.
    """
    import numpy as np
    import pandas as pd
    from feast import FeatureStore
    from feast.repo_operations import apply_total

    repo = tmp / "feast_repo"
    (repo / "data").mkdir(parents=True)
    project = f"my_srv_{uuid.uuid4().hex[:10]}"
    host_port_db = redis_url.removeprefix("redis://")
    host_port, _, db = host_port_db.partition("/")
    online = (
        f'redis_type: redis_cluster\n              connection_string: "{cluster}"'
        if cluster
        else f'connection_string: "{host_port},db={db or 0}"'
    )
    (repo / "feature_store.yaml").write_text(
        textwrap.dedent(
            f"""
            project: {project}
            provider: local
            registry: data/registry.db
            online_store:
              type: redis
              {online}
            offline_store:
              type: file
            entity_key_serialization_version: 3
            """
        )
    )
    # a unique module name: Feast imports it, and Python caches modules by name
    (repo / f"{project}_defs.py").write_text(DEFINITIONS)
    rng = np.random.default_rng(7)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ts = now - timedelta(hours=1)
    drivers = list(range(1001, 1001 + n_drivers))
    n = n_drivers
    rating = rng.uniform(3, 5, n).astype("float32")
    rating[3] = np.nan
    tier = np.array((["gold", "silver", "bronze", "ünïcode"] * n)[:n], dtype=object)
    tier[5] = None
    pd.DataFrame(
        {
            "driver_id": np.array(drivers, dtype="int64"),
            "rating": rating,
            "acceptance_rate": rng.uniform(0, 1, n),
            "trips_total": rng.integers(-(2**40), 2**40, n),
            "level": rng.integers(-1000, 1000, n).astype("int32"),
            "active": rng.integers(0, 2, n).astype(bool),
            "tier": tier,
            "last_seen": pd.to_datetime(
                [now - timedelta(minutes=int(m)) for m in rng.integers(0, 10000, n)], utc=True
            ),
            "event_timestamp": [ts] * n,
        }
    ).to_parquet(repo / "data" / "driver_stats.parquet")
    m = len(CUSTOMERS)
    pd.DataFrame(
        {
            "customer_id": np.array(CUSTOMERS, dtype="int64"),
            "avg_spend": rng.uniform(5, 80, m),
            "recent_scores": [list(rng.uniform(0, 1, 3)) for _ in range(m)],
            "event_timestamp": [ts] * m,
        }
    ).to_parquet(repo / "data" / "customer_profile.parquet")
    pairs = [(d, c) for d in DRIVERS[:5] for c in CUSTOMERS[:4]]
    pd.DataFrame(
        {
            "driver_id": np.array([p[0] for p in pairs], dtype="int64"),
            "customer_id": np.array([p[1] for p in pairs], dtype="int64"),
            "rides_together": rng.integers(0, 50, len(pairs)),
            "event_timestamp": [ts] * len(pairs),
        }
    ).to_parquet(repo / "data" / "pair_stats.parquet")
    pd.DataFrame(
        {"zone_id": ZONES, "surge": [1.0, 1.5, 2.25], "event_timestamp": [ts] * len(ZONES)}
    ).to_parquet(repo / "data" / "zone_stats.parquet")

    import os
    import sys

    from feast.repo_config import load_repo_config

    config = load_repo_config(repo, repo / "feature_store.yaml")
    cwd = os.getcwd()
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    try:
        apply_total(config, repo, skip_source_validation=True)
    finally:
        os.chdir(cwd)
        sys.path.remove(str(repo))
    store = FeatureStore(repo_path=str(repo))
    store.materialize(now - timedelta(days=2), now)
    return repo, project


def teardown(repo: Path) -> None:
    """Delete the repo's keys from Redis (Feast's own teardown)."""
    from feast import FeatureStore

    FeatureStore(repo_path=str(repo)).teardown()
