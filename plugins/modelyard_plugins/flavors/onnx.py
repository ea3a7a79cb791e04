"""The ``onnx`` flavor: ONNX graphs run with onnxruntime, no training library needed to serve.

Saving accepts an ``.onnx`` file path, the serialized bytes, an ``onnx.ModelProto``, or a
fitted scikit-learn estimator, which is converted with skl2onnx. For a conversion every
feature becomes its own graph input, named after the column: text columns (those a
fitted ``SimpleImputer`` / ``OneHotEncoder`` / ``OrdinalEncoder`` saw as strings, or named
in ``string_features=``) as ``tensor(string)``, the rest as ``tensor(float)``.
scikit-learn imputes missing text as ``NaN``, which an ONNX string tensor cannot hold:
the converted copy imputes the empty string instead, and the predictor passes a missing
text value as ``""``, so both runtimes see the same thing.

Loading needs only onnxruntime, numpy and pandas (tested with scikit-learn made
unimportable). Numbers are fed as float32, so predictions match scikit-learn's to float32
precision, not bit for bit.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.artifacts.flavor import (
    Flavor,
    feature_names_of,
    positive_class_proba,
    read_metadata,
    select_columns,
    write_metadata,
)
from modelyard.errors import FlavorError
from modelyard_plugins.flavors.onnx_columns import _NUMPY_OF, columnar_predict

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TARGET_OPSET = 17
MATRIX_INPUT = "input"


def _is_sklearn(obj: Any) -> bool:
    return not isinstance(obj, type) and any(
        c.__module__.split(".")[0] == "sklearn" and c.__name__ == "BaseEstimator" for c in type(obj).__mro__
    )


def _is_model_proto(obj: Any) -> bool:
    return type(obj).__name__ == "ModelProto" and callable(getattr(obj, "SerializeToString", None))


def is_onnx_source(obj: Any) -> bool:
    """Whether the onnx flavor can save ``obj``: ONNX bytes, a ModelProto, an .onnx file or sklearn."""
    if isinstance(obj, bytes | bytearray) or _is_model_proto(obj):
        return True
    if isinstance(obj, str | Path):
        return str(obj).endswith(".onnx") and Path(obj).is_file()
    return _is_sklearn(obj)


# -- scikit-learn conversion ------------------------------------------------------------------


def _children(est: Any) -> list[tuple[Any, Any]]:
    """(child estimator, columns it receives or None) of a composite estimator."""
    if hasattr(est, "transformers_"):  # ColumnTransformer
        return [(t, cols) for _, t, cols in est.transformers_ if not isinstance(t, str)]
    if hasattr(est, "steps"):  # Pipeline
        return [(s, None) for _, s in est.steps if s not in (None, "passthrough")]
    if hasattr(est, "transformer_list"):  # FeatureUnion
        return [(t, None) for _, t in est.transformer_list if not isinstance(t, str)]
    return []


def _sees_strings(est: Any) -> bool:
    """Whether a fitted leaf transformer was fitted on text."""
    stats = getattr(est, "statistics_", None)
    if stats is not None and np.asarray(stats).dtype == object:
        return True
    cats = getattr(est, "categories_", None)
    return cats is not None and any(np.asarray(c).dtype == object for c in cats)


def _first_leaf(est: Any) -> Any:
    while hasattr(est, "steps"):
        est = next(s for _, s in est.steps if s not in (None, "passthrough"))
    return est


def string_columns(estimator: Any, feature_names: Sequence[str]) -> set[str]:
    """Columns a fitted scikit-learn estimator treats as text, found from its fitted state."""
    found: set[str] = set()

    def visit(est: Any) -> None:
        if hasattr(est, "transformers_"):
            for child, cols in _children(est):
                if _sees_strings(_first_leaf(child)):
                    names = [
                        feature_names[int(c)] if isinstance(c, int | np.integer) else c
                        for c in np.atleast_1d(cols)
                    ]
                    found.update(str(n) for n in names)
                visit(child)
        else:
            for child, _ in _children(est):
                visit(child)

    visit(estimator)
    leaf = _first_leaf(estimator)
    if not hasattr(estimator, "transformers_") and _sees_strings(leaf):
        found.update(feature_names)
    return found


def _impute_empty_strings(est: Any) -> None:
    """On a copy: text SimpleImputers impute ``""`` instead of NaN (what ONNX can carry)."""
    stats = getattr(est, "statistics_", None)
    if stats is not None and np.asarray(stats).dtype == object:
        missing = getattr(est, "missing_values", None)
        if missing is None or (isinstance(missing, float) and math.isnan(missing)):
            est.missing_values = ""
    for child, _ in _children(est):
        _impute_empty_strings(child)


def _takes_columns(estimator: Any) -> bool:
    """Whether the estimator starts with a ColumnTransformer (one graph input per column)."""
    first = estimator
    while hasattr(first, "steps"):
        first = next(s for _, s in first.steps if s not in (None, "passthrough"))
    return hasattr(first, "transformers_")


def convert_sklearn(
    estimator: Any, feature_names: Sequence[str], string_features: Sequence[str] = ()
) -> bytes:
    """ONNX bytes of a fitted scikit-learn estimator.

    An estimator starting with a ColumnTransformer gets one input per column (text ones as
    strings); any other gets one float matrix input named ``input``.
    """
    from skl2onnx import convert_sklearn as skl_convert
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if _takes_columns(estimator):
        strings = string_columns(estimator, feature_names) | set(string_features)
        initial_types = [
            (n, StringTensorType([None, 1]) if n in strings else FloatTensorType([None, 1]))
            for n in feature_names
        ]
    else:
        if string_features:
            raise FlavorError(
                f"string_features {list(string_features)} need a ColumnTransformer at the start of the "
                f"{type(estimator).__name__} to be converted to ONNX"
            )
        initial_types = [(MATRIX_INPUT, FloatTensorType([None, len(feature_names)]))]
    clone = copy.deepcopy(estimator)
    _impute_empty_strings(clone)
    final = clone.steps[-1][1] if hasattr(clone, "steps") else clone
    options = {id(final): {"zipmap": False}} if hasattr(final, "classes_") else None
    try:
        proto = skl_convert(clone, initial_types=initial_types, options=options, target_opset=TARGET_OPSET)
    except Exception as exc:  # skl2onnx raises many kinds; name the estimator
        raise FlavorError(
            f"skl2onnx could not convert the {type(estimator).__name__}: {type(exc).__name__}: {exc}; "
            "use the sklearn flavor for it, or convert it yourself and save the .onnx file"
        ) from exc
    return proto.SerializeToString()


# -- predictor ----------------------------------------------------------------------------------


class OnnxPredictor:
    """An onnxruntime session behind the :class:`~modelyard.artifacts.flavor.Predictor` protocol."""

    def __init__(self, session: Any, meta: dict[str, Any]) -> None:
        self.session = session
        self.feature_names: list[str] | None = meta.get("feature_names")
        self.inputs: list[dict[str, str]] = meta["inputs"]
        self.mode: str = meta["mode"]
        self.label_output: str = meta["label_output"]
        self.proba_output: str | None = meta.get("proba_output")
        self.classes: list[Any] | None = meta.get("classes")
        columnar = columnar_predict(self)
        if columnar is not None:  # the graph's inputs can be built from columns (it has types numpy builds)
            self.predict_columns = columnar

    def _feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        frame = select_columns(frame, self.feature_names)
        if self.mode == "matrix":
            spec = self.inputs[0]
            dtype = _NUMPY_OF.get(spec["type"], np.float32)
            return {spec["name"]: frame.to_numpy(dtype=dtype, na_value=np.nan)}
        feeds = {}
        for spec in self.inputs:
            column = frame[spec["column"]]
            if spec["type"] == "tensor(string)":
                values = column.astype(object).where(column.notna(), "").astype(str).to_numpy(dtype=object)
            else:
                dtype = _NUMPY_OF.get(spec["type"], np.float32)
                values = (
                    column.to_numpy(dtype=dtype, na_value=np.nan)
                    if dtype is not np.int64
                    else column.to_numpy(dtype)
                )
            feeds[spec["name"]] = values.reshape(-1, 1)
        return feeds

    def _run(self, frame: pd.DataFrame, outputs: list[str]) -> list[Any]:
        return list(self.session.run(outputs, self._feeds(frame)))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        (label,) = self._run(frame, [self.label_output])
        return np.asarray(label).ravel()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        if self.proba_output is None or (self.classes is not None and len(self.classes) != 2):
            return None
        (proba,) = self._run(frame, [self.proba_output])
        return positive_class_proba(np.asarray(proba, dtype=float), self.classes)

    def predict_with_proba(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`predict` and :meth:`predict_proba` from one session run (the graph computes both at once)."""
        if self.proba_output is None or (self.classes is not None and len(self.classes) != 2):
            return self.predict(frame), None
        label, proba = self._run(frame, [self.label_output, self.proba_output])
        return np.asarray(label).ravel(), positive_class_proba(np.asarray(proba, dtype=float), self.classes)

    def __repr__(self) -> str:
        return f"OnnxPredictor(inputs={[i['name'] for i in self.inputs]}, features={self.feature_names})"


