"""The training entry point: from a model's ``training:`` section to a registered version.

``modelyard.yaml`` may give a model a training function::

    models:
      trip_acceptance:
        ...
        training:
          function: train:train_trip_acceptance    # module resolved with the repo on sys.path
          entities: data/trip_acceptance_entities.parquet
          test_size: 0.2
          random_state: 0
          params: {C: 0.5}

:func:`train_model` then: reads the entity file (entity keys, ``event_timestamp``, label),
builds the training frame with Feast's point-in-time join, saves it as a snapshot, splits
it (held-out ``test_size``, ``random_state``; stratified by label for classifiers), calls
the function on the training part, saves the result with the model's flavor, evaluates
*that saved artifact* on the held-out part, and registers it with params, validation
metrics and the snapshot.

The function receives the training rows (entity keys, ``event_timestamp``, features,
label; missing text values as NaN) and, if it declares them, ``params`` (a dict) and
``context`` (a :class:`TrainingContext`). It returns a fitted estimator, or
``(estimator, metrics)`` whose metrics are stored alongside the validation metrics.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import math
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import TrainingError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from modelyard.artifacts.flavor import Predictor
    from modelyard.registry.service import Registry
    from modelyard.registry.types import ModelVersion, Snapshot
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

TIMESTAMP_COLUMN = "event_timestamp"
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2")


@dataclass(frozen=True)
class TrainingContext:
    """What a training function may want to know besides the rows (declare a ``context`` parameter)."""

    model: str
    task: str
    label: str
    features: list[str]
    entity_keys: list[str]
    repo: Path


@dataclass(frozen=True)
class TrainingResult:
    """What :func:`train_model` produced: the version, its snapshot and the numbers behind it."""

    version: ModelVersion
    snapshot: Snapshot
    metrics: dict[str, float]
    train_rows: int
    test_rows: int
    params: dict[str, Any] = field(default_factory=dict)


# -- the training function ------------------------------------------------------------------


@contextmanager
def repo_on_path(repo: Path) -> Iterator[None]:
    """Put ``repo`` first on ``sys.path`` for the duration (training code lives in the yard)."""
    entry = str(repo)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with suppress(ValueError):
            sys.path.remove(entry)


def resolve_function(repo: Path, reference: str, *, model: str) -> Callable[..., Any]:
    """The callable ``"module:function"`` names, the module imported from ``repo`` first.

    Call inside :func:`repo_on_path`. A module of that name imported earlier from another
    directory (another copy of the yard) is imported again from this one.
    """
    module_name, _, attr = reference.partition(":")
    where = f"models.{model}.training.function"
    cached = sys.modules.get(module_name)
    cached_file = getattr(cached, "__file__", None)
    shadowed = (
        cached is not None and cached_file and not Path(cached_file).resolve().is_relative_to(repo.resolve())
    )
    if shadowed and (repo / (module_name.replace(".", "/") + ".py")).exists():
        del sys.modules[module_name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingError(
            f"{where}: cannot import {module_name!r} (looked in {repo} and the installed packages): {exc}"
        ) from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise TrainingError(f"{where}: module {module_name!r} ({module.__file__}) has no function {attr!r}")
    return function


def training_kwargs(
    function: Callable[..., Any], params: Mapping[str, Any], context: TrainingContext
) -> dict[str, Any]:
    """The keyword arguments ``function`` declares: ``params`` and/or ``context``.

    Configured params for a function without a ``params`` argument are an error, not dropped.
    """
    accepted: Mapping[str, inspect.Parameter]
    try:
        accepted = inspect.signature(function).parameters
    except (TypeError, ValueError):
        accepted = {}
    kwargs: dict[str, Any] = {}
    if "params" in accepted:
        kwargs["params"] = dict(params)
    elif params:
        raise TrainingError(
            f"models.{context.model}.training.params is set, but {function.__qualname__} takes no "
            "'params' argument to receive it"
        )
    if "context" in accepted:
        kwargs["context"] = context
    return kwargs


def call_training_function(
    function: Callable[..., Any], frame: pd.DataFrame, params: Mapping[str, Any], context: TrainingContext
) -> tuple[Any, dict[str, float]]:
    """Call ``function`` with what it declares and return ``(estimator, metrics)``."""
    result = function(frame, **training_kwargs(function, params, context))
    metrics: Any = {}
    if isinstance(result, tuple):
        if len(result) != 2 or not isinstance(result[1], Mapping):
            raise TrainingError(
                f"{function.__qualname__} returned a tuple; expected (estimator, metrics dict)"
            )
        result, metrics = result
    if result is None:
        raise TrainingError(f"{function.__qualname__} returned None; expected a fitted estimator")
    try:
        clean = {str(k): float(v) for k, v in metrics.items()}
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"{function.__qualname__} returned non-numeric metrics: {exc}") from None
    return result, clean


# -- splitting and evaluation ----------------------------------------------------------------


def split(
    frame: pd.DataFrame, *, label: str, task: str, test_size: float, random_state: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and held-out rows; stratified by label for classifiers when every class can be."""
    from sklearn.model_selection import train_test_split

    stratify = None
    if task == "classification":
        counts = frame[label].value_counts()
        if len(counts) > 1 and counts.min() >= 2:
            stratify = frame[label]
    try:
        train, test = train_test_split(
            frame, test_size=test_size, random_state=random_state, stratify=stratify
        )
    except ValueError as exc:
        raise TrainingError(f"cannot split {len(frame)} rows with test_size={test_size}: {exc}") from None
    return train.sort_index(), test.sort_index()


