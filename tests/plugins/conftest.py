"""Fixtures for plugin-system tests: real throwaway distributions on ``sys.path``.

``make_dist`` writes a package plus a ``NAME-VERSION.dist-info`` (METADATA and
entry_points.txt) into a temporary directory and puts it on ``sys.path``, so
``importlib.metadata`` finds its entry points exactly as it finds an installed plugin's.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MakeDist = Callable[..., str]


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeDist]:
    """Build a distribution ``dist`` with one entry point ``entry`` -> a module holding ``source``.

    Returns the module name (unique per call). Modules are dropped from ``sys.modules``
    afterwards so tests do not see each other's plugins.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created: list[str] = []

    def make(dist: str, entry: str, source: str, *, version: str = "1.0.0", module: str | None = None) -> str:
        module = module or f"plug_{uuid.uuid4().hex[:10]}"
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(f"[modelyard]\n{entry} = {module}\n", encoding="utf-8")
        importlib.invalidate_caches()
        created.append(module)
        return module

    yield make
    for module in created:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


DETECTOR_PLUGIN = """
from modelyard.plugins import hookimpl
from modelyard.plugins.specs import DetectorSpec

@hookimpl
def modelyard_detectors():
    yield DetectorSpec(name={name!r}, summary="test detector", factory="collections:OrderedDict")
"""


@pytest.fixture
def detector_plugin() -> Callable[[str], str]:
    """Source of a plugin module contributing one detector called ``name``."""
    return lambda name: DETECTOR_PLUGIN.format(name=name)


def _write_yard(path: Path, config: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "modelyard.yaml").write_text(textwrap.dedent(config), encoding="utf-8")
    (path / "feature_store.yaml").write_text(
        "project: t\nprovider: local\nregistry: data/registry.db\n", encoding="utf-8"
    )
    return path


@pytest.fixture
def write_yard() -> Callable[[Path, str], Path]:
    """Write a minimal yard: ``modelyard.yaml`` with the given text plus a feature_store.yaml."""
    return _write_yard
