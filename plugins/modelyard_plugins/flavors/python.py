"""The ``python`` flavor: a user class with ``predict(frame)``, saved as source code + JSON state.

Saving copies the source file of the object's class into the artifact (``code/<file>.py``)
and writes the constructor state as JSON (``params.json``): ``obj.get_params()`` when the
class has it, else the instance's attributes (``vars(obj)``). Loading imports that saved
file under a private module name and calls ``Class(**params)``. No pickle is involved.

Limits (documented in docs/artifacts.md):

- the class must live in a ``.py`` file (not a notebook cell or the interactive prompt);
- only that one file is saved: what it imports must be installed where the model is loaded;
- the state must be JSON (numbers, strings, lists, dicts, booleans, None) and the class
  must accept it back as keyword arguments;
- loading runs the saved module's top-level code. The store verified the artifact's
  sha256 first, so it is exactly the code that was registered, but it is code: register
  only classes you would import.

``predict(frame)`` receives the columns in ``feature_names`` order (from ``feature_names=``
at save, or the object's ``feature_names`` attribute). An optional ``predict_proba(frame)``
is used for binary classifiers (2-D: the positive class is the last column; 1-D: taken as is).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import shutil
import sys
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

CODE_DIR = "code"
PARAMS_FILE = "params.json"


def has_predict(obj: Any) -> bool:
    """Whether ``obj`` is an instance with a callable ``predict`` (not a class)."""
    return not isinstance(obj, type) and callable(getattr(obj, "predict", None))


def _state_of(obj: Any) -> dict[str, Any]:
    get_params = getattr(obj, "get_params", None)
    state = get_params() if callable(get_params) else dict(vars(obj))
    if not isinstance(state, dict):
        raise FlavorError(
            f"{type(obj).__qualname__}.get_params() returned {type(state).__name__}, not a dict"
        )
    for key, value in state.items():
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise FlavorError(
                f"the python flavor stores constructor state as JSON, but {type(obj).__qualname__}."
                f"{key} is a {type(value).__name__} ({exc}); give the class a get_params() returning "
                "JSON values its constructor accepts"
            ) from None
    return state


class PythonPredictor:
    """A user object behind the :class:`~modelyard.artifacts.flavor.Predictor` protocol."""

    def __init__(self, model: Any, feature_names: list[str] | None) -> None:
        self.model = model
        self.feature_names = feature_names

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(select_columns(frame, self.feature_names))).ravel()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        method = getattr(self.model, "predict_proba", None)
        if not callable(method):
            return None
        result = method(select_columns(frame, self.feature_names))
        return None if result is None else positive_class_proba(result)

    def __repr__(self) -> str:
        return f"PythonPredictor({type(self.model).__qualname__}, features={self.feature_names})"


class PythonFlavor(Flavor):
    """Any object with ``predict(frame)``, saved as its class's source file and JSON state."""

    name = "python"

    def can_save(self, obj: Any) -> bool:
        if not has_predict(obj):
            return False
        try:
            inspect.getsourcefile(type(obj))
        except TypeError:  # built-in or defined interactively
            return False
        return True

    def save(self, obj: Any, directory: Path, *, feature_names: Sequence[str] | None = None) -> None:
        if not has_predict(obj):
            raise FlavorError(
                f"the python flavor needs an object with predict(frame), got {type(obj).__qualname__}"
            )
        cls = type(obj)
        try:
            source = inspect.getsourcefile(cls)
        except TypeError:
            source = None
        if not source or not source.endswith(".py") or not Path(source).is_file():
            raise FlavorError(
                f"cannot find the .py file defining {cls.__qualname__} (module {cls.__module__}); "
                "the python flavor saves classes defined in a module file, not interactively"
            )
        if "<locals>" in cls.__qualname__:
            raise FlavorError(f"{cls.__qualname__} is defined inside a function; define it at module level")
        state = _state_of(obj)
        directory = Path(directory)
        (directory / CODE_DIR).mkdir(parents=True, exist_ok=True)
        code_file = f"{CODE_DIR}/{Path(source).name}"
        shutil.copyfile(source, directory / code_file)
        (directory / PARAMS_FILE).write_text(json.dumps(state, sort_keys=True, indent=2) + "\n")
        write_metadata(
            directory,
            self.name,
            feature_names=feature_names_of(obj, feature_names),
            code=code_file,
            module=cls.__module__,
            qualname=cls.__qualname__,
            params=PARAMS_FILE,
        )

    def load(self, directory: Path) -> PythonPredictor:
        directory = Path(directory)
        meta = read_metadata(directory, flavor=self.name)
        code = directory / meta["code"]
        if not code.is_file():
            raise FlavorError(f"{directory} is a python artifact without its code file {meta['code']}")
        digest = hashlib.sha256(code.read_bytes()).hexdigest()[:16]
        module_name = f"modelyard_artifact_{digest}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, code)
            if spec is None or spec.loader is None:
                raise FlavorError(f"cannot import {code}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # dataclasses and pickling-free helpers look it up
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # user code: report any failure with its origin
                del sys.modules[module_name]
                raise FlavorError(
                    f"importing the saved code {meta['code']} of {meta['qualname']} failed: "
                    f"{type(exc).__name__}: {exc} (is everything it imports installed?)"
                ) from exc
        target: Any = module
        for part in meta["qualname"].split("."):
            target = getattr(target, part, None)
            if target is None:
                raise FlavorError(f"the saved code {meta['code']} defines no {meta['qualname']}")
        params = json.loads((directory / meta.get("params", PARAMS_FILE)).read_text())
        try:
            model = target(**params)
        except TypeError as exc:
            raise FlavorError(
                f"{meta['qualname']}(**params) failed with the saved params {sorted(params)}: {exc}; "
                "its constructor must accept what get_params() (or its attributes) returned"
            ) from exc
        return PythonPredictor(model, meta.get("feature_names"))
