"""Helpers for the batch tests: train and register a small real model on the example repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

NUMERIC = [
    "conv_rate",
    "acc_rate",
    "avg_daily_trips",
    "rating",
    "avg_rating_given",
    "trips_last_7d",
    "cancel_rate",
]
CATEGORICAL = ["vehicle_type", "customer_tier"]


def make_pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), NUMERIC),
            (
                "cat",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                CATEGORICAL,
            ),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])


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
