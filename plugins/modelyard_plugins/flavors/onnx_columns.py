"""The ``onnx`` predictor's columnar predict: straight from feature columns, no pandas frame.

A one-row DataFrame and the pandas work a flavor does on it (column selection, missing
values, dtype conversion) cost more than a small model itself. An ONNX graph's inputs are
plain arrays, so :func:`columnar_predict` builds them with numpy straight from the feature
columns, exactly as the flavor builds them from a frame (missing numbers as NaN, missing
text as ``""``), and one ``session.run`` returns both the label and the probability output.
It is :meth:`OnnxPredictor.predict_columns` (the optional columnar predict of the
:class:`~modelyard.artifacts.flavor.Predictor` contract); ``None`` when the graph takes
input types it does not build, and then serving uses ``predict(frame)``. Tests check that
both paths give identical answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.artifacts.flavor import ColumnarPredict

if TYPE_CHECKING:  # pragma: no cover
    from modelyard_plugins.flavors.onnx import OnnxPredictor

#: ONNX tensor element types -> numpy dtypes the predictor feeds (from a frame or from columns)
_NUMPY_OF: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


def _missing(v: Any) -> bool:
    return (
        v is None or (isinstance(v, float) and math.isnan(v)) or v.__class__.__name__ in ("NAType", "NaTType")
    )


def _numbers(columns: list[Sequence[Any]], dtype: Any) -> np.ndarray:
    """A (columns, rows) array of ``dtype``; missing numbers become NaN for float types."""
    if dtype in (np.float32, np.float64):
        try:
            return np.array(columns, dtype=dtype)  # None becomes NaN
        except (TypeError, ValueError):  # pandas' NA / NaT and the like
            return np.array([[np.nan if _missing(v) else v for v in col] for col in columns], dtype=dtype)
    return np.array(columns, dtype=dtype)


def _run_compiled(run: Callable[..., Any], outputs: list[str], feeds: dict[str, np.ndarray]) -> Any:
    return run(outputs, feeds, None)  # no RunOptions


def columnar_predict(predictor: OnnxPredictor) -> ColumnarPredict | None:
    """``(columns, rows) -> (labels, positive-class probabilities or None)`` for ``predictor``,
    or ``None`` when its graph takes something this does not build."""
    session = predictor.session
    inputs = predictor.inputs
    mode = predictor.mode
    names = predictor.feature_names
    label = predictor.label_output
    if mode not in ("matrix", "columns") or not names or not label:
        return None
    if any(spec.get("type") not in _NUMPY_OF for spec in inputs):
        return None
    proba_output = predictor.proba_output
    classes = predictor.classes
    if proba_output is not None and classes is not None and len(classes) != 2:
        proba_output = None
    outputs = [label] + ([proba_output] if proba_output else [])
    names = list(names)

    # inputs grouped by numpy dtype, resolved once: every group is built with one numpy call
    # (a (k, n) array whose rows are the k inputs) and each input is a (n, 1) view of its row
    groups: dict[Any, list[tuple[str, str]]] = {}
    for spec in inputs:
        groups.setdefault(_NUMPY_OF[spec["type"]], []).append((spec["name"], spec["column"]))
    plan = [
        (dtype, [name for name, _ in group], [column for _, column in group])
        for dtype, group in groups.items()
    ]

    def feeds(columns: Mapping[str, Sequence[Any]], rows: Sequence[int]) -> dict[str, np.ndarray]:
        n = len(rows)
        if mode == "matrix":
            spec = inputs[0]
            dtype = _NUMPY_OF[spec["type"]]
            matrix = [[np.nan if _missing(columns[c][i]) else columns[c][i] for c in names] for i in rows]
            return {spec["name"]: np.array(matrix, dtype=dtype).reshape(n, len(names))}
        out = {}
        for dtype, input_names, input_columns in plan:
            # rows are distinct indices into the columns: as many as a column holds means all of them
            values = [
                col if len(col) == n else [col[i] for i in rows]
                for col in (columns[c] for c in input_columns)
            ]
            if dtype is object:
                block = np.array(
                    [
                        [v if type(v) is str else ("" if _missing(v) else str(v)) for v in col]
                        for col in values
                    ],
                    dtype=object,
                ).reshape(len(values), n)
            else:
                block = _numbers(values, dtype)
            for j, name in enumerate(input_names):
                out[name] = block[j].reshape(n, 1)
        return out

    # InferenceSession.run re-checks the feed names and graph-capture options on every call
    # (about 10% of a one-row request); the feeds built here always match the graph's inputs,
    # so call the compiled session underneath when this onnxruntime exposes it.
    inner = getattr(session, "_sess", None)
    if inner is not None and callable(getattr(inner, "run", None)):
        run = partial(_run_compiled, inner.run, outputs)
    else:
        run = partial(session.run, outputs)

    def predict(
        columns: Mapping[str, Sequence[Any]], rows: Sequence[int]
    ) -> tuple[list[Any], list[Any] | None]:
        results = run(feeds(columns, rows))
        labels = np.asarray(results[0]).ravel().tolist()
        scores = None
        if proba_output:
            proba = np.asarray(results[1], dtype=float)
            if proba.ndim == 2 and proba.shape[1] == 2:
                scores = proba[:, 1].tolist()
            elif proba.ndim == 1:
                scores = proba.tolist()
        return labels, scores

    return predict
