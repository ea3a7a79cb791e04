"""Fixtures of the flavor tests: small fitted scikit-learn pipelines on mixed data with gaps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.plugins.manager import PluginHost
from modelyard.plugins.testing import make_host

FEATURES = ["distance_km", "hour", "city"]


def mixed_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Numeric, integer and text features, with NaN and None holes in each kind."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "distance_km": rng.gamma(2.0, 3.0, n),
            "hour": rng.integers(0, 24, n),
            "city": rng.choice(["lisbon", "porto", "faro"], n).astype(object),
        }
    )
    frame.loc[::17, "distance_km"] = np.nan
    frame.loc[::23, "city"] = None
    frame.loc[5::29, "city"] = np.nan
    return frame


def build_pipeline(estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            (
                "num",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                ["distance_km", "hour"],
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                ["city"],
            ),
        ]
    )
    return Pipeline([("pre", pre), ("model", estimator)])


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return mixed_frame()


@pytest.fixture(scope="session")
def classifier(frame: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    from modelyard.artifacts.flavor import missing_as_nan

    x = missing_as_nan(frame)
    y = ((x["distance_km"].fillna(6) > 6) ^ (x["city"] == "porto")).astype(int)
    return build_pipeline(LogisticRegression(max_iter=500)).fit(x, y)


@pytest.fixture(scope="session")
def regressor(frame: pd.DataFrame) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    from modelyard.artifacts.flavor import missing_as_nan

    x = missing_as_nan(frame)
    y = x["distance_km"].fillna(3) * 1.7 + x["hour"] * 0.2 + (x["city"] == "faro") * 4
    return build_pipeline(GradientBoostingRegressor(n_estimators=30, random_state=0)).fit(x, y)


@pytest.fixture(scope="session")
def host() -> PluginHost:
    return make_host()
