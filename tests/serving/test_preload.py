"""A serving process imports its models' flavors first; a flavor that cannot is left to the model load."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

from modelyard.artifacts.flavor import Flavor
from modelyard.plugins import hookimpl
from modelyard.plugins.specs import FlavorSpec
from modelyard.plugins.testing import make_host
from modelyard.serving.preload import preload_flavors


class MissingLibraryFlavor(Flavor):
    """A flavor whose library is not installed where it serves."""

    name = "missing-library"

    def can_save(self, obj: Any) -> bool:
        return False

    def save(self, obj: Any, directory: Any, *, feature_names: Any = None) -> None:
        raise NotImplementedError

    def load(self, directory: Any) -> Any:
        raise NotImplementedError

    def preload(self) -> None:
        import modelyard_no_such_library  # noqa: F401


class MissingLibraryPlugin:
    @hookimpl
    def modelyard_flavors(self) -> Any:
        yield FlavorSpec(name="missing-library", summary="test flavor", factory=MissingLibraryFlavor)


def test_declared_flavors_are_preloaded_and_a_missing_library_is_skipped() -> None:
    models = {"a": SimpleNamespace(flavor="sklearn"), "b": SimpleNamespace(flavor="missing-library")}
    yard = SimpleNamespace(config=SimpleNamespace(models=models), host=make_host(MissingLibraryPlugin()))
    assert preload_flavors(yard) == ["sklearn"]
    assert "skops.io" in sys.modules
