"""Batch fixtures: one example repo per module with a real trained model registered and promoted."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import entities, train_and_register

EXAMPLE_END = "2026-01-29T00:00:00+00:00"  # as tests/conftest.py (the example template's data end)


@pytest.fixture(scope="module")
def scored_yard(make_example_repo, tmp_path_factory):
    """A yard (example repo applied + materialized) whose trip_acceptance v1 is in production."""
    from modelyard.yard import Yard

    repo = make_example_repo(tmp_path_factory.mktemp("batch") / "repo")
    yard = Yard.load(repo)
    train_and_register(yard)
    return yard


@pytest.fixture(scope="module")
def entity_file(scored_yard, tmp_path_factory) -> Path:
    """All labelled entity rows of the example as a Parquet file with small row groups."""
    path = tmp_path_factory.mktemp("batch_in") / "entities.parquet"
    entities(scored_yard.path).to_parquet(path, row_group_size=300)
    return path