def evaluate(predictor: Predictor, frame: pd.DataFrame, *, label: str, task: str) -> dict[str, float]:
    """Validation metrics of ``predictor`` on ``frame``.

    Classification: accuracy, precision, recall, f1 (binary: of the positive class; else
    macro), and for binary classifiers with probabilities roc_auc and log_loss.
    Regression: mae, rmse, r2.
    """
    import numpy as np
    from sklearn import metrics as m

    y_true = frame[label].to_numpy()
    y_pred = predictor.predict(frame)
    if task == "regression":
        y_true = y_true.astype(float)
        y_pred = np.asarray(y_pred, dtype=float)
        return {
            "mae": float(m.mean_absolute_error(y_true, y_pred)),
            "rmse": float(math.sqrt(m.mean_squared_error(y_true, y_pred))),
            "r2": float(m.r2_score(y_true, y_pred)),
        }
    y_pred = _align_labels(y_pred, y_true)
    labels = np.unique(np.concatenate([y_true, y_pred]))
    binary = len(labels) <= 2
    average = "binary" if binary and len(labels) == 2 else "macro"
    positive = labels.max() if binary and len(labels) == 2 else 1
    options: dict[str, Any] = {"average": average, "zero_division": 0}
    if average == "binary":
        options["pos_label"] = positive
    result = {
        "accuracy": float(m.accuracy_score(y_true, y_pred)),
        "precision": float(m.precision_score(y_true, y_pred, **options)),
        "recall": float(m.recall_score(y_true, y_pred, **options)),
        "f1": float(m.f1_score(y_true, y_pred, **options)),
    }
    proba = predictor.predict_proba(frame)
    if proba is not None and len(np.unique(y_true)) == 2:
        y_pos = (y_true == positive).astype(int)
        result["roc_auc"] = float(m.roc_auc_score(y_pos, proba))
        result["log_loss"] = float(m.log_loss(y_pos, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1]))
    return result


def _align_labels(y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Predicted labels in the truth's dtype (ONNX returns int64 for a bool or int32 label...)."""
    import numpy as np

    try:
        return np.asarray(y_pred).astype(y_true.dtype)
    except (TypeError, ValueError):
        return np.asarray(y_pred)


# -- the whole flow ------------------------------------------------------------------------------


def read_entities(yard: Yard, model: str, path: str) -> pd.DataFrame:
    """The labelled entity frame of ``model`` (Parquet or CSV), checked for its columns."""
    import pandas as pd

    config = yard.model(model)
    file = Path(yard.resolve_path(path))
    if not file.exists():
        raise TrainingError(f"models.{model}.training.entities: {file} does not exist")
    frame = pd.read_csv(file) if file.suffix == ".csv" else pd.read_parquet(file)
    needed = [*config.entity_keys, TIMESTAMP_COLUMN, config.label]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise TrainingError(
            f"the training entities {file} lack columns {missing} (need entity keys, {TIMESTAMP_COLUMN} "
            f"and the label {config.label!r}; found {list(frame.columns)})"
        )
    if frame[TIMESTAMP_COLUMN].dtype.kind != "M":
        frame[TIMESTAMP_COLUMN] = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True)
    return frame


