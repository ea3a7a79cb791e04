"""Blast radius from a real Feast registry (a fresh copy of the example repo, applied)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from modelyard.config.loader import load_config
from modelyard.monitoring.alerts import Alert
from modelyard.monitoring.blast_radius import annotate, blast_radius
from modelyard.monitoring.results import DetectorResult
from modelyard.plugins.testing import make_host
from modelyard.yard import Yard

EXAMPLE = Path(__file__).resolve().parents[2] / "feature_repo"


@pytest.fixture(scope="module")
def applied_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from feast import FeatureStore
    from feast.base_feature_view import BaseFeatureView
    from feast.entity import Entity
    from feast.feature_service import FeatureService

    repo = tmp_path_factory.mktemp("blast") / "repo"
    repo.mkdir()
    for name in ("feature_store.yaml", "features.py", "modelyard.yaml"):
        shutil.copy(EXAMPLE / name, repo / name)
    (repo / "data").mkdir()
    spec = importlib.util.spec_from_file_location("blast_radius_features", repo / "features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    objects = [v for v in vars(module).values() if isinstance(v, (Entity, BaseFeatureView, FeatureService))]
    FeatureStore(repo_path=str(repo)).apply(objects)
    return repo


def test_drifted_feature_names_its_view_source_and_every_consumer(applied_repo: Path) -> None:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(applied_repo))
    models = load_config(applied_repo / "modelyard.yaml").models
    radius = blast_radius(store, models, "trip_acceptance", ["rating"])
    assert radius.feature_views == ["driver_stats"]
    assert radius.data_sources == ["driver_stats_source"]
    assert radius.affected_models == ["trip_acceptance", "tip_amount"]
    # a feature only trip_acceptance reads
    only = blast_radius(store, models, "trip_acceptance", ["cancel_rate", "acc_rate"])
    assert only.feature_views == ["customer_activity", "driver_stats"]
    assert only.data_sources == ["customer_activity_source", "driver_stats_source"]
    assert only.affected_models == ["trip_acceptance"]
    # deployed variants are named
    deployed = blast_radius(
        store,
        models,
        "tip_amount",
        ["payment_method"],
        deployments={"tip_amount": {"variants": [{"name": "stable"}, {"name": "canary"}]}},
    )
    assert deployed.feature_views == ["customer_profile"]
    assert deployed.affected_models == ["tip_amount/stable", "tip_amount/canary"]
    assert blast_radius(store, models, "tip_amount", []).affected_models == []


def test_annotate_fills_in_the_alert(applied_repo: Path) -> None:
    yard = Yard(applied_repo, load_config(applied_repo / "modelyard.yaml"), make_host())
    result = DetectorResult("drift", "vehicle_type", "jensen_shannon", 0.2, 1e-9, 0.025, True, 100, 100)
    quiet = DetectorResult("drift", "rating", "wasserstein_norm", 0.01, 0.5, 0.05, False, 100, 100)
    alert = Alert(
        model="tip_amount",
        version=1,
        variant=None,
        monitor="drift",
        severity="warning",
        summary="vehicle_type drifted",
        results=[result, quiet],
    )
    annotate(alert, yard)
    assert alert.feature_views == ["driver_stats"]
    assert alert.data_sources == ["driver_stats_source"]
    assert alert.affected_models == ["trip_acceptance", "tip_amount"]
