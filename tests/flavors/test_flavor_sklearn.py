"""The sklearn flavor: skops files loaded only with the trusted-type list recorded at save time."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.artifacts.flavor import (
    METADATA_FILE,
    Predictor,
    load_predictor,
    missing_as_nan,
    predict_with_proba,
    read_metadata,
)
from modelyard.errors import BadRequest, FlavorError
from modelyard_plugins.flavors.sklearn import SklearnFlavor


def test_round_trip_predicts_like_the_original(
    tmp_path: Path, classifier: Any, frame: pd.DataFrame, host
) -> None:
    SklearnFlavor().save(classifier, tmp_path)
    predictor = load_predictor(host, tmp_path)
    assert isinstance(predictor, Predictor)
    assert predictor.feature_names == ["distance_km", "hour", "city"]
    x = missing_as_nan(frame)
    np.testing.assert_array_equal(predictor.predict(frame), classifier.predict(x))
    proba = predictor.predict_proba(frame)
    assert proba is not None and proba.ndim == 1
    np.testing.assert_allclose(proba, classifier.predict_proba(x)[:, 1])


def test_columns_are_taken_in_saved_order(tmp_path: Path, classifier: Any, frame: pd.DataFrame) -> None:
    SklearnFlavor().save(classifier, tmp_path)
    predictor = SklearnFlavor().load(tmp_path)
    shuffled = frame[["city", "hour", "distance_km"]].assign(driver_id=np.arange(len(frame)))
    np.testing.assert_array_equal(predictor.predict(shuffled), predictor.predict(frame))
    with pytest.raises(BadRequest, match="city"):
        predictor.predict(frame.drop(columns=["city"]))


def test_none_and_nan_mean_the_same_missing_value(
    tmp_path: Path, classifier: Any, frame: pd.DataFrame
) -> None:
    SklearnFlavor().save(classifier, tmp_path)
    predictor = SklearnFlavor().load(tmp_path)
    as_none = frame.astype({"city": object}).where(frame.notna(), None)
    as_string = frame.astype({"city": "string"})
    expected = predictor.predict_proba(frame)
    np.testing.assert_allclose(predictor.predict_proba(as_none), expected)
    np.testing.assert_allclose(predictor.predict_proba(as_string), expected)


def test_regressor_has_no_probability(tmp_path: Path, regressor: Any, frame: pd.DataFrame) -> None:
    SklearnFlavor().save(regressor, tmp_path)
    predictor = SklearnFlavor().load(tmp_path)
    np.testing.assert_allclose(predictor.predict(frame), regressor.predict(missing_as_nan(frame)))
    assert predictor.predict_proba(frame) is None
    assert read_metadata(tmp_path)["task"] == "regression"


def test_predict_with_proba_equals_predict_and_predict_proba_exactly(
    tmp_path: Path, classifier: Any, regressor: Any, frame: pd.DataFrame
) -> None:
    """One pass through the pipeline's transformers, the same values as the two separate calls."""
    from sklearn.linear_model import LogisticRegression

    plain = LogisticRegression().fit(
        missing_as_nan(frame)[["distance_km", "hour"]].fillna(0), frame["hour"] > 11
    )
    for name, model, rows in (
        ("pipeline", classifier, frame),
        ("regressor", regressor, frame),
        ("plain", plain, frame[["distance_km", "hour"]].fillna(0)),
    ):
        SklearnFlavor().save(model, tmp_path / name)
        predictor = SklearnFlavor().load(tmp_path / name)
        labels, proba = predict_with_proba(predictor, rows)
        np.testing.assert_array_equal(labels, predictor.predict(rows))
        expected = predictor.predict_proba(rows)
        if expected is None:
            assert proba is None and name == "regressor"
        else:
            assert proba is not None
            np.testing.assert_array_equal(proba, expected)


def test_trusted_types_are_recorded_and_loading_never_unpickles(
    tmp_path: Path, regressor: Any, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skops.io as sio

    SklearnFlavor().save(regressor, tmp_path)
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    assert meta["trusted_types"] == sorted(sio.get_untrusted_types(file=tmp_path / "model.skops"))
    assert "sklearn.tree._tree.Tree" in meta["trusted_types"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle must not be used to load an sklearn artifact")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert len(SklearnFlavor().load(tmp_path).predict(frame)) == len(frame)


def test_a_file_needing_unrecorded_types_is_refused(tmp_path: Path, classifier: Any, regressor: Any) -> None:
    SklearnFlavor().save(classifier, tmp_path / "clf")
    SklearnFlavor().save(regressor, tmp_path / "reg")
    # the classifier's metadata does not trust the tree type the regressor's file needs
    (tmp_path / "clf" / "model.skops").write_bytes((tmp_path / "reg" / "model.skops").read_bytes())
    with pytest.raises(FlavorError, match=r"sklearn\.tree\._tree\.Tree"):
        SklearnFlavor().load(tmp_path / "clf")


def test_metadata_trusting_a_foreign_module_is_refused(tmp_path: Path, classifier: Any) -> None:
    SklearnFlavor().save(classifier, tmp_path)
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    meta["trusted_types"].append("os.system")
    (tmp_path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(FlavorError, match=r"os.system"):
        SklearnFlavor().load(tmp_path)


def test_saving_user_code_inside_an_estimator_is_refused(tmp_path: Path, frame: pd.DataFrame) -> None:
    from flavor_user_model import SurgeRule
    from sklearn.preprocessing import FunctionTransformer

    est = FunctionTransformer(SurgeRule.get_params).fit(frame[["hour"]])
    with pytest.raises(FlavorError, match="flavor_user_model"):
        SklearnFlavor().save(est, tmp_path)
    assert not (tmp_path / "model.skops").exists()


def test_unfitted_and_foreign_objects_are_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    flavor = SklearnFlavor()
    assert flavor.can_save(LogisticRegression()) and not flavor.can_save(LogisticRegression)
    assert not flavor.can_save(object())
    with pytest.raises(FlavorError, match="unfitted"):
        flavor.save(LogisticRegression(), tmp_path)
    with pytest.raises(FlavorError, match="scikit-learn estimators"):
        flavor.save(object(), tmp_path)
    with pytest.raises(FlavorError, match=r"no modelyard-artifact.json"):
        flavor.load(tmp_path)
