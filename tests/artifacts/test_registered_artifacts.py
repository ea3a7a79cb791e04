"""End to end through the Registry: a version whose stored artifact changed is never loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard.artifacts.store import ArtifactStore
from modelyard.errors import ArtifactIntegrityError
from modelyard.plugins.testing import make_host
from modelyard.registry.service import Registry
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=f"sqlite:///{tmp_path / 'r.db'}"))
    yield Registry(backend, ArtifactStore(tmp_path / "artifacts"), host=make_host())
    backend.close()


@pytest.mark.parametrize("flavor", ["sklearn", "onnx"])
def test_tampered_model_file_is_refused_on_load(registry: Registry, flavor: str) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["a"] + x["b"] > 0).astype(int)
    version = registry.register("m", LogisticRegression().fit(x, y), flavor=flavor)
    predictor = registry.load_predictor(version)
    assert (predictor.predict(x) == y).mean() > 0.95

    model_file = next(
        p
        for p in Path(registry.artifacts._path(version.artifact_uri)).iterdir()
        if p.name.startswith("model.")
    )
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_file.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match=r"m v1") as info:
        registry.load_predictor(version)
    assert version.artifact_sha256 in str(info.value)


def test_a_moved_store_still_loads_every_version(tmp_path: Path) -> None:
    """cp -r / mv of the store (and registry): versions resolve by content hash in the new place,
    whether recorded relative (now) or as an absolute path (older yards)."""
    import shutil

    from sklearn.linear_model import LinearRegression

    old = tmp_path / "old"
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=f"sqlite:///{old / 'r.db'}"))
    store = ArtifactStore(old / "artifacts")
    registry = Registry(backend, store, host=make_host())
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    version = registry.register("m", LinearRegression().fit(x, [0.0, 2.0, 4.0, 6.0]))
    assert not version.artifact_uri.startswith("/") and version.artifact_uri.startswith("objects/")
    absolute = f"{store.url}/{version.artifact_uri}"  # what an older modelyard recorded
    backend.close()

    new = tmp_path / "new"
    shutil.move(old, new)
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=f"sqlite:///{new / 'r.db'}"))
    try:
        moved = Registry(backend, ArtifactStore(new / "artifacts"), host=make_host())
        assert moved.load_predictor(moved.get_version("m", 1)).predict(x).tolist() == [0.0, 2.0, 4.0, 6.0]
        from dataclasses import replace

        legacy = replace(moved.get_version("m", 1), artifact_uri=absolute)
        assert not Path(absolute).exists()
        assert moved.load_predictor(legacy).predict(x).tolist() == [0.0, 2.0, 4.0, 6.0]
        assert moved.artifacts.normalize(absolute) == version.artifact_uri
        assert moved.artifacts.normalize("s3://elsewhere/objects/ab/" + "ab" * 32) == (
            "s3://elsewhere/objects/ab/" + "ab" * 32
        )
    finally:
        backend.close()
