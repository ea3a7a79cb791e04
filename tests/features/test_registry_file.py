"""Feast's registry file read without Feast equals Feast's own view of the repo; Feast answers where it must."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard.features.offline.registry_file import RegistryFile
from modelyard.features.schema import service_fields

DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Float64, Int32, Int64, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
zone = Entity(name="zone", join_keys=["zone"], value_type=ValueType.STRING)

stats = FeatureView(
    name="stats",
    entities=[driver],
    ttl=timedelta(hours=1, microseconds=5),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="v", dtype=Float64),
        Field(name="n", dtype=Int32),
        Field(name="f", dtype=Float32),
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
ratings = FeatureView(
    name="ratings",
    entities=[driver],
    ttl=timedelta(minutes=30),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="r", dtype=Float64)],
    source=FileSource(name="ratings_source", path="data/stats.parquet", timestamp_field="ts", field_mapping={"raw_v": "r"}),
)

svc = FeatureService(
    name="svc",
    features=[
        stats[["v", "n", "f", "at"]],
        pairs,
        ratings.with_name("other").with_join_key_map({"driver_id": "other_driver"}),
    ],
)
"""

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _write_repo(
    path: Path, *, offline: str = "modelyard.features.offline.asof.AsofDuckDBOfflineStore"
) -> Path:
    (path / "data" / "pairs").mkdir(parents=True)
    (path / "features.py").write_text(DEFINITIONS)
    (path / "feature_store.yaml").write_text(
        textwrap.dedent(
            f"""
            project: regfile
            provider: local
            registry: data/registry.db
            online_store: {{type: sqlite, path: data/online.db}}
            offline_store: {{type: {offline}}}
            entity_key_serialization_version: 3
            """
        )
    )
    rng = np.random.default_rng(3)
    n = 400
    ts = pd.to_datetime(T0) + pd.to_timedelta(
        rng.integers(0, 6 * 3600, n) * 10**9 + rng.integers(0, 10**9, n)
    )
    pd.DataFrame(
        {
            "driver_id": rng.integers(0, 20, n),
            "ts": ts,
            "created": ts + pd.to_timedelta(rng.integers(0, 3, n), unit="s"),
            "raw_v": rng.normal(size=n),
            "n": pd.array(rng.integers(-5, 5, n), dtype="Int32"),
            "f": rng.normal(size=n).astype("float32"),
            "at": ts.floor("s"),
        }
    ).to_parquet(path / "data" / "stats.parquet")
    for part in range(2):
        pd.DataFrame(
            {
                "driver_id": rng.integers(0, 20, 100),
                "zone": rng.choice(["n", "s", None], 100),
                "ts": pd.to_datetime(T0) + pd.to_timedelta(rng.integers(0, 6 * 3600, 100), unit="s"),
                "s": rng.choice(["a", "b"], 100),
            }
        ).to_parquet(path / "data" / "pairs" / f"part-{part}.parquet")
    return path


def _apply(path: Path):
    from feast import FeatureStore
    from feast.repo_operations import apply_total_with_repo_instance

    from modelyard.features.definitions import parse_definitions

    store = FeatureStore(repo_path=str(path))
    apply_total_with_repo_instance(
        store, store.project, store.registry, parse_definitions(path), skip_source_validation=True
    )
    return FeatureStore(repo_path=str(path))


def _feast_view(store, service_name: str):
    """What Feast gives the offline store for a service: its views with the service's projections."""
    from modelyard.features.offline.asof import view_reads

    service = store.get_feature_service(service_name)
    views = [store.get_feature_view(p.name).with_projection(p) for p in service.feature_view_projections]
    refs = [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]
    return service, view_reads(store.config, views, refs)


def test_the_plan_equals_feasts_view_of_the_repo(tmp_path: Path) -> None:
    repo = _write_repo(tmp_path)
    store = _apply(repo)
    plan = RegistryFile.of_repo(repo, repo / "feature_store.yaml").service_plan("svc")
    service, reads = _feast_view(store, "svc")
    assert plan is not None
    assert plan.fields == service_fields(service)
    assert list(plan.views) == reads
    assert reads[0].field_mapping == (("raw_v", "v"),) and reads[2].join_keys == (
        ("driver_id", "other_driver"),
    )

    rng = np.random.default_rng(5)
    entities = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 22, 300),
            "other_driver": rng.integers(0, 22, 300),
            "zone": rng.choice(["n", "s", "w"], 300),
            "event_timestamp": pd.to_datetime(T0)
            + pd.to_timedelta(rng.integers(-600, 7 * 3600, 300) * 10**9 + rng.integers(0, 10**9, 300)),
        }
    )
    entities["__modelyard_row"] = range(len(entities))
    from modelyard.features.offline.pit import join

    ours = join(plan.views, entities, "event_timestamp")
    feasts = store.get_historical_features(entity_df=entities, features=service).to_df()
    feasts = feasts.sort_values("__modelyard_row").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours[list(feasts.columns)], feasts, check_exact=True)
    assert ours["v"].notna().any() and ours["s"].notna().any() and ours["r"].notna().any()


