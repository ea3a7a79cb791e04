"""The registry of a real yard: the example Feast repo, its declared models and schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_models import ThresholdModel

from modelyard.errors import ModelNotFound, SchemaMismatch
from modelyard.registry.types import Snapshot
from modelyard.yard import Yard

MODEL = "trip_acceptance"


@pytest.fixture
def yard(example_repo: Path, db_url: str) -> Yard:
    """The example yard with its registry in the parametrised database."""
    config = example_repo / "modelyard.yaml"
    config.write_text(
        config.read_text() + f"\nregistry:\n  plugin: sqlalchemy\n  settings:\n    url: {db_url}\n"
    )
    y = Yard.load(example_repo)
    yield y
    if "registry" in y.__dict__:
        y.registry.close()


def _stored_nothing(yard: Yard) -> bool:
    return yard.registry.list_models() == [] and list(yard.registry.artifacts.uris()) == []


def test_register_records_the_feature_service_and_its_schema(yard: Yard) -> None:
    feature = yard.features.feature_names(MODEL)[0]
    v = yard.registry.register(MODEL, ThresholdModel(0.5, feature=feature))
    assert v.feature_service == yard.model(MODEL).feature_service
    assert v.schema_fingerprint == yard.features.fingerprint(MODEL)
    assert v.flavor == "python"  # the declared sklearn flavor cannot save it: the first that can
    assert yard.registry.get_version(MODEL) == v


def test_a_schema_mismatch_is_refused_and_stores_nothing(yard: Yard) -> None:
    feature = yard.features.feature_names(MODEL)[0]
    with pytest.raises(SchemaMismatch, match="snapshot again and retrain"):
        yard.registry.register(MODEL, ThresholdModel(0.5, feature=feature), schema_fingerprint="0" * 64)
    assert _stored_nothing(yard)


def test_a_snapshot_of_another_schema_is_refused(yard: Yard) -> None:
    import pandas as pd

    frame = pd.DataFrame({"driver_id": [1, 2], "x": [0.1, 0.2]})
    snap: Snapshot = yard.registry.snapshot(MODEL, frame, features=["x"], schema_fingerprint="1" * 64)
    with pytest.raises(SchemaMismatch) as info:
        yard.registry.register(
            MODEL, ThresholdModel(0.5, feature=yard.features.feature_names(MODEL)[0]), snapshot=snap
        )
    assert "111111111111" in str(info.value)
    assert yard.registry.list_models() == []


def test_a_model_reading_columns_the_service_lacks_is_refused(yard: Yard) -> None:
    with pytest.raises(SchemaMismatch, match="not_a_feature"):
        yard.registry.register(MODEL, ThresholdModel(0.5, feature="not_a_feature"))
    assert _stored_nothing(yard)


def test_an_undeclared_model_is_refused(yard: Yard) -> None:
    with pytest.raises(ModelNotFound, match="declares: "):
        yard.registry.register("nope", ThresholdModel(0.5))
    assert _stored_nothing(yard)
