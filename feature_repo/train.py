"""Training functions of the rideshare example's two models (named in modelyard.yaml ``training:``).

``modelyard train trip_acceptance`` calls :func:`train_trip_acceptance` with the training rows of
the model (Feast's point-in-time join, missing text as NaN), the ``params`` of its ``training:``
section and a context naming its label and features; the returned pipeline is saved with the
model's flavor, evaluated on the held-out rows and registered.

Both pipelines start with a ColumnTransformer that imputes and scales numbers and imputes and
one-hot encodes text (``vehicle_type``, ``customer_tier``, ``payment_method``), ignoring
categories unseen in training, so they also convert to ONNX (one input per column).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard.registry.training import TrainingContext


def preprocessor(frame: pd.DataFrame, features: list[str]) -> ColumnTransformer:
    """Numbers: median-imputed and scaled. Text: missing as 'missing', one-hot, unknown ignored."""
    text = [f for f in features if not pd.api.types.is_numeric_dtype(frame[f].dtype)]
    numbers = [f for f in features if f not in text]
    return ColumnTransformer(
        [
            (
                "num",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                numbers,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                text,
            ),
        ]
    )


def train_trip_acceptance(
    frame: pd.DataFrame, params: dict[str, Any], context: TrainingContext
) -> tuple[Pipeline, dict[str, float]]:
    """Logistic regression: will the driver accept the ride? Returns the pipeline and train accuracy."""
    x, y = frame[context.features], frame[context.label].astype("int64")
    model = LogisticRegression(C=float(params.get("C", 1.0)), max_iter=int(params.get("max_iter", 1000)))
    pipeline = Pipeline([("pre", preprocessor(frame, context.features)), ("model", model)]).fit(x, y)
    return pipeline, {"train_accuracy": float(pipeline.score(x, y))}


def train_tip_amount(frame: pd.DataFrame, params: dict[str, Any], context: TrainingContext) -> Pipeline:
    """Gradient-boosted trees: how much will the customer tip?"""
    x, y = frame[context.features], frame[context.label].astype("float64")
    model = GradientBoostingRegressor(
        n_estimators=int(params.get("n_estimators", 100)),
        max_depth=int(params.get("max_depth", 3)),
        learning_rate=float(params.get("learning_rate", 0.1)),
        random_state=int(params.get("random_state", 0)),
    )
    return Pipeline([("pre", preprocessor(frame, context.features)), ("model", model)]).fit(x, y)
