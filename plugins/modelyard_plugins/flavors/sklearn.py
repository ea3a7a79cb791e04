"""The ``sklearn`` flavor: scikit-learn estimators saved with skops, never with pickle.

Saving writes ``model.skops`` and records, in ``modelyard-artifact.json``, the exact list
of types skops does not trust by default that the file needs (``numpy.dtype``,
``sklearn.tree._tree.Tree``...). Each of them must come from a trusted module
(scikit-learn, numpy, scipy, plus any the flavor is told to trust), or saving fails.

Loading checks the file again: the types it needs must all be in the recorded list, and
the list must still pass the module policy; only then is the file given to
``skops.io.load(file, trusted=<that list>)``. Nothing is unpickled; an unexpected type is
refused with an error naming it. The artifact's sha256 has been checked by the store
before any of this runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.artifacts.flavor import (
    Flavor,
    feature_names_of,
    missing_as_nan,
    positive_class_proba,
    read_metadata,
    select_columns,
    write_metadata,
)
from modelyard.errors import FlavorError

logger = logging.getLogger(__name__)

MODEL_FILE = "model.skops"

#: modules whose types a skops file may need without further configuration
DEFAULT_TRUSTED_MODULES: tuple[str, ...] = ("sklearn", "numpy", "scipy")


def is_sklearn_estimator(obj: Any) -> bool:
    """Whether ``obj`` is a scikit-learn estimator instance (without importing scikit-learn)."""
    if isinstance(obj, type):
        return False
    return any(
        cls.__module__.split(".")[0] == "sklearn" and cls.__name__ == "BaseEstimator"
        for cls in type(obj).__mro__
    )


def _is_plain_pipeline(obj: Any) -> bool:
    """Whether ``obj`` is exactly a ``sklearn.pipeline.Pipeline`` (not a subclass that may predict differently)."""
    from sklearn.pipeline import Pipeline

    return type(obj) is Pipeline


class SklearnPredictor:
    """A loaded scikit-learn estimator behind the :class:`~modelyard.artifacts.flavor.Predictor` protocol."""

    def __init__(self, estimator: Any, feature_names: list[str] | None) -> None:
        self.estimator = estimator
        self.feature_names = feature_names
        classes = getattr(estimator, "classes_", None)
        self.classes: list[Any] | None = list(classes) if classes is not None else None

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        return missing_as_nan(select_columns(frame, self.feature_names))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.estimator.predict(self._inputs(frame))).ravel()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        if not self._binary_proba():
            return None
        return positive_class_proba(self.estimator.predict_proba(self._inputs(frame)), self.classes)

    def predict_with_proba(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """``(predict(frame), predict_proba(frame))``, running a pipeline's transformers once, not twice.

        For a plain ``sklearn.pipeline.Pipeline`` this does what its ``predict`` and
        ``predict_proba`` do (each transformer's ``transform`` in turn, then the final
        estimator's method) but shares the transformed features, so the values are the same.
        """
        if not self._binary_proba():
            return self.predict(frame), None
        inputs = self._inputs(frame)
        final, features = self.estimator, inputs
        if _is_plain_pipeline(self.estimator) and len(self.estimator.steps) > 1:
            final, features = self.estimator[-1], self.estimator[:-1].transform(inputs)
        labels = np.asarray(final.predict(features)).ravel()
        return labels, positive_class_proba(final.predict_proba(features), self.classes)

    def _binary_proba(self) -> bool:
        return (
            self.classes is not None and len(self.classes) == 2 and hasattr(self.estimator, "predict_proba")
        )

    def __repr__(self) -> str:
        return f"SklearnPredictor({type(self.estimator).__name__}, features={self.feature_names})"


class SklearnFlavor(Flavor):
    """scikit-learn estimators and pipelines, persisted with skops and an explicit trusted-type list.

    ``trusted_modules`` adds top-level modules (beyond scikit-learn, numpy and scipy) whose
    types a model may contain, e.g. ``["lightgbm"]``. Trust them only if you trust their code.
    """

    name = "sklearn"

    def __init__(self, trusted_modules: Sequence[str] = ()) -> None:
        self.trusted_modules = tuple(DEFAULT_TRUSTED_MODULES) + tuple(trusted_modules)

    def can_save(self, obj: Any) -> bool:
        return is_sklearn_estimator(obj)

    def _refused(self, types: Sequence[str]) -> list[str]:
        return [t for t in types if t.split(".")[0] not in self.trusted_modules]

    def save(self, obj: Any, directory: Path, *, feature_names: Sequence[str] | None = None) -> None:
        import sklearn
        import skops
        import skops.io as sio
        from sklearn.base import is_classifier
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        if not self.can_save(obj):
            raise FlavorError(
                f"the sklearn flavor saves scikit-learn estimators, not {type(obj).__qualname__}"
            )
        try:
            check_is_fitted(obj)
        except NotFittedError:
            raise FlavorError(f"cannot save an unfitted {type(obj).__name__}: call fit() first") from None
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MODEL_FILE
        sio.dump(obj, path)
        needed = sorted(sio.get_untrusted_types(file=path))
        refused = self._refused(needed)
        if refused:
            path.unlink()
            raise FlavorError(
                f"the {type(obj).__name__} contains types from modules the sklearn flavor does not trust: "
                f"{refused}; trust their modules with SklearnFlavor(trusted_modules=[...]) if you trust that "
                "code, or use the onnx flavor"
            )
        classes = getattr(obj, "classes_", None)
        write_metadata(
            directory,
            self.name,
            feature_names=feature_names_of(obj, feature_names),
            file=MODEL_FILE,
            trusted_types=needed,
            estimator=f"{type(obj).__module__}.{type(obj).__qualname__}",
            task="classification" if is_classifier(obj) else "regression",
            classes=np.asarray(classes).tolist() if classes is not None else None,
            libraries={"scikit-learn": sklearn.__version__, "skops": skops.__version__},
        )

    def preload(self) -> None:
        """Import skops' loader (and with it scikit-learn and scipy).

        Importing ``skops.io`` builds its default trusted-type lists; for the ufunc names it
        searches every module already imported, so it costs about a second less of CPU in a
        fresh process than after Feast and the web stack are in (the lists name the same
        objects either way).
        """
        import skops.io  # noqa: F401

    def load(self, directory: Path) -> SklearnPredictor:
        import skops.io as sio

        directory = Path(directory)
        meta = read_metadata(directory, flavor=self.name)
        path = directory / meta.get("file", MODEL_FILE)
        if not path.is_file():
            raise FlavorError(f"{directory} is an sklearn artifact without its model file {path.name}")
        recorded = list(meta.get("trusted_types") or [])
        refused = self._refused(recorded)
        if refused:
            raise FlavorError(
                f"{path} asks to trust types from untrusted modules: {refused}; refusing to load it"
            )
        needed = sio.get_untrusted_types(file=path)
        unexpected = sorted(set(needed) - set(recorded))
        if unexpected:
            raise FlavorError(
                f"{path} needs types that were not recorded as trusted when it was saved: {unexpected}; "
                "refusing to load it"
            )
        estimator = sio.load(path, trusted=recorded)
        logger.debug("loaded %s from %s", type(estimator).__name__, path)
        return SklearnPredictor(estimator, meta.get("feature_names"))
