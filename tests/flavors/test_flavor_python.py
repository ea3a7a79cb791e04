"""The python flavor: a user class saved as its source file plus JSON constructor state."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flavor_user_model import Opaque, SurgeRule

from modelyard.artifacts.flavor import choose_flavor, load_predictor
from modelyard.errors import FlavorError
from modelyard_plugins.flavors.python import PythonFlavor


def test_round_trip_rebuilds_the_object_from_json_state(tmp_path: Path, frame: pd.DataFrame, host) -> None:
    model = SurgeRule(threshold_km=5.0, busy_hours=[7, 8, 17, 18], steepness=0.5)
    PythonFlavor().save(model, tmp_path)
    assert json.loads((tmp_path / "params.json").read_text()) == model.get_params()
    assert (tmp_path / "code" / "flavor_user_model.py").read_text() == Path(
        sys.modules["flavor_user_model"].__file__
    ).read_text()
    predictor = load_predictor(host, tmp_path)
    assert predictor.feature_names == ["distance_km", "hour"]
    shuffled = frame[["city", "hour", "distance_km"]]  # SurgeRule asserts it gets its own column order
    np.testing.assert_array_equal(predictor.predict(shuffled), model.predict(frame[model.feature_names]))
    np.testing.assert_allclose(
        predictor.predict_proba(frame), model.predict_proba(frame[model.feature_names])[:, 1]
    )


def test_loading_uses_the_saved_code_not_the_installed_module(tmp_path: Path, frame: pd.DataFrame) -> None:
    PythonFlavor().save(SurgeRule(threshold_km=5.0, busy_hours=[8]), tmp_path / "art")
    frame.to_parquet(tmp_path / "frame.parquet")
    script = textwrap.dedent(
        f"""
        import sys, pandas as pd
        sys.path = [p for p in sys.path if "tests" not in p]
        try:
            import flavor_user_model
            raise SystemExit("the test module should not be importable here")
        except ImportError:
            pass
        from modelyard_plugins.flavors.python import PythonFlavor
        p = PythonFlavor().load({str(tmp_path / "art")!r})
        print(int(p.predict(pd.read_parquet({str(tmp_path / "frame.parquet")!r})).sum()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    expected = SurgeRule(threshold_km=5.0, busy_hours=[8]).predict(frame[["distance_km", "hour"]]).sum()
    assert int(out.stdout.strip()) == expected


def test_state_that_is_not_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FlavorError, match=r"Opaque\.table"):
        PythonFlavor().save(Opaque(), tmp_path)


def test_broken_saved_code_and_params_give_clear_errors(tmp_path: Path) -> None:
    PythonFlavor().save(SurgeRule(threshold_km=1.0, busy_hours=[]), tmp_path)
    (tmp_path / "params.json").write_text(json.dumps({"threshold": 1.0}))
    with pytest.raises(FlavorError, match=r"SurgeRule\(\*\*params\) failed"):
        PythonFlavor().load(tmp_path)
    (tmp_path / "code" / "flavor_user_model.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(FlavorError, match="not_a_module_anywhere"):
        PythonFlavor().load(tmp_path)


def test_choose_flavor_prefers_sklearn_for_estimators_and_python_for_user_classes(host, classifier) -> None:
    assert choose_flavor(host, classifier).name == "sklearn"
    assert choose_flavor(host, SurgeRule(1.0, [])).name == "python"
    assert choose_flavor(host, classifier, preferred="onnx").name == "onnx"
    with pytest.raises(FlavorError, match="no installed flavor"):
        choose_flavor(host, object())
    with pytest.raises(FlavorError, match="'sklearn' flavor cannot save"):
        choose_flavor(host, SurgeRule(1.0, []), preferred="sklearn")
