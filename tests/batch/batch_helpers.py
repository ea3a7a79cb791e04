"""Helpers for the batch tests: train and register a small real model on the example repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from example_models import CATEGORICAL, NUMERIC, pipeline


def make_pipeline() -> Any:
    from sklearn.linear_model import LogisticRegression

    return pipeline(NUMERIC, CATEGORICAL, LogisticRegression(max_iter=500))


def entities(repo: Path, n: int | None = None) -> pd.DataFrame:
    frame = pd.read_parquet(repo / "data" / "trip_acceptance_entities.parquet")
    return frame if n is None else frame.head(n).reset_index(drop=True)


def train_and_register(yard: Any, n: int = 600) -> Any:
    """Fit the pipeline on the first ``n`` labelled rows; register and promote it to production."""
    ents = entities(yard.path, n)
    frame = yard.features.training_frame("trip_acceptance", ents.drop(columns=["accepted"]))
    pipeline = make_pipeline().fit(frame[NUMERIC + CATEGORICAL], ents["accepted"])
    version = yard.registry.register("trip_acceptance", pipeline, feature_names=NUMERIC + CATEGORICAL)
    yard.registry.promote("trip_acceptance", version.version, reason="batch tests")
    return version
