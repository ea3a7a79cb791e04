"""Model flavors: how artifacts are saved and loaded (sklearn, python, onnx, mlflow)."""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import FlavorSpec


@hookimpl
def modelyard_flavors():
    yield FlavorSpec(
        name="sklearn",
        summary="scikit-learn estimators saved with skops (no blind unpickling).",
        factory="modelyard_plugins.flavors.sklearn:SklearnFlavor",
        suffixes=(".skops",),
        handles="modelyard_plugins.flavors.sklearn:is_sklearn_estimator",
        requires=("scikit-learn>=1.4", "skops>=0.10"),
    )
    yield FlavorSpec(
        name="python",
        summary="A user class with predict(frame), saved with its source module.",
        factory="modelyard_plugins.flavors.python:PythonFlavor",
        suffixes=(".py",),
        handles="modelyard_plugins.flavors.python:has_predict",
    )
    yield FlavorSpec(
        name="onnx",
        summary="ONNX graphs run with onnxruntime (no training libraries at serving time).",
        factory="modelyard_plugins.flavors.onnx:OnnxFlavor",
        suffixes=(".onnx",),
        handles="modelyard_plugins.flavors.onnx:is_onnx_source",
    )
    yield FlavorSpec(
        name="mlflow",
        summary="MLflow models by URI (runs:/, models:/) or directory, served with mlflow.pyfunc.",
        factory="modelyard_plugins.flavors.mlflow:MlflowFlavor",
        suffixes=(),
        handles="modelyard_plugins.flavors.mlflow:is_mlflow_source",
        requires=("mlflow-skinny>=3.0",),
    )
