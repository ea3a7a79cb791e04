"""Flavors: how a model is saved as artifact files and loaded back into a predictor.

A flavor is a serving plugin (``modelyard_flavors`` hook). It writes an estimator into a
directory (:meth:`Flavor.save`) together with a small JSON metadata file,
``modelyard-artifact.json``, that names the flavor, the feature columns in the order the
model expects them and whatever the flavor needs to load safely (for sklearn: the
trusted-type list). :meth:`Flavor.load` turns such a directory into a :class:`Predictor`.

The artifact store checks the directory's sha256 *before* a flavor ever reads it, so a
flavor only sees bytes that match what was registered.

Example::

    flavor = yard.host.spec("flavor", "sklearn").build()
    flavor.save(pipeline, Path("out"), feature_names=["trip_km", "hour"])
    predictor = load_predictor(yard.host, Path("out"))
    predictor.predict(frame)            # 1-D array of labels or values
    predictor.predict_proba(frame)      # 1-D P(positive class) for binary classifiers, else None
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from modelyard.errors import BadRequest, FlavorError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from modelyard.plugins.manager import PluginHost

METADATA_FILE = "modelyard-artifact.json"
METADATA_FORMAT = 1

_model_threads = 0


def set_model_threads(threads: int) -> None:
    """How many threads a model loaded from now on may use for one prediction call.

    Process-wide, like ``torch.set_num_threads``: flavors whose runtime has its own thread
    pool read it when they load (the ``onnx`` flavor sizes onnxruntime's intra-op pool with
    it). ``0`` leaves the runtime's default, one thread per core, which suits batch scoring
    of large chunks. A serving worker sets ``serving.model_threads`` (default 1): its requests
    are a few rows each, parallelism comes from workers, and a per-core pool spins on every
    core after each tiny call, taking CPU the other workers need.
    """
    global _model_threads
    if threads < 0:
        raise ValueError(f"model threads must be 0 (the runtime's default) or more, got {threads}")
    _model_threads = int(threads)


def model_threads() -> int:
    """The thread count :func:`set_model_threads` set (``0``: the runtime's default)."""
    return _model_threads


#: A columnar predict: ``(columns, rows) -> (labels, positive-class probabilities or None)``,
#: see :class:`Predictor`.
ColumnarPredict = Callable[[Mapping[str, Sequence[Any]], Sequence[int]], tuple[list[Any], list[Any] | None]]


@runtime_checkable
class Predictor(Protocol):
    """A loaded model, as serving, batch scoring and training evaluation use it.

    Two optional methods, not part of the protocol's required surface (a predictor without
    them works everywhere):

    * ``predict_with_proba(frame) -> (labels, proba)``, equal to
      ``(predict(frame), predict_proba(frame))`` but cheaper (e.g. a pipeline's transformers
      run once); :func:`predict_with_proba` uses it when it is there.
    * ``predict_columns(columns, rows) -> (labels, proba or None)``, a :data:`ColumnarPredict`:
      the predictions for ``rows`` (indices into each column) of ``columns`` (feature name ->
      one value per entity, missing values as ``None``), equal to ``predict`` and
      ``predict_proba`` of the frame of those rows, as Python lists. Serving's request path
      uses it instead of building a DataFrame, which costs more than a small model
      (:func:`columnar_predictor`); the ``onnx`` flavor implements it.
    """

    #: the input columns in model order, or ``None`` if the model takes the frame as is
    feature_names: list[str] | None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """One prediction per row: a 1-D array of class labels or regression values."""
        ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """1-D probability of the positive class for binary classifiers; ``None`` otherwise."""
        ...


class Flavor(ABC):
    """Saves one kind of model as files and loads such files into a :class:`Predictor`."""

    #: the flavor's plugin name, written into the artifact metadata
    name: ClassVar[str] = ""

    @abstractmethod
    def can_save(self, obj: Any) -> bool:
        """Whether :meth:`save` accepts ``obj`` (used to pick a flavor when none is named)."""

    @abstractmethod
    def save(self, obj: Any, directory: Path, *, feature_names: Sequence[str] | None = None) -> None:
        """Write ``obj`` into ``directory`` (created if needed), metadata file included.

        ``feature_names`` fixes the column order the model is fed; when omitted the flavor
        takes it from the object (``feature_names_in_`` for sklearn) if it can.
        Raises :class:`~modelyard.errors.FlavorError` if ``obj`` cannot be saved.
        """

    @abstractmethod
    def load(self, directory: Path) -> Predictor:
        """Read the files :meth:`save` wrote into a predictor.

        Raises :class:`~modelyard.errors.FlavorError` if they are not this flavor's, or unsafe.
        """

    def preload(self) -> None:  # noqa: B027 - not abstract: most flavors import nothing heavy
        """Import now what :meth:`load` will import, so loading the first model costs less later.

        A serving process calls it for the flavors its models declare before it imports
        anything else heavy (Feast, the web stack), and a pre-forking server calls it before it
        forks its workers, which then share what was imported. Nothing by default; a flavor whose
        loader imports a large library (skops, onnxruntime) imports it here. It must not open
        files, sockets or threads: the process may fork afterwards.
        """

    def requirements(self, directory: Path) -> list[str]:
        """pip requirements the artifact saved in ``directory`` needs to load, beyond the flavor's
        own (:attr:`~modelyard.plugins.specs.FlavorSpec.requires`): ``containerize`` adds them to
        the serving image. None by default; a flavor whose artifacts carry their own list (MLflow's
        ``requirements.txt``) returns it."""
        return []


# -- metadata shared by every flavor -------------------------------------------------------


def write_metadata(
    directory: Path, flavor: str, *, feature_names: Sequence[str] | None, **extra: Any
) -> dict[str, Any]:
    """Write ``modelyard-artifact.json`` into ``directory`` and return what was written.

    Keys are sorted and the layout fixed so the same model always gives the same bytes
    (and therefore the same content hash).
    """
    meta: dict[str, Any] = {
        "format": METADATA_FORMAT,
        "flavor": flavor,
        "feature_names": list(feature_names) if feature_names is not None else None,
        **extra,
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / METADATA_FILE).write_text(json.dumps(meta, sort_keys=True, indent=2) + "\n")
    return meta


def read_metadata(directory: Path, *, flavor: str | None = None) -> dict[str, Any]:
    """Read ``modelyard-artifact.json``; with ``flavor``, refuse another flavor's artifact."""
    path = Path(directory) / METADATA_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise FlavorError(f"{directory} is not a modelyard artifact: it has no {METADATA_FILE}") from None
    except json.JSONDecodeError as exc:
        raise FlavorError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or "flavor" not in meta:
        raise FlavorError(f"{path} does not name a flavor")
    if meta.get("format", 0) > METADATA_FORMAT:
        raise FlavorError(
            f"{path} was written by a newer modelyard (format {meta['format']}, this one reads "
            f"{METADATA_FORMAT}); upgrade modelyard to load it"
        )
    if flavor is not None and meta["flavor"] != flavor:
        raise FlavorError(
            f"{directory} holds a {meta['flavor']!r} artifact, not a {flavor!r} one; "
            f"load it with the {meta['flavor']!r} flavor"
        )
    return meta


# -- helpers predictors share ---------------------------------------------------------------


def select_columns(frame: pd.DataFrame, feature_names: Sequence[str] | None) -> pd.DataFrame:
    """``frame`` restricted to ``feature_names`` in that order; missing columns are a BadRequest."""
    if feature_names is None:
        return frame
    names = list(feature_names)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise BadRequest(
            f"the model needs feature columns {missing} that the input frame lacks "
            f"(it has: {list(frame.columns)})"
        )
    if list(frame.columns) == names:
        return frame
    return frame[names]


def positive_class_proba(proba: Any, classes: Sequence[Any] | None = None) -> np.ndarray | None:
    """The 1-D positive-class column of a 2-D ``predict_proba`` result, or ``None``.

    Binary only: the positive class is the last of ``classes`` (sklearn sorts them, so 1
    over 0 and True over False). More than two columns (multi-class) gives ``None``.
    """
    import numpy as np

    arr = np.asarray(proba, dtype=float)
    if arr.ndim == 1:
        return arr
    if arr.ndim != 2 or arr.shape[1] != 2:
        return None
    if classes is not None and len(classes) != 2:
        return None
    return np.ascontiguousarray(arr[:, 1])


def predict_with_proba(predictor: Predictor, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """``(predictor.predict(frame), predictor.predict_proba(frame))``, in one pass if the predictor can.

    Uses the predictor's optional ``predict_with_proba`` (see :class:`Predictor`); the
    values are the same either way.
    """
    both = getattr(predictor, "predict_with_proba", None)
    if callable(both):
        return both(frame)
    return predictor.predict(frame), predictor.predict_proba(frame)


def columnar_predictor(predictor: Predictor) -> ColumnarPredict | None:
    """The predictor's optional ``predict_columns`` (see :class:`Predictor`), or ``None``."""
    predict_columns = getattr(predictor, "predict_columns", None)
    return predict_columns if callable(predict_columns) else None


def feature_names_of(obj: Any, given: Sequence[str] | None = None) -> list[str] | None:
    """``given`` if any, else the object's ``feature_names_in_`` / ``feature_names``, else ``None``."""
    if given is not None:
        return [str(n) for n in given]
    for attr in ("feature_names_in_", "feature_names"):
        names = getattr(obj, attr, None)
        if names is not None:
            return [str(n) for n in list(names)]
    return None


# -- choosing and using flavors through the plugin host --------------------------------------


def build_flavor(host: PluginHost, name: str, settings: Mapping[str, Any] | None = None) -> Flavor:
    """The flavor plugin ``name`` (an unknown name lists the installed ones)."""
    flavor = host.spec("flavor", name).build(settings)
    if not isinstance(flavor, Flavor):
        raise FlavorError(f"the flavor plugin {name!r} built a {type(flavor).__name__}, not a Flavor")
    return flavor


def choose_flavor(host: PluginHost, obj: Any, preferred: str | None = None) -> Flavor:
    """The flavor to save ``obj`` with: ``preferred`` if given (and able), else the first that can."""
    if preferred is not None:
        flavor = build_flavor(host, preferred)
        if not flavor.can_save(obj):
            raise FlavorError(
                f"the {preferred!r} flavor cannot save a {type(obj).__module__}.{type(obj).__name__}"
            )
        return flavor
    tried = []
    for name in host.flavors():
        flavor = build_flavor(host, name)
        if flavor.can_save(obj):
            return flavor
        tried.append(name)
    raise FlavorError(
        f"no installed flavor can save a {type(obj).__module__}.{type(obj).__name__} "
        f"(tried: {', '.join(tried) or 'none installed'}); name one with flavor=..."
    )


def load_predictor(host: PluginHost, directory: Path) -> Predictor:
    """Load an artifact directory with the flavor its metadata names.

    Call this only on a directory the artifact store has verified (``ArtifactStore.get``).
    """
    meta = read_metadata(directory)
    return build_flavor(host, meta["flavor"]).load(Path(directory))


def missing_as_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every missing value of a text column (None, pd.NA) as ``NaN``.

    Feast and pandas spell a missing string as ``None`` or ``pd.NA``; scikit-learn's
    imputers and encoders only recognise ``NaN``. Flavors call this before predicting and
    training code should call it before fitting, so missing means one thing everywhere.
    Numeric columns and frames without missing text are returned unchanged (no copy).
    """
    import numpy as np
    import pandas as pd

    out = frame
    for column in frame.columns:
        series = frame[column]
        is_string = isinstance(series.dtype, pd.StringDtype)
        if not (is_string or series.dtype == object):
            continue
        mask = series.isna()
        if not is_string and not any(v is None or v is pd.NA for v in series[mask]):
            continue  # no gaps, or NaN already
        if out is frame:
            out = frame.copy()
        out[column] = series.astype(object).where(~mask, np.nan)
    return out
