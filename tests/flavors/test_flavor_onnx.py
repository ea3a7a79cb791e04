"""The onnx flavor: converted sklearn pipelines and given graphs, served by onnxruntime alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.artifacts.flavor import missing_as_nan, read_metadata
from modelyard.errors import BadRequest, FlavorError
from modelyard_plugins.flavors.onnx import OnnxFlavor


def test_converted_classifier_matches_sklearn(tmp_path: Path, classifier: Any, frame: pd.DataFrame) -> None:
    OnnxFlavor().save(classifier, tmp_path)
    meta = read_metadata(tmp_path, flavor="onnx")
    assert {i["name"]: i["type"] for i in meta["inputs"]} == {
        "distance_km": "tensor(float)",
        "hour": "tensor(float)",
        "city": "tensor(string)",
    }
    predictor = OnnxFlavor().load(tmp_path)
    x = missing_as_nan(frame)
    expected = classifier.predict_proba(x)[:, 1]
    proba = predictor.predict_proba(frame)
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    decided = np.abs(expected - 0.5) > 1e-4  # labels can only differ where float32 sits on the boundary
    np.testing.assert_array_equal(predictor.predict(frame)[decided], classifier.predict(x)[decided])


def test_predict_with_proba_is_one_run_equal_to_the_two_calls(
    tmp_path: Path, classifier: Any, regressor: Any, frame: pd.DataFrame
) -> None:
    from modelyard.artifacts.flavor import predict_with_proba

    for name, model in (("classifier", classifier), ("regressor", regressor)):
        OnnxFlavor().save(model, tmp_path / name)
        predictor = OnnxFlavor().load(tmp_path / name)
        runs: list[list[str]] = []
        run = predictor.session.run
        predictor.session.run = lambda outputs, feeds, _run=run, _runs=runs: (
            _runs.append(outputs) or _run(outputs, feeds)
        )
        labels, proba = predict_with_proba(predictor, frame)
        assert len(runs) == 1
        np.testing.assert_array_equal(labels, predictor.predict(frame))
        expected = predictor.predict_proba(frame)
        if expected is None:
            assert proba is None and name == "regressor"
        else:
            np.testing.assert_array_equal(proba, expected)


def test_converted_regressor_matches_sklearn(tmp_path: Path, regressor: Any, frame: pd.DataFrame) -> None:
    OnnxFlavor().save(regressor, tmp_path)
    predictor = OnnxFlavor().load(tmp_path)
    np.testing.assert_allclose(
        predictor.predict(frame), regressor.predict(missing_as_nan(frame)), rtol=1e-5, atol=1e-4
    )
    assert predictor.predict_proba(frame) is None
    with pytest.raises(BadRequest, match="hour"):
        predictor.predict(frame.drop(columns=["hour"]))


def test_loading_needs_no_sklearn(tmp_path: Path, classifier: Any, frame: pd.DataFrame) -> None:
    OnnxFlavor().save(classifier, tmp_path / "art")
    frame.to_parquet(tmp_path / "frame.parquet")
    expected = classifier.predict_proba(missing_as_nan(frame))[:, 1]
    np.save(tmp_path / "expected.npy", expected)
    script = textwrap.dedent(
        f"""
        import sys
        for name in ("sklearn", "skl2onnx", "skops", "scipy"):
            sys.modules[name] = None  # any import of them now raises ImportError
        import numpy as np, pandas as pd
        from modelyard_plugins.flavors.onnx import OnnxFlavor
        predictor = OnnxFlavor().load({str(tmp_path / "art")!r})
        proba = predictor.predict_proba(pd.read_parquet({str(tmp_path / "frame.parquet")!r}))
        np.testing.assert_allclose(proba, np.load({str(tmp_path / "expected.npy")!r}), atol=1e-5)
        assert not any(m.startswith("sklearn") for m in sys.modules if sys.modules[m] is not None)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_given_graph_with_one_matrix_input(tmp_path: Path, frame: pd.DataFrame) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    x = frame[["distance_km", "hour"]].fillna(0.0).astype(np.float32)
    model = LinearRegression().fit(x.to_numpy(), x["distance_km"] * 2 + x["hour"])
    graph = to_onnx(model, x.to_numpy()[:1])
    (tmp_path / "given.onnx").write_bytes(graph.SerializeToString())
    flavor = OnnxFlavor()
    assert flavor.can_save(tmp_path / "given.onnx") and flavor.can_save(graph.SerializeToString())
    flavor.save(tmp_path / "given.onnx", tmp_path / "art", feature_names=["distance_km", "hour"])
    meta = read_metadata(tmp_path / "art")
    assert meta["mode"] == "matrix" and meta["source"] == "given.onnx"
    predictor = flavor.load(tmp_path / "art")
    got = predictor.predict(frame.fillna({"distance_km": 0.0})[["hour", "city", "distance_km"]])
    np.testing.assert_allclose(got, model.predict(x.to_numpy()), rtol=1e-5)
    flavor.save(graph, tmp_path / "proto", feature_names=["distance_km", "hour"])
    assert (tmp_path / "proto" / "model.onnx").read_bytes() == (tmp_path / "art" / "model.onnx").read_bytes()


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    flavor = OnnxFlavor()
    assert not flavor.can_save(object())
    with pytest.raises(FlavorError, match="onnxruntime cannot load"):
        flavor.save(b"not an onnx graph", tmp_path)
    with pytest.raises(FlavorError, match="not dict"):
        flavor.save({}, tmp_path)