# -- flavor ---------------------------------------------------------------------------------------


def _describe_graph(data: bytes, feature_names: list[str] | None) -> dict[str, Any]:
    """Inputs, mode and outputs of ONNX bytes, read with onnxruntime."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise FlavorError(f"onnxruntime cannot load this ONNX model: {exc}") from exc
    graph_inputs = session.get_inputs()
    outputs = session.get_outputs()
    if len(graph_inputs) == 1 and (feature_names is None or graph_inputs[0].name not in feature_names):
        mode = "matrix"
        inputs = [{"name": graph_inputs[0].name, "column": "", "type": graph_inputs[0].type}]
    else:
        mode = "columns"
        names = [i.name for i in graph_inputs]
        if feature_names is not None and set(names) - set(feature_names):
            raise FlavorError(
                f"the ONNX graph's inputs {names} are not among feature_names {feature_names}; "
                "name each graph input after its feature column, or give the graph one matrix input"
            )
        inputs = [{"name": i.name, "column": i.name, "type": i.type} for i in graph_inputs]
        if feature_names is None:
            feature_names = names
    proba = next(
        (
            o.name
            for o in outputs[1:]
            if o.type in ("tensor(float)", "tensor(double)") and len(o.shape or ()) == 2
        ),
        None,
    )
    return {
        "mode": mode,
        "inputs": inputs,
        "label_output": outputs[0].name,
        "proba_output": proba,
        "feature_names": feature_names,
    }


class OnnxFlavor(Flavor):
    """ONNX models: converted from scikit-learn, or given as a graph; served by onnxruntime."""

    name = "onnx"

    def can_save(self, obj: Any) -> bool:
        return is_onnx_source(obj)

    def save(
        self,
        obj: Any,
        directory: Path,
        *,
        feature_names: Sequence[str] | None = None,
        string_features: Sequence[str] = (),
    ) -> None:
        names = (
            feature_names_of(obj, feature_names)
            if _is_sklearn(obj)
            else (list(feature_names) if feature_names is not None else None)
        )
        classes: list[Any] | None = None
        task: str | None = None
        if _is_sklearn(obj):
            if names is None:
                raise FlavorError(
                    f"cannot convert the {type(obj).__name__} to ONNX without feature names: fit it on a "
                    "DataFrame or pass feature_names=[...]"
                )
            data = convert_sklearn(obj, names, string_features)
            raw_classes = getattr(obj, "classes_", None)
            classes = np.asarray(raw_classes).tolist() if raw_classes is not None else None
            task = "classification" if classes is not None else "regression"
            source = f"{type(obj).__module__}.{type(obj).__qualname__}"
        elif _is_model_proto(obj):
            data, source = obj.SerializeToString(), "onnx.ModelProto"
        elif isinstance(obj, bytes | bytearray):
            data, source = bytes(obj), "bytes"
        elif isinstance(obj, str | Path) and Path(obj).is_file():
            data, source = Path(obj).read_bytes(), Path(obj).name
        else:
            raise FlavorError(
                f"the onnx flavor saves .onnx files, ONNX bytes or scikit-learn estimators, not {type(obj).__qualname__}"
            )
        graph = _describe_graph(data, names)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MODEL_FILE).write_bytes(data)
        write_metadata(
            directory,
            self.name,
            feature_names=graph.pop("feature_names"),
            file=MODEL_FILE,
            source=source,
            task=task,
            classes=classes,
            **graph,
        )

    def preload(self) -> None:
        """Import onnxruntime (no session is created: that would start its thread pools)."""
        import onnxruntime  # noqa: F401

    def load(self, directory: Path) -> OnnxPredictor:
        import onnxruntime as ort

        directory = Path(directory)
        meta = read_metadata(directory, flavor=self.name)
        path = directory / meta.get("file", MODEL_FILE)
        if not path.is_file():
            raise FlavorError(f"{directory} is an onnx artifact without its model file {path.name}")
        try:
            session = ort.InferenceSession(str(path), _session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise FlavorError(f"onnxruntime cannot load {path}: {exc}") from exc
        return OnnxPredictor(session, meta)


def _session_options() -> Any:
    """onnxruntime options with the intra-op pool sized by ``set_model_threads`` (0: its default)."""
    import onnxruntime as ort

    from modelyard.artifacts.flavor import model_threads

    options = ort.SessionOptions()
    threads = model_threads()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options
