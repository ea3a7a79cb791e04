"""Training fixtures: example repos (real Feast, generated data) with the models trained once per module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class TrainedRepo:
    """An example repo in which both example models were trained once with the default settings."""

    repo: Path
    yard: Any
    results: dict[str, Any]


@pytest.fixture(scope="session")
def trained_repo(example_repo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedRepo:
    import pandas as pd

    from modelyard.examples.repo import prepare_example_repo
    from modelyard.registry.training import train_model
    from modelyard.yard import Yard

    repo = prepare_example_repo(
        tmp_path_factory.mktemp("trained") / "repo",
        source=example_repo_template,
        generate=False,
        materialize_end=pd.read_parquet(example_repo_template / "data" / "driver_stats.parquet")[
            "event_timestamp"
        ]
        .max()
        .to_pydatetime(),
    )
    yard = Yard.load(repo)
    results = {model: train_model(yard, model) for model in ("trip_acceptance", "tip_amount")}
    return TrainedRepo(repo=repo, yard=yard, results=results)
