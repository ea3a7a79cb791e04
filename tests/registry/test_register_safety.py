"""Register refuses what could never be served: artifacts its flavor cannot load, names that are not
identifiers, reasons without bound."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from registry_models import ThresholdModel

from modelyard.config.names import is_name
from modelyard.errors import RegistryError
from modelyard.registry.service import Registry


def test_an_artifact_its_flavor_cannot_load_is_not_registered(registry: Registry, tmp_path: Path) -> None:
    """A skops file needing a type its metadata does not trust: refused at register, nothing recorded."""
    from sklearn.tree import DecisionTreeClassifier

    from modelyard.artifacts.flavor import METADATA_FILE
    from modelyard_plugins.flavors.sklearn import SklearnFlavor

    frame = pd.DataFrame({"x": np.arange(20.0)})
    SklearnFlavor().save(DecisionTreeClassifier().fit(frame, np.arange(20) % 2), tmp_path / "tree")
    meta = json.loads((tmp_path / "tree" / METADATA_FILE).read_text())
    meta["trusted_types"] = [t for t in meta["trusted_types"] if not t.endswith("._tree.Tree")]
    (tmp_path / "tree" / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match=r"does not load with the 'sklearn' flavor.*nothing was stored"):
        registry.register("m", tmp_path / "tree")
    assert "m" not in registry.backend.list_models()
    registry.register("m", ThresholdModel(0.5))  # a loadable one still goes in


BAD_NAMES = ["../evil", "a/b", ".hidden", "", "x" * 65, "a..b", "nul\x00", "sp ace"]


def test_model_and_alias_names_are_short_identifiers(registry: Registry) -> None:
    v = registry.register("m", ThresholdModel(0.5))
    for name in BAD_NAMES:
        assert not is_name(name)
        with pytest.raises(RegistryError, match="not a short identifier"):
            registry.register(name, ThresholdModel(0.5))
        with pytest.raises(RegistryError, match="alias name"):
            registry.promote("m", v.version, alias=name, reason="test")
    assert registry.backend.list_models() == ["m"]


def test_reasons_are_bounded(registry: Registry) -> None:
    v = registry.register("m", ThresholdModel(0.5))
    with pytest.raises(RegistryError, match="longer than 1000"):
        registry.promote("m", v.version, reason="r" * 1001)
    registry.promote("m", v.version, reason="r" * 1000)


def test_a_yard_declaring_a_path_as_model_name_fails_to_load(tmp_path: Path) -> None:
    from modelyard.config.loader import load_config
    from modelyard.errors import ConfigError

    (tmp_path / "modelyard.yaml").write_text(
        "project: p\nmodels:\n  ../evil: {feature_service: fs, entity_keys: [k], task: regression, label: y}\n"
    )
    with pytest.raises(ConfigError, match="not a short identifier"):
        load_config(tmp_path / "modelyard.yaml")


def test_an_unreachable_postgres_registry_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    (tmp_path / "feature_store.yaml").write_text("project: p\n")
    (tmp_path / "modelyard.yaml").write_text(
        "project: p\n"
        "registry: {plugin: sqlalchemy, settings: {url: 'postgresql+psycopg://postgres@127.0.0.1:1/none'}}\n"
        "models:\n  m: {feature_service: fs, entity_keys: [k], task: regression, label: y}\n"
    )
    result = CliRunner().invoke(main, ["--repo", str(tmp_path), "models", "list"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach a server" in lines[0] and "127.0.0.1" in lines[0], result.output


def test_version_numbers_no_database_can_hold_are_not_found(registry: Registry) -> None:
    """The web UI's /versions/{n} passes any integer: 2**64 must be 'no such version', not an overflow."""
    from modelyard.errors import VersionNotFound

    registry.register("m", ThresholdModel(0.5))
    for number in (0, -1, 2**31, 2**63, 10**30):
        with pytest.raises(VersionNotFound, match=f"no version {number}"):
            registry.get_version("m", number)
        with pytest.raises(VersionNotFound):
            registry.promote("m", number, reason="test")
        with pytest.raises(VersionNotFound):
            registry.diff("m", 1, number)
    assert registry.get_version("m", 1).version == 1
