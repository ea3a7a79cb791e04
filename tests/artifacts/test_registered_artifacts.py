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