def _native_threads() -> int:
    return len(list(Path("/proc/self/task").iterdir()))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc")
def test_model_threads_size_onnxruntimes_pool(tmp_path: Path, classifier: Any, frame: pd.DataFrame) -> None:
    import os

    from modelyard.artifacts.flavor import model_threads, set_model_threads

    OnnxFlavor().save(classifier, tmp_path)
    expected = OnnxFlavor().load(tmp_path).predict_proba(frame)
    previous = model_threads()  # process-wide: whatever an earlier test set, put back afterwards
    try:
        set_model_threads(1)
        before = _native_threads()
        one = OnnxFlavor().load(tmp_path)
        assert _native_threads() == before  # no pool: the calling thread runs the graph
        np.testing.assert_array_equal(one.predict_proba(frame), expected)
        set_model_threads(0)
        before = _native_threads()
        default = OnnxFlavor().load(tmp_path)
        assert default.session.get_session_options().intra_op_num_threads == 0
        if (os.cpu_count() or 1) >= 2:  # onnxruntime's default: a pool thread per further core
            assert _native_threads() > before
        np.testing.assert_array_equal(default.predict_proba(frame), expected)
        with pytest.raises(ValueError, match=r"0 .* or more"):
            set_model_threads(-1)
        assert model_threads() == 0  # a refused value changes nothing
    finally:
        set_model_threads(previous)


def test_predict_columns_is_the_flavor_contracts_columnar_predict(
    tmp_path: Path, classifier: Any, frame: pd.DataFrame
) -> None:
    """The onnx predictor's optional predict_columns answers what predict / predict_proba of the frame do."""
    import warnings

    from modelyard.artifacts.flavor import columnar_predictor
    from modelyard_plugins.flavors.sklearn import SklearnFlavor

    OnnxFlavor().save(classifier, tmp_path / "onnx")
    predictor = OnnxFlavor().load(tmp_path / "onnx")
    fast = columnar_predictor(predictor)
    assert fast is not None and fast == predictor.predict_columns
    columns = {name: frame[name].astype(object).where(frame[name].notna(), None).tolist() for name in frame}
    for rows in (list(range(len(frame))), [2, 0], [1]):
        labels, proba = fast(columns, rows)
        subset = frame.iloc[rows].reset_index(drop=True)
        assert labels == predictor.predict(subset).tolist()
        assert proba == predictor.predict_proba(subset).tolist()
    # a predictor without it: serving builds a frame (the protocol's predict)
    SklearnFlavor().save(classifier, tmp_path / "sk")
    assert columnar_predictor(SklearnFlavor().load(tmp_path / "sk")) is None
    # the old module of the fast path still imports, with a DeprecationWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from modelyard.serving import fastpath

        assert fastpath.columnar_predictor(predictor) == fast
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
