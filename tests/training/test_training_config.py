"""Training configured differently: another flavor, and the errors a user can make."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import edit_models

from modelyard.errors import ModelNotFound, TrainingError
from modelyard.registry.training import train_model
from modelyard.yard import Yard


def test_onnx_flavor_trains_and_evaluates_the_converted_graph(example_repo: Path, trained_repo) -> None:
    edit_models(example_repo, trip_acceptance={"flavor": "onnx"})
    yard = Yard.load(example_repo)
    result = train_model(yard, "trip_acceptance")
    assert result.version.flavor == "onnx"
    reference = trained_repo.results["trip_acceptance"].metrics  # same data, same split, sklearn flavor
    assert result.snapshot.id == trained_repo.results["trip_acceptance"].snapshot.id
    assert result.metrics["roc_auc"] == pytest.approx(reference["roc_auc"], abs=1e-4)
    assert result.metrics["log_loss"] == pytest.approx(reference["log_loss"], abs=1e-4)
    predictor = yard.registry.load_predictor(result.version)
    assert type(predictor).__name__ == "OnnxPredictor"


def test_configuration_errors_name_the_problem_and_register_nothing(example_repo: Path) -> None:
    (example_repo / "bad_train.py").write_text(
        "def returns_nothing(frame):\n    return None\n\ndef no_params(frame):\n    raise AssertionError\n"
    )
    good = Yard.load(example_repo).model("trip_acceptance").training.model_dump()
    cases = {
        "nowhere_module:train": "cannot import 'nowhere_module'",
        "bad_train:missing": "has no function 'missing'",
        "bad_train:returns_nothing": "returned None",
        "bad_train:no_params": "takes no 'params' argument",
    }
    for function, message in cases.items():
        training = dict(good, function=function)
        if function == "bad_train:returns_nothing":
            training["params"] = {}
        edit_models(example_repo, trip_acceptance={"training": training})
        with pytest.raises(TrainingError, match=message):
            train_model(Yard.load(example_repo), "trip_acceptance")

    edit_models(example_repo, trip_acceptance={"training": dict(good, entities="data/missing.parquet")})
    with pytest.raises(TrainingError, match=r"missing.parquet does not exist"):
        train_model(Yard.load(example_repo), "trip_acceptance")
    edit_models(example_repo, trip_acceptance={"training": None})
    with pytest.raises(TrainingError, match="has no training section"):
        train_model(Yard.load(example_repo), "trip_acceptance")
    with pytest.raises(ModelNotFound):
        Yard.load(example_repo).registry.list_versions("trip_acceptance")