def test_the_example_services_equal_feasts(example_repo) -> None:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(example_repo))
    registry = RegistryFile.of_repo(example_repo, example_repo / "feature_store.yaml")
    planned = 0
    for service in store.list_feature_services():
        plan = registry.service_plan(service.name)
        on_demand = {v.name for v in store.list_on_demand_feature_views()}
        if any(p.name in on_demand for p in service.feature_view_projections):
            assert plan is None, f"{service.name} reads an on-demand view: Feast must answer"
            continue
        _, reads = _feast_view(store, service.name)
        assert plan is not None and list(plan.views) == reads and plan.fields == service_fields(service)
        planned += 1
    assert planned >= 2
    assert registry.service_plan("no_such_service") is None


@pytest.mark.parametrize(
    "yaml_change",
    [
        ("offline_store: {type: file}", "another offline store"),
        ("registry: data/registry.db", "registry: {registry_type: sql, path: 'sqlite:///x.db'}"),
        ("registry: data/registry.db", "registry: ${REGISTRY_PATH}"),
        ("registry: data/registry.db", "registry: s3://bucket/registry.db"),
    ],
)
def test_feast_answers_what_the_plan_cannot(tmp_path: Path, yaml_change: tuple[str, str]) -> None:
    repo = _write_repo(tmp_path)
    _apply(repo)
    config = repo / "feature_store.yaml"
    text = config.read_text()
    old, new = yaml_change
    if old.startswith("offline_store"):
        text = text.replace(
            "offline_store: {type: modelyard.features.offline.asof.AsofDuckDBOfflineStore}", old
        )
    else:
        text = text.replace(old, new)
    config.write_text(text)
    assert RegistryFile.of_repo(repo, config) is None


def test_a_new_apply_is_seen_without_restarting(tmp_path: Path) -> None:
    repo = _write_repo(tmp_path)
    _apply(repo)
    registry = RegistryFile.of_repo(repo, repo / "feature_store.yaml")
    assert registry is not None and registry.service_plan("svc") is not None
    (repo / "features.py").write_text(DEFINITIONS.replace('name="svc"', 'name="svc2"'))
    _apply(repo)
    assert registry.service_plan("svc2") is not None


def test_scoring_from_a_fresh_process_never_imports_feast(example_repo, tmp_path: Path) -> None:
    """The cold path of ``modelyard score``: the registry file and Parquet sources, no ``import feast``."""
    from modelyard.yard import Yard

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "batch"))
    from batch_helpers import entities, train_and_register

    train_and_register(Yard.load(example_repo), n=300)
    entities(example_repo, 500).drop(columns=["accepted"]).to_parquet(tmp_path / "in.parquet")
    code = textwrap.dedent(
        f"""
        import sys
        from modelyard.cli.main import main
        try:
            main.main(["--repo", {str(example_repo)!r}, "score", "trip_acceptance", "--entities",
                      {str(tmp_path / "in.parquet")!r}, "--out", {str(tmp_path / "out.parquet")!r},
                      "--no-progress"], standalone_mode=False)
        finally:
            print("FEAST" if any(m == "feast" or m.startswith("feast.") for m in sys.modules) else "NO-FEAST")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "NO-FEAST"
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 500


def test_a_file_source_that_is_not_parquet_is_left_to_feast(tmp_path: Path) -> None:
    repo = _write_repo(tmp_path)
    delta = DEFINITIONS.replace(
        'source=FileSource(name="pairs_source", path="data/pairs", timestamp_field="ts")',
        'source=FileSource(name="pairs_source", path="data/pairs", timestamp_field="ts", file_format=DeltaFormat())',
    ).replace("from feast import", "from feast.data_format import DeltaFormat\nfrom feast import")
    assert delta != DEFINITIONS
    (repo / "features.py").write_text(delta)
    _apply(repo)
    registry = RegistryFile.of_repo(repo, repo / "feature_store.yaml")
    assert registry is not None
    assert registry.service_plan("svc") is None  # read as Parquet it would be wrong
