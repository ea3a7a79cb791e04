"""Train/serve consistency, tested: the training-frame row at the last materialized time equals the
online vector served right after materialization, feature by feature, bit for bit, on SQLite and Redis."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from example_settings import EXAMPLE_END

from modelyard.examples.repo import prepare_example_repo
from modelyard.features.store import FEATURE_STORE_YAML_ENV
from modelyard.yard import Yard

END = datetime.fromisoformat(EXAMPLE_END)


def _sample(repo, n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Entity pairs covering every driver and customer the data knows, plus unknown ones."""
    rng = np.random.default_rng(seed)
    drivers = pd.read_parquet(repo / "data" / "driver_stats.parquet")["driver_id"].unique()
    customers = pd.read_parquet(repo / "data" / "customer_profile.parquet")["customer_id"].unique()
    driver_ids = np.concatenate([drivers, rng.choice(drivers, n - len(drivers)), [7]])
    customer_ids = np.concatenate([rng.choice(customers, n), [8]])
    return pd.DataFrame(
        {"driver_id": driver_ids.astype("int64"), "customer_id": customer_ids.astype("int64")}
    )


def _assert_bitwise_equal(offline: pd.Series, online: pd.Series, name: str) -> None:
    assert offline.dtype == online.dtype, f"{name}: dtype {offline.dtype} offline, {online.dtype} online"
    assert (offline.isna().to_numpy() == online.isna().to_numpy()).all(), f"{name}: missing values differ"
    present = offline.notna().to_numpy()
    if offline.dtype.kind == "f":
        a, b = offline.to_numpy()[present], online.to_numpy()[present]
        assert np.array_equal(
            a.view(np.int64 if a.dtype == np.float64 else np.int32),
            b.view(np.int64 if b.dtype == np.float64 else np.int32),
        ), f"{name}: float bits differ"
    else:
        assert offline[present].tolist() == online[present].tolist(), f"{name}: values differ"


def _check_consistency(yard: Yard, entities: pd.DataFrame, at: datetime = END) -> None:
    for model in ("trip_acceptance", "tip_amount"):
        names = yard.features.feature_names(model)
        frame = entities.assign(event_timestamp=pd.Timestamp(at))
        offline = yard.features.training_frame(model, frame).reset_index(drop=True)
        online = yard.features.online_vectors(
            model, {k: entities[k].tolist() for k in ("driver_id", "customer_id")}, as_of=at
        )
        assert list(online.columns) == ["driver_id", "customer_id", *names]
        assert list(offline.columns)[-len(names) :] == names
        # the sample must exercise missing values and present values of every feature
        assert offline[names].isna().any().any() and offline[names].notna().any().all()
        for name in names:
            _assert_bitwise_equal(offline[name], online[name], f"{model}.{name}")


def test_training_and_online_agree_on_sqlite(example_repo):
    yard = Yard.load(example_repo)
    assert yard.feature_store.config.online_store.type == "sqlite"
    _check_consistency(yard, _sample(example_repo))


def test_incremental_materializations_stay_consistent_at_each_cut(example_repo_template, tmp_path):
    repo = prepare_example_repo(tmp_path / "repo", source=example_repo_template, generate=False)
    yard = Yard.load(repo)
    entities = _sample(repo, seed=1)
    keys = {k: entities[k].tolist() for k in ("driver_id", "customer_id")}
    for at in (END - timedelta(days=5), END - timedelta(days=2), END):
        result = yard.features.materialize(at, progress=False)
        assert result.end == at and sum(result.rows_by_view.values()) > 0
        _check_consistency(yard, entities, at)
    # Feast itself serves values older than the ttl; online_vectors applies it (at now by default)
    raw = yard.feature_store.get_online_features(
        features=["customer_activity:cancel_rate"], entity_rows=keys
    ).to_dict()
    at_end = yard.features.online_vectors("trip_acceptance", keys, as_of=END)["cancel_rate"]
    assert sum(v is not None for v in raw["cancel_rate"]) > at_end.notna().sum()
    later = yard.features.online_vectors("trip_acceptance", keys, as_of=END + timedelta(days=3, seconds=1))
    assert later["cancel_rate"].notna().sum() == 0  # the view's ttl is 3 days


@pytest.mark.redis
def test_training_and_online_agree_on_redis(redis_url, example_repo_template, tmp_path, monkeypatch):
    import redis

    project = f"myfeat_{uuid.uuid4().hex[:10]}"  # Feast suffixes every Redis key with the project name
    repo = prepare_example_repo(tmp_path / "repo", source=example_repo_template, generate=False, apply=False)
    for yaml_name in ("feature_store.yaml", "feature_store.redis.yaml"):
        path = repo / yaml_name
        path.write_text(path.read_text().replace("project: rideshare", f"project: {project}"))
    host_port = redis_url.removeprefix("redis://").rsplit("/", 1)[0]
    monkeypatch.setenv(FEATURE_STORE_YAML_ENV, "feature_store.redis.yaml")
    monkeypatch.setenv("REDIS_CONNECTION_STRING", f"{host_port},db=0")
    client = redis.Redis.from_url(redis_url)
    try:
        yard = Yard.load(repo)
        assert yard.feature_store.config.online_store.type == "redis"
        yard.features.apply()
        rows = yard.features.materialize(END, progress=False).rows_by_view
        assert rows["driver_stats"] > 0
        assert any(True for _ in client.scan_iter(match=f"*{project}", count=1000))
        _check_consistency(yard, _sample(repo))
    finally:
        keys = list(client.scan_iter(match=f"*{project}", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
