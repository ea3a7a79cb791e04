"""`modelyard train`: the example repo's two models, trained through Feast, snapshotted and registered."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from modelyard.cli.main import main
from modelyard.registry.training import evaluate, split

CLASSIFICATION = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
REGRESSION = {"mae", "rmse", "r2"}


def test_both_example_models_are_trained_and_registered(trained_repo) -> None:
    yard = trained_repo.yard
    acceptance = trained_repo.results["trip_acceptance"]
    tips = trained_repo.results["tip_amount"]

    assert set(acceptance.metrics) >= CLASSIFICATION and "train_accuracy" in acceptance.metrics
    assert acceptance.metrics["roc_auc"] > 0.6  # the labels depend on what the features reflect
    assert 0 < acceptance.metrics["log_loss"] < math.log(2)
    assert set(tips.metrics) == REGRESSION
    assert tips.metrics["r2"] > 0.3 and tips.metrics["rmse"] >= tips.metrics["mae"] > 0

    for result in (acceptance, tips):
        stored = yard.registry.get_version(result.version.model, result.version.version)
        assert stored.metrics == pytest.approx(result.metrics)
        assert stored.snapshot_id == result.snapshot.id
        assert stored.flavor == "sklearn"
        assert stored.schema_fingerprint == yard.features.fingerprint(stored.model)
        assert stored.params["training_function"].startswith("train:")
        assert stored.params["train_rows"] + stored.params["test_rows"] == result.snapshot.rows

    entities = pd.read_parquet(trained_repo.repo / "data" / "trip_acceptance_entities.parquet")
    assert acceptance.snapshot.rows == len(entities)
    assert acceptance.version.params["C"] == 1.0
    assert tips.version.params["n_estimators"] == 100


def test_registered_metrics_are_those_of_the_registered_artifact(trained_repo) -> None:
    """Reload the snapshot and the version from storage, split the same way: same numbers."""
    yard = trained_repo.yard
    for model, result in trained_repo.results.items():
        config = yard.model(model)
        frame = yard.registry.load_snapshot_frame(result.snapshot.id)
        _, test = split(
            frame,
            label=config.label,
            task=config.task,
            test_size=config.training.test_size,
            random_state=config.training.random_state,
        )
        predictor = yard.registry.load_predictor(result.version)
        assert predictor.feature_names == yard.features.feature_names(model)
        again = evaluate(predictor, test, label=config.label, task=config.task)
        assert again == pytest.approx({k: v for k, v in result.metrics.items() if k in again})


def test_snapshot_is_the_point_in_time_frame_and_is_reused(trained_repo) -> None:
    yard = trained_repo.yard
    snap = trained_repo.results["trip_acceptance"].snapshot
    entities = pd.read_parquet(trained_repo.repo / "data" / "trip_acceptance_entities.parquet")
    frame = yard.features.training_frame("trip_acceptance", entities)
    pd.testing.assert_frame_equal(yard.registry.load_snapshot_frame(snap.id), frame, check_exact=True)
    assert snap.feature_refs == tuple(yard.features.feature_refs("trip_acceptance"))
    assert snap.start == entities["event_timestamp"].min().to_pydatetime()
    profile = yard.registry.reference_profile(snap.id)
    assert set(profile.features) == set(yard.features.feature_names("trip_acceptance"))
    assert profile.feature("vehicle_type").kind == "categorical"
    pd.testing.assert_frame_equal(yard.registry.load_snapshot_entities(snap.id), entities, check_exact=True)


def test_cli_trains_with_overridden_params(trained_repo) -> None:
    before = trained_repo.yard.registry.get_version("trip_acceptance").version
    result = CliRunner().invoke(
        main,
        ["--repo", str(trained_repo.repo), "train", "trip_acceptance", "--param", "C=0.05", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["version"] == before + 1
    assert data["params"]["C"] == 0.05
    assert (
        data["snapshot"] == trained_repo.results["trip_acceptance"].snapshot.id
    )  # same frame, same snapshot
    assert set(data["metrics"]) >= CLASSIFICATION
    # a different C gives a different model, hence different validation numbers
    assert data["metrics"]["log_loss"] != pytest.approx(
        trained_repo.results["trip_acceptance"].metrics["log_loss"]
    )

    table = CliRunner().invoke(main, ["--repo", str(trained_repo.repo), "train", "tip_amount"])
    assert table.exit_code == 0, table.output
    assert "tip_amount v2" in table.output and "rmse" in table.output

    bad = CliRunner().invoke(
        main, ["--repo", str(trained_repo.repo), "train", "trip_acceptance", "--param", "C"]
    )
    assert bad.exit_code != 0 and "KEY=VALUE" in bad.output
    unknown = CliRunner().invoke(main, ["--repo", str(trained_repo.repo), "train", "no_such_model"])
    assert unknown.exit_code == 1 and "Error: unknown model 'no_such_model'" in unknown.output


class ConstantPredictor:
    """A real (trivial) predictor: fixed outputs, to check metric arithmetic."""

    feature_names = None

    def __init__(self, labels: list, proba: list | None = None) -> None:
        self.labels, self.proba = (
            np.asarray(labels),
            None if proba is None else np.asarray(proba, dtype=float),
        )

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.labels

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        return self.proba


def test_metric_arithmetic() -> None:
    frame = pd.DataFrame({"y": [1, 2, 3]})
    got = evaluate(ConstantPredictor([1.0, 2.0, 5.0]), frame, label="y", task="regression")
    assert got == pytest.approx({"mae": 2 / 3, "rmse": math.sqrt(4 / 3), "r2": 1 - 4 / 2})

    frame = pd.DataFrame({"y": [0, 0, 1, 1]})
    got = evaluate(
        ConstantPredictor([0, 1, 1, 1], [0.1, 0.6, 0.8, 0.9]), frame, label="y", task="classification"
    )
    assert got["accuracy"] == 0.75 and got["precision"] == pytest.approx(2 / 3) and got["recall"] == 1.0
    assert got["f1"] == pytest.approx(0.8) and got["roc_auc"] == 1.0
    assert got["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.9])))
    without_proba = evaluate(ConstantPredictor([0, 1, 1, 1]), frame, label="y", task="classification")
    assert "roc_auc" not in without_proba and "log_loss" not in without_proba
