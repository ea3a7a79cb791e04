"""Old import paths of moved modules, kept working for one release with a DeprecationWarning.

``modelyard.serving.flavor`` became ``modelyard.artifacts.flavor`` and so on (the map is in
:data:`MOVED`). Importing an old path gives a small module that forwards every attribute to
the new one (so ``monkeypatch.setattr`` on the new module is seen through the old name too)
and warns once. There are no files at the old paths, so the history of each module follows
its rename.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

#: old module path -> new module path
MOVED: dict[str, str] = {
    "modelyard.serving.online": "modelyard.features.online.reader",
    "modelyard.serving.redis_codec": "modelyard.features.online.redis.codec",
    "modelyard.serving.redis_wire": "modelyard.features.online.redis.wire",
    "modelyard.serving.redis_async": "modelyard.features.online.redis.async_wire",
    "modelyard.serving.flavor": "modelyard.artifacts.flavor",
    "modelyard.serving.records": "modelyard.predictions.records",
    "modelyard.serving.prediction_log": "modelyard.predictions.log",
    "modelyard.serving.feedback": "modelyard.predictions.feedback",
    "modelyard.serving.feedback_store": "modelyard.predictions.feedback_store",
    "modelyard.serving.cache": "modelyard.predictions.cache",
    # the ONNX fast path is the onnx flavor's predict_columns; the lookup is the flavor contract's
    "modelyard.serving.fastpath": "modelyard.artifacts.flavor",
    "modelyard.routing.policy": "modelyard.rollout.policy",
    "modelyard.routing.changes": "modelyard.rollout.changes",
}


class _Forward(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: Any) -> ModuleType | None:
        return None  # the default module object; exec_module makes it forward

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__
        warnings.warn(
            f"{old} moved to {self.new}; import it from there (the old path goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        target = importlib.import_module(self.new)
        module.__getattr__ = lambda name: getattr(target, name)  # type: ignore[method-assign]
        module.__dir__ = lambda: dir(target)  # type: ignore[method-assign]
        module.__doc__ = f"Deprecated alias of :mod:`{self.new}`."


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Forward(new))


def install() -> None:
    """Answer the old paths (idempotent; called by the packages the modules moved out of)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
