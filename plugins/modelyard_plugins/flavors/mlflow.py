"""The ``mlflow`` flavor: a model logged with MLflow, registered and served like any other version.

Register from any MLflow model URI MLflow itself resolves: a run's artifact (``runs:/RUN/model``),
a registered model (``models:/NAME/3``, ``models:/NAME@champion``) against the tracking server
``MLFLOW_TRACKING_URI`` names (or :class:`MlflowSource`'s ``tracking_uri``), or a local model
directory (one holding an ``MLmodel`` file)::

    yard.registry.register("trip_acceptance", "runs:/4f2c.../model", flavor="mlflow")
    yard.registry.register("trip_acceptance", MlflowSource("models:/trips/3", tracking_uri=url))

Saving downloads the whole MLflow model into the artifact (``mlflow_model/``), so the version
is immutable and content-hashed like every other: the tracking server is not needed to serve.
The model's MLflow signature becomes its input schema: the feature columns, in the signature's
order, and their types, which registration checks against the model's FeatureService (a
``long`` input fed from a ``STRING`` feature is refused before anything is stored).

Loading is ``mlflow.pyfunc.load_model``: predictions are exactly MLflow's own, with its schema
enforcement. For a binary classifier whose MLflow model wraps an estimator with
``predict_proba`` (the sklearn flavor), the positive-class probability is served too.

MLflow models are pickles: loading one runs code. The artifact store has verified the
artifact's sha256 before this flavor reads it, so it is exactly what was registered, but
register only models you would import. Serving needs ``mlflow-skinny`` (``modelyard[mlflow]``)
plus the libraries the model itself needs (its ``requirements.txt``, kept in the artifact).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.artifacts.flavor import (
    Flavor,
    positive_class_proba,
    read_metadata,
    select_columns,
    write_metadata,
)
from modelyard.errors import FlavorError

MODEL_DIR = "mlflow_model"
#: URI schemes MLflow resolves to a model
SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/")

#: MLflow signature type -> the input kind modelyard checks against the FeatureService
#: (see :data:`modelyard.features.schema.INPUT_KINDS`)
KINDS: dict[str, str] = {
    "double": "float",
    "float": "float",
    "long": "int",
    "integer": "int",
    "string": "string",
    "boolean": "bool",
    "datetime": "datetime",
    "binary": "bytes",
}


@dataclass(frozen=True)
class MlflowSource:
    """An MLflow model URI, with the tracking server to resolve it against (default: MLflow's own)."""

    uri: str
    tracking_uri: str | None = None


def is_mlflow_source(obj: Any) -> bool:
    """An :class:`MlflowSource`, an MLflow model URI, or a directory holding an ``MLmodel`` file."""
    if isinstance(obj, MlflowSource):
        return True
    if isinstance(obj, str) and obj.startswith(SCHEMES):
        return True
    if isinstance(obj, (str, os.PathLike)):
        return (Path(obj) / "MLmodel").is_file()
    return False


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise FlavorError(
            "the mlflow flavor needs MLflow: pip install 'modelyard[mlflow]' (mlflow-skinny)"
        ) from None
    return mlflow


def _download(source: MlflowSource, into: Path) -> Path:
    """The MLflow model at ``source`` copied into ``into`` (a local directory is copied as is)."""
    local = Path(source.uri)
    if not source.uri.startswith(SCHEMES) and "://" not in source.uri:
        if not (local / "MLmodel").is_file():
            raise FlavorError(f"{local} is not an MLflow model directory: it has no MLmodel file")
        shutil.copytree(local, into)
        return into
    mlflow = _mlflow()
    into.mkdir(parents=True)
    try:
        got = mlflow.artifacts.download_artifacts(
            artifact_uri=source.uri, dst_path=str(into), tracking_uri=source.tracking_uri
        )
    except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds; say which URI failed and why
        where = source.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "MLflow's default (./mlruns)"
        raise FlavorError(
            f"cannot fetch the MLflow model {source.uri!r} from the tracking server {where}: {exc}"
        ) from None
    path = Path(got)
    if not (path / "MLmodel").is_file():
        found = next(iter(path.rglob("MLmodel")), None)
        if found is None:
            raise FlavorError(f"{source.uri!r} holds no MLflow model (no MLmodel file)")
        path = found.parent
    if path != into:  # the model sits in a subdirectory of the download: keep only it
        staging = into.with_name(into.name + "-staging")
        shutil.move(str(path), staging)
        shutil.rmtree(into)
        staging.rename(into)
    return into


def input_schema(model_dir: Path) -> list[tuple[str, str]] | None:
    """``(column, input kind)`` of the model's signature inputs, or None without a column signature.

    The kind is MLflow's type in modelyard's words (``double`` -> ``float``...), ``any`` when
    modelyard has no word for it (it is then not checked).
    """
    mlflow = _mlflow()
    info = mlflow.models.Model.load(str(model_dir))
    signature = info.signature
    if signature is None or signature.inputs is None:
        return None
    if not signature.inputs.has_input_names():
        raise FlavorError(
            "the MLflow model's signature has unnamed (tensor) inputs; modelyard feeds models named "
            "feature columns: log it with a column signature (mlflow.models.infer_signature(frame, ...))"
        )
    out: list[tuple[str, str]] = []
    for spec in signature.inputs.inputs:
        kind = str(getattr(spec.type, "name", spec.type)).lower()
        out.append((str(spec.name), KINDS.get(kind, "any")))
    return out


class MlflowPredictor:
    """An MLflow pyfunc model behind the :class:`~modelyard.artifacts.flavor.Predictor` protocol."""

    def __init__(
        self,
        model: Any,
        feature_names: list[str] | None,
        raw: Any = None,
        float_columns: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.feature_names = feature_names
        self._raw = raw  # the wrapped estimator when it offers predict_proba
        self._float_columns = list(float_columns)

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The signature's columns; integer features feeding ``double`` inputs as float64 (gaps as NaN).

        Feast serves integers as nullable ``Int64``; MLflow's schema enforcement refuses that
        for a ``double`` input, while the same values as float64 are exactly what it expects.
        """
        frame = select_columns(frame, self.feature_names)
        cast = {
            c: "float64" for c in self._float_columns if c in frame.columns and frame[c].dtype != "float64"
        }
        return frame.astype(cast) if cast else frame

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        out = self.model.predict(self._inputs(frame))
        if isinstance(out, pd.DataFrame):
            if out.shape[1] != 1:
                raise FlavorError(
                    f"the MLflow model returned {out.shape[1]} columns; modelyard serves one prediction a row"
                )
            out = out.iloc[:, 0]
        arr = np.asarray(out)
        return arr.reshape(-1) if arr.ndim > 1 and arr.shape[-1] == 1 else arr

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        if self._raw is None:
            return None
        proba = self._raw.predict_proba(self._inputs(frame))
        return positive_class_proba(proba, getattr(self._raw, "classes_", None))


class MlflowFlavor(Flavor):
    """Registers MLflow models by URI or directory and serves them with ``mlflow.pyfunc``."""

    name = "mlflow"

    def can_save(self, obj: Any) -> bool:
        return is_mlflow_source(obj)

    def save(self, obj: Any, directory: Path, *, feature_names: Sequence[str] | None = None) -> None:
        if not self.can_save(obj):
            raise FlavorError(
                f"the mlflow flavor saves MLflow model URIs (runs:/, models:/) or directories with an "
                f"MLmodel file, not a {type(obj).__name__}"
            )
        source = obj if isinstance(obj, MlflowSource) else MlflowSource(os.fspath(obj))
        directory.mkdir(parents=True, exist_ok=True)
        model_dir = _download(source, directory / MODEL_DIR)
        schema = input_schema(model_dir)
        names = [n for n, _ in schema] if schema is not None else None
        if feature_names is not None:
            given = [str(n) for n in feature_names]
            if names is not None and set(given) != set(names):
                raise FlavorError(
                    f"feature_names {given} differ from the MLflow signature's inputs {names}; "
                    "leave feature_names out to use the signature"
                )
            names = names or given
        write_metadata(
            directory,
            self.name,
            feature_names=names,
            input_schema=[list(f) for f in schema] if schema is not None else None,
            mlflow_source=source.uri,
            mlflow_version=_mlflow().__version__,
        )

    def requirements(self, directory: Path) -> list[str]:
        """What the MLflow model lists in its ``requirements.txt`` (else its ``conda.yaml``'s pip
        section), with ``mlflow`` served by ``mlflow-skinny`` of the same version (the flavor's
        own requirement: pyfunc loading needs nothing of the full MLflow)."""
        return model_requirements(Path(directory) / MODEL_DIR)

    def load(self, directory: Path) -> MlflowPredictor:
        meta = read_metadata(directory, flavor=self.name)
        mlflow = _mlflow()
        try:
            model = mlflow.pyfunc.load_model(str(Path(directory) / MODEL_DIR))
        except Exception as exc:  # noqa: BLE001 - a missing library of the model, most often
            raise FlavorError(
                f"MLflow could not load the model in {directory}: {exc}. Install what its "
                f"{MODEL_DIR}/requirements.txt lists where it is served"
            ) from None
        raw = None
        get_raw = getattr(model, "get_raw_model", None)
        if callable(get_raw):
            try:
                candidate = get_raw()
            except Exception:  # noqa: BLE001 - not every pyfunc wraps a raw model
                candidate = None
            if callable(getattr(candidate, "predict_proba", None)):
                raw = candidate
        floats = [name for name, kind in meta.get("input_schema") or () if kind == "float"]
        return MlflowPredictor(model, meta.get("feature_names"), raw, floats)


def model_requirements(model_dir: Path) -> list[str]:
    """The pip requirements an MLflow model directory declares (see :meth:`MlflowFlavor.requirements`)."""
    text = model_dir / "requirements.txt"
    if text.is_file():
        lines = text.read_text(encoding="utf-8").splitlines()
    else:
        lines = _conda_pip(model_dir / "conda.yaml")
    out: list[str] = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):  # comments, and pip options (-r, --index-url)
            continue
        name = re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0]
        if name.lower().replace("_", "-") == "mlflow":
            line = "mlflow-skinny" + line[len(name) :]
        if line not in out:
            out.append(line)
    return out


def _conda_pip(path: Path) -> list[str]:
    """The ``pip:`` entries of a conda environment file (none without one)."""
    if not path.is_file():
        return []
    import yaml

    env = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    pip: list[str] = []
    for dep in env.get("dependencies") or []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            pip += [str(p) for p in dep["pip"]]
    return pip
