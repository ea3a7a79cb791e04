"""Small real sklearn pipelines over the example repo's features, shared by the serving and batch tests."""

from __future__ import annotations

from typing import Any

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
TIP_NUMERIC = ["rating", "avg_daily_trips", "lifetime_trips", "trips_last_7d"]
TIP_CATEGORICAL = ["vehicle_type", "customer_tier", "payment_method"]


def pipeline(numeric: list[str], categorical: list[str], final: Any) -> Any:
    """Median-impute numbers, impute and one-hot text (unknown categories ignored), then ``final``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), numeric),
            (
                "cat",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                categorical,
            ),
        ]
    )
    return Pipeline([("pre", pre), ("model", final)])
