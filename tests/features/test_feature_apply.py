"""apply: models are checked against the repo's definitions before Feast writes anything."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelyard.errors import EntityKeyMismatch, FeatureServiceNotFound
from modelyard.examples.repo import copy_example_repo
from modelyard.features.definitions import parse_definitions
from modelyard.yard import Yard


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "error", "message"),
    [
        (
            "feature_service: tip_amount_v1",
            "feature_service: tip_amount_v9",
            FeatureServiceNotFound,
            "tip_amount_v9",
        ),
        (
            "entity_keys: [driver_id, customer_id]\n    task: regression",
            "entity_keys: [driver_id]\n    task: regression",
            EntityKeyMismatch,
            "customer_id",
        ),
    ],
)
def test_a_failed_apply_changes_nothing(example_repo, old, new, error, message):
    registry, online = example_repo / "data" / "registry.db", example_repo / "data" / "online_store.db"
    before = (_digest(registry), _digest(online))
    # a new feature view that a broken apply must not register
    with (example_repo / "features.py").open("a") as f:
        f.write(
            "\nextra_view = FeatureView(name='extra_view', entities=[driver], ttl=timedelta(days=1),"
            " schema=[Field(name='conv_rate', dtype=Float64)], source=driver_stats_source)\n"
        )
    _edit(example_repo / "modelyard.yaml", old, new)
    with pytest.raises(error, match=message):
        Yard.load(example_repo).features.apply()
    assert (_digest(registry), _digest(online)) == before
    assert "extra_view" not in {v.name for v in Yard.load(example_repo).feature_store.list_feature_views()}


def test_apply_registers_the_repo_and_validate_checks_the_registry(example_repo):
    yard = Yard.load(example_repo)
    _edit(example_repo / "features.py", 'name="tip_amount_v1"', 'name="tip_amount_v2"')
    _edit(example_repo / "modelyard.yaml", "feature_service: tip_amount_v1", "feature_service: tip_amount_v2")
    fresh = Yard.load(example_repo)
    with pytest.raises(FeatureServiceNotFound, match="tip_amount_v2"):
        fresh.features.validate()  # not applied yet
    result = fresh.features.apply()
    assert result.feature_services == [
        "driver_status_v1",
        "tip_amount_v2",
        "trip_acceptance_live_v1",
        "trip_acceptance_v1",
    ]
    assert result.feature_views == [
        "customer_activity",
        "customer_profile",
        "driver_live",
        "driver_stats",
        "driver_status",
    ]
    fresh.features.validate()
    assert yard.features.feature_names("trip_acceptance")[0] == "conv_rate"


def test_parsing_two_repos_with_the_same_module_names_keeps_them_apart(tmp_path, example_repo_template):
    a = copy_example_repo(tmp_path / "a", source=example_repo_template)
    b = copy_example_repo(tmp_path / "b", source=example_repo_template)
    _edit(b / "features.py", 'name="tip_amount_v1"', 'name="tip_amount_b"')
    assert "tip_amount_v1" in {s.name for s in parse_definitions(a).feature_services}
    assert "tip_amount_b" in {s.name for s in parse_definitions(b).feature_services}
    assert "tip_amount_v1" in {s.name for s in parse_definitions(a).feature_services}
