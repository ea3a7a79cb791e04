"""A materialization from Feast's registry file alone reads and records what Feast's own objects do.

``modelyard materialize`` on a local file registry, the ASOF offline store and Redis runs without
importing Feast (:mod:`modelyard.features.materialize.registry`). These tests hold it to Feast:
the views it reads equal those Feast lists, the interval it records leaves the registry as
Feast's ``apply_materialization`` leaves it, a fresh process writes the bytes Feast's
``get_online_features`` reads without importing Feast, and ``feast materialize-incremental``
continues from the interval it recorded.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from services import REDIS_HOST, REDIS_PORT, need_redis

from modelyard.features.materialize.registry import file_registry_repo
from modelyard.features.materialize.views import from_feast
from modelyard.features.online.redis.connection import feast_params

DB = 6
PROJECT = "matreg"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
END = T0 + timedelta(hours=6)
TTL = timedelta(hours=3, microseconds=5)

DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float32, Float64, Int32, Int64, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
zone = Entity(name="zone", join_keys=["zone"], value_type=ValueType.STRING)

stats = FeatureView(
    name="stats",
    entities=[driver],
    ttl=timedelta(hours=3, microseconds=5),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="v", dtype=Float64),
        Field(name="n", dtype=Int32),
        Field(name="f", dtype=Float32),
        Field(name="ok", dtype=Bool),
        Field(name="at", dtype=UnixTimestamp),
    ],
    source=FileSource(
        name="stats_source",
        path="data/stats.parquet",
        timestamp_field="ts",
        created_timestamp_column="created",
        field_mapping={"raw_v": "v"},
    ),
)
pairs = FeatureView(
    name="pairs",
    entities=[driver, zone],
    schema=[Field(name="driver_id", dtype=Int64), Field(name="zone", dtype=String), Field(name="s", dtype=String)],
    source=FileSource(name="pairs_source", path="data/pairs", timestamp_field="ts"),
)
offline_only = FeatureView(
    name="offline_only",
    entities=[driver],
    online=False,
    schema=[Field(name="driver_id", dtype=Int64), Field(name="r", dtype=Float64)],
    source=FileSource(name="r_source", path="data/stats.parquet", timestamp_field="ts", field_mapping={"raw_v": "r"}),
)
"""


REDIS = f'{{type: redis, connection_string: "{REDIS_HOST}:{REDIS_PORT},db={DB}"}}'


def _yaml(online: str = REDIS, version: int = 3, extra: str = "") -> str:
    return (
        f"project: {PROJECT}\nprovider: local\nregistry: data/registry.db\nonline_store: {online}\n"
        "offline_store: {type: modelyard.features.offline.asof.AsofDuckDBOfflineStore}\n"
        f"entity_key_serialization_version: {version}\n{extra}"
    )


def _repo(path: Path) -> Path:
    from modelyard.yard import Yard

    (path / "data" / "pairs").mkdir(parents=True)
    (path / "features.py").write_text(DEFINITIONS)
    (path / "feature_store.yaml").write_text(_yaml())
    (path / "modelyard.yaml").write_text(f"project: {PROJECT}\nmodels: {{}}\n")
    rng = np.random.default_rng(5)
    n = 500
    ts = pd.to_datetime(T0) + pd.to_timedelta(
        rng.integers(0, 6 * 3600, n) * 10**9 + rng.integers(0, 10**9, n)
    )
    pd.DataFrame(
        {
            "driver_id": rng.integers(0, 40, n),
            "ts": ts,
            "created": ts + pd.to_timedelta(rng.integers(0, 3, n), unit="s"),
            "raw_v": rng.normal(size=n),
            "n": pd.array(rng.integers(-5, 5, n), dtype="Int32"),
            "f": rng.normal(size=n).astype("float32"),
            "ok": rng.random(n) < 0.5,
            "at": ts.floor("s"),
        }
    ).to_parquet(path / "data" / "stats.parquet")
    for part in range(2):
        pd.DataFrame(
            {
                "driver_id": rng.integers(0, 40, 100),
                "zone": rng.choice(["n", "s", "ö"], 100),
                "ts": pd.to_datetime(T0) + pd.to_timedelta(rng.integers(0, 6 * 3600, 100), unit="s"),
                "s": rng.choice(["a", "b", None], 100),
            }
        ).to_parquet(path / "data" / "pairs" / f"part-{part}.parquet")
    Yard.load(path).features.apply()
    return path


def _store(repo: Path):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo))


def _flush() -> None:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=DB)
    client.flushdb()
    client.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    need_redis()
    _flush()
    yield _repo(tmp_path / "repo")
    _flush()


def test_the_views_read_from_the_registry_file_equal_feasts(repo: Path) -> None:
    from modelyard.yard import Yard

    fast = file_registry_repo(repo, repo / "feature_store.yaml")
    assert fast is not None and fast.project == PROJECT
    store = _store(repo)
    assert fast.views() == [
        from_feast(v, store.config.repo_path) for v in store.list_feature_views() if v.online
    ]

    # and after a run, each view's last end (Feast's most_recent_end_time)
    Yard.load(repo).features.materialize(END, progress=False)
    store = _store(repo)
    views = fast.views()
    assert views == [from_feast(v, store.config.repo_path) for v in store.list_feature_views() if v.online]
    assert views is not None and {v.last_end for v in views} == {END}