#: Keys :func:`train_model` adds to the recorded params besides the training function's own.
RECORDED_KEYS = ("training_function", "test_size", "random_state", "train_rows", "test_rows")


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that decides a trained model besides the data: function, params, split."""

    function: str
    params: dict[str, Any]
    test_size: float
    random_state: int

    @classmethod
    def recorded(cls, version: ModelVersion) -> TrainingRecipe:
        """The recipe a version recorded at registration (ReproductionError if it recorded none)."""
        from modelyard.errors import ReproductionError

        params = dict(version.params)
        missing = [k for k in ("training_function", "test_size", "random_state") if k not in params]
        if missing:
            raise ReproductionError(
                f"{version.label} did not record {', '.join(missing)}: it was not trained by "
                "'modelyard train', so there is no recipe to repeat"
            )
        return cls(
            function=str(params["training_function"]),
            params={k: v for k, v in params.items() if k not in RECORDED_KEYS},
            test_size=float(params["test_size"]),
            random_state=int(params["random_state"]),
        )


def source_sha256(function: Callable[..., Any]) -> str | None:
    """sha256 of the file defining ``function`` (code identity outside git, dirty tree or not)."""
    from modelyard.artifacts.hashing import file_sha256

    try:
        path = inspect.getsourcefile(inspect.unwrap(function))
    except TypeError:
        return None
    return file_sha256(path) if path and Path(path).is_file() else None


def train_model(
    yard: Yard,
    model: str,
    *,
    registry: Registry | None = None,
    params: Mapping[str, Any] | None = None,
    entities: pd.DataFrame | None = None,
    snapshot: str | None = None,
    description: str = "",
    created_by: str | None = None,
) -> TrainingResult:
    """Train ``model`` as its ``training:`` section says and register the new version.

    ``params`` override the configured ones key by key; ``entities`` replaces the
    configured entity file; ``snapshot`` (an id) trains on that stored training frame
    instead of reading Feast. Nothing is registered if any step fails (a snapshot already
    taken stays: it is content-addressed and reusable).
    """
    config = yard.model(model)
    training = config.training
    if training is None:
        raise TrainingError(
            f"model {model!r} has no training section in {yard.config_file}; add "
            "training: {function: 'module:function', entities: 'data/....parquet'}"
        )
    registry = registry or yard.registry
    recipe = TrainingRecipe(
        function=training.function,
        params={**training.params, **(params or {})},
        test_size=training.test_size,
        random_state=training.random_state,
    )
    function, context = _prepare(yard, model, recipe)
    if snapshot is not None:
        snap = registry.get_snapshot(snapshot)
        frame = registry.load_snapshot_frame(snap.id)
    else:
        if entities is None:
            entities = read_entities(yard, model, training.entities)
        frame = _labelled(yard, model, yard.features.training_frame(model, entities))
        snap = registry.snapshot(model, frame, entities)
    return _fit_and_register(
        yard,
        registry,
        model,
        frame,
        snap,
        recipe,
        function,
        context,
        description=description,
        created_by=created_by,
    )


def reproduce_version(
    yard: Yard,
    model: str,
    version: int,
    *,
    registry: Registry | None = None,
    description: str = "",
    created_by: str | None = None,
) -> TrainingResult:
    """Retrain ``model`` v``version`` from its stored snapshot with its recorded recipe; register it.

    Feast is not read: the training frame is the snapshot's, verified against its hash.
    The training function is imported from the yard as it is now; a changed source file
    is logged (compare ``code_sha256`` of the two versions, or run ``models verify``).
    """
    from modelyard.errors import ReproductionError

    registry = registry or yard.registry
    original = registry.get_version(model, version)
    if original.snapshot_id is None:
        raise ReproductionError(f"{original.label} was registered without a snapshot: nothing to retrain on")
    recipe = TrainingRecipe.recorded(original)
    function, context = _prepare(yard, model, recipe)
    code = source_sha256(function)
    if original.code_sha256 is not None and code != original.code_sha256:
        logger.warning(
            "the training code of %s changed since it was registered (source sha256 %s, now %s)",
            original.label,
            original.code_sha256[:12],
            (code or "unknown")[:12],
        )
    snap = registry.get_snapshot(original.snapshot_id)
    frame = registry.load_snapshot_frame(snap.id)
    return _fit_and_register(
        yard,
        registry,
        model,
        frame,
        snap,
        recipe,
        function,
        context,
        description=description or f"reproduction of {original.label}",
        created_by=created_by,
        extra_params={"reproduces": original.version},
    )


def _prepare(yard: Yard, model: str, recipe: TrainingRecipe) -> tuple[Callable[..., Any], TrainingContext]:
    """The training function (checked against the params) and its context."""
    config = yard.model(model)
    context = TrainingContext(
        model=model,
        task=config.task,
        label=config.label,
        features=list(yard.features.feature_names(model)),
        entity_keys=list(config.entity_keys),
        repo=yard.path,
    )
    with repo_on_path(yard.path):  # fail on a bad function before the expensive steps
        function = resolve_function(yard.path, recipe.function, model=model)
    training_kwargs(function, recipe.params, context)
    return function, context


def _labelled(yard: Yard, model: str, frame: pd.DataFrame) -> pd.DataFrame:
    label = yard.model(model).label
    before = len(frame)
    frame = frame[frame[label].notna()].reset_index(drop=True)
    if len(frame) < before:
        logger.warning("dropped %d rows of %s without a label", before - len(frame), model)
    if len(frame) < 4:
        raise TrainingError(f"only {len(frame)} labelled rows to train {model} on; need more entities")
    return frame


@dataclass(frozen=True)
class FittedModel:
    """A model trained and saved by its flavor, not registered: the artifact directory and predictor."""

    artifact: Path
    flavor: str
    predictor: Predictor
    metrics: dict[str, float]
    train_rows: int
    test_rows: int


def fit(
    yard: Yard,
    model: str,
    frame: pd.DataFrame,
    recipe: TrainingRecipe,
    function: Callable[..., Any],
    context: TrainingContext,
    workdir: Path,
) -> FittedModel:
    """Split ``frame`` as the recipe says, train, save with the flavor into ``workdir``, evaluate."""
    from modelyard.artifacts.flavor import build_flavor, choose_flavor, missing_as_nan

    config = yard.model(model)
    train, test = split(
        frame,
        label=config.label,
        task=config.task,
        test_size=recipe.test_size,
        random_state=recipe.random_state,
    )
    with repo_on_path(yard.path):
        estimator, own_metrics = call_training_function(
            function, missing_as_nan(train.reset_index(drop=True)), recipe.params, context
        )
    flavor = build_flavor(yard.host, config.flavor)
    if not flavor.can_save(estimator):
        flavor = choose_flavor(yard.host, estimator)
        logger.warning(
            "the %s flavor cannot save %s; using %s", config.flavor, type(estimator).__name__, flavor.name
        )
    has_names = any(getattr(estimator, a, None) is not None for a in ("feature_names_in_", "feature_names"))
    artifact = workdir / "artifact"
    flavor.save(estimator, artifact, feature_names=None if has_names else context.features)
    predictor = flavor.load(artifact)
    validation = evaluate(predictor, test, label=config.label, task=config.task)
    overlap = sorted(set(own_metrics) & set(validation))
    if overlap:
        logger.warning("the training function's metrics %s are replaced by the validation ones", overlap)
    return FittedModel(artifact, flavor.name, predictor, {**own_metrics, **validation}, len(train), len(test))


def _fit_and_register(
    yard: Yard,
    registry: Registry,
    model: str,
    frame: pd.DataFrame,
    snapshot: Snapshot,
    recipe: TrainingRecipe,
    function: Callable[..., Any],
    context: TrainingContext,
    *,
    description: str,
    created_by: str | None,
    extra_params: Mapping[str, Any] | None = None,
) -> TrainingResult:
    with tempfile.TemporaryDirectory(prefix="modelyard-train-") as tmp:
        fitted = fit(yard, model, frame, recipe, function, context, Path(tmp))
        recorded_params = {
            **recipe.params,
            "training_function": recipe.function,
            "test_size": recipe.test_size,
            "random_state": recipe.random_state,
            "train_rows": fitted.train_rows,
            "test_rows": fitted.test_rows,
            **(extra_params or {}),
        }
        version = registry.register(
            model,
            fitted.artifact,
            snapshot=snapshot,
            params=recorded_params,
            metrics=fitted.metrics,
            flavor=fitted.flavor,
            description=description or f"trained by {recipe.function}",
            created_by=created_by,
            code_sha256=source_sha256(function),
        )
    logger.info("trained %s: %s", version.label, ", ".join(f"{k}={v:.4g}" for k, v in fitted.metrics.items()))
    return TrainingResult(
        version=version,
        snapshot=snapshot,
        metrics=fitted.metrics,
        train_rows=fitted.train_rows,
        test_rows=fitted.test_rows,
        params=recorded_params,
    )