def _comparable(path: Path):
    """The registry as Feast parses it, without the times and ids that differ run to run."""
    from feast.protos.feast.core.Registry_pb2 import Registry

    registry = Registry.FromString(path.read_bytes())
    registry.ClearField("last_updated")
    registry.ClearField("version_id")
    for view in registry.feature_views:
        view.meta.ClearField("last_updated_timestamp")
    return registry


def test_the_recorded_interval_leaves_the_registry_as_feasts_apply_materialization(repo: Path) -> None:
    theirs = repo.parent / "theirs"
    shutil.copytree(repo, theirs)
    fast = file_registry_repo(repo, repo / "feature_store.yaml")
    assert fast is not None
    store = _store(theirs)
    windows = [(T0, T0 + timedelta(hours=2)), (T0 + timedelta(hours=2), END - timedelta(microseconds=7))]
    for begin, end in windows:
        for name in ("pairs", "stats"):
            before = datetime.now(timezone.utc)
            assert fast.record(name, begin, end)
            store.registry.apply_materialization(store.get_feature_view(name), PROJECT, begin, end)
            assert _comparable(repo / "data" / "registry.db") == _comparable(theirs / "data" / "registry.db")
            view = _store(repo).get_feature_view(name)
            assert view.materialization_intervals[-1] == (begin, end)
            assert view.last_updated_timestamp.replace(tzinfo=timezone.utc) >= before.replace(microsecond=0)
    assert not fast.record("no_such_view", T0, END)


def test_a_record_that_fails_to_land_leaves_the_registry_as_it_was(repo: Path, monkeypatch) -> None:
    import os

    fast = file_registry_repo(repo, repo / "feature_store.yaml")
    assert fast is not None
    path = repo / "data" / "registry.db"
    before = path.read_bytes()

    def interrupted(src, dst):  # the run stops between writing the new registry and putting it in place
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fast.record("stats", T0, END)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []  # no temp file left
    assert fast.record("stats", T0, END)
    assert _store(repo).get_feature_view("stats").materialization_intervals[-1] == (T0, END)


def test_a_fresh_process_materializes_without_feast_and_feast_reads_it(repo: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from datetime import datetime
        from modelyard.yard import Yard

        result = Yard.load({str(repo)!r}).features.materialize(
            datetime.fromisoformat({END.isoformat()!r}), progress=False
        )
        assert "feast" not in sys.modules, "the run imported Feast"
        print(sorted(result.rows_by_view.items()))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "('pairs'," in done.stdout and "('stats'," in done.stdout

    store = _store(repo)
    refs = [f"{v.name}:{f.name}" for v in store.list_feature_views() if v.online for f in v.features]
    entities = {"driver_id": list(range(40)) * 3, "zone": ["n"] * 40 + ["s"] * 40 + ["ö"] * 40}
    ours = store.get_online_features(features=refs, entity_rows=entities).proto.SerializeToString()
    assert store.get_feature_view("stats").materialization_intervals == [(END - TTL, END)]
    _flush()  # Feast's own run over the same windows (the first run's: end - ttl, or all of history)
    store.materialize(END - TTL, END, feature_views=["stats"])
    store.materialize(datetime(1970, 1, 1, tzinfo=timezone.utc), END, feature_views=["pairs"])
    assert store.get_online_features(features=refs, entity_rows=entities).proto.SerializeToString() == ours


def test_feast_materialize_incremental_continues_from_the_recorded_end(repo: Path) -> None:
    from modelyard.yard import Yard

    Yard.load(repo).features.materialize(END - timedelta(hours=1), progress=False)
    feast = Path(sys.executable).parent / "feast"
    done = subprocess.run(
        [str(feast), "-c", str(repo), "materialize-incremental", END.isoformat()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for view in _store(repo).list_feature_views():
        if view.online:
            assert view.materialization_intervals[-1] == (END - timedelta(hours=1), END)
            assert view.most_recent_end_time == END


@pytest.mark.parametrize(
    "text",
    [
        _yaml(online="{type: sqlite, path: data/online.db}"),
        _yaml(online=REDIS.replace("}", ", redis_type: redis_cluster}")),
        _yaml(online=REDIS.replace("}", ", key_ttl_seconds: 60}")),
        _yaml(version=2),
        _yaml(extra="feature_server: {enabled: true}\n"),
        _yaml().replace("modelyard.features.offline.asof.AsofDuckDBOfflineStore", "dask"),
    ],
)
def test_feast_runs_it_when_the_config_asks_for_more(tmp_path: Path, text: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "registry.db").write_bytes(b"")
    (tmp_path / "feature_store.yaml").write_text(text)
    assert file_registry_repo(tmp_path, tmp_path / "feature_store.yaml") is None
    (tmp_path / "feature_store.yaml").write_text(_yaml())
    assert file_registry_repo(tmp_path, tmp_path / "feature_store.yaml") is not None


@pytest.mark.parametrize(
    "text",
    ["localhost:6379", "redis:6380,db=3", "a:1,b:2,password=p=q,ssl=true", "h:1,db=x,username=u", "h,db=1"],
)
def test_connection_strings_read_as_feast_reads_them(text: str) -> None:
    from feast.infra.online_stores.redis import RedisOnlineStore

    assert feast_params(text) == RedisOnlineStore._parse_connection_string(text)
