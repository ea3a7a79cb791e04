"""Feast definitions of the rideshare example: two entities, five feature views, an on-demand view, four services.

Sources are Parquet files written by ``python -m modelyard.examples.rideshare --repo .``; their paths
are relative to this repo, so a copy of the repo works wherever it is put.
"""

from datetime import timedelta

import numpy as np
import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64, description="A driver")
customer = Entity(
    name="customer", join_keys=["customer_id"], value_type=ValueType.INT64, description="A rider"
)

driver_stats_source = FileSource(
    name="driver_stats_source",
    path="data/driver_stats.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)
customer_profile_source = FileSource(
    name="customer_profile_source",
    path="data/customer_profile.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)
customer_activity_source = FileSource(
    name="customer_activity_source",
    path="data/customer_activity.parquet",
    timestamp_field="event_timestamp",
)

driver_status_source = FileSource(
    name="driver_status_source",
    path="data/driver_status.parquet",
    timestamp_field="event_timestamp",
)

driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(days=2),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="conv_rate", dtype=Float64),
        Field(name="acc_rate", dtype=Float64),
        Field(name="avg_daily_trips", dtype=Int64),
        Field(name="vehicle_type", dtype=String),
        Field(name="rating", dtype=Float64),
    ],
    source=driver_stats_source,
    online=True,
    description="Daily driver statistics",
)

customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(days=10),
    schema=[
        Field(name="customer_id", dtype=Int64),
        Field(name="customer_tier", dtype=String),
        Field(name="avg_rating_given", dtype=Float64),
        Field(name="lifetime_trips", dtype=Int64),
        Field(name="payment_method", dtype=String),
    ],
    source=customer_profile_source,
    online=True,
    description="Weekly customer profile",
)

customer_activity = FeatureView(
    name="customer_activity",
    entities=[customer],
    ttl=timedelta(days=3),
    schema=[
        Field(name="customer_id", dtype=Int64),
        Field(name="trips_last_7d", dtype=Int64),
        Field(name="cancel_rate", dtype=Float64),
    ],
    source=customer_activity_source,
    online=True,
    description="Recent customer activity (not every customer every day)",
)

driver_status = FeatureView(
    name="driver_status",
    entities=[driver],
    # short: a status older than an hour is missing, in training frames and online alike
    ttl=timedelta(hours=1),
    schema=[
        Field(name="driver_id", dtype=Int64),
        # Feast serves timestamps as whole seconds; training frames carry them the same way
        Field(name="last_trip_at", dtype=UnixTimestamp),
        Field(name="online_minutes", dtype=Int64),
    ],
    source=driver_status_source,
    online=True,
    description="Where each driver is now (every two hours; stale after one)",
)

trip_acceptance_v1 = FeatureService(
    name="trip_acceptance_v1",
    features=[
        driver_stats[["conv_rate", "acc_rate", "avg_daily_trips", "vehicle_type", "rating"]],
        customer_profile[["customer_tier", "avg_rating_given"]],
        customer_activity[["trips_last_7d", "cancel_rate"]],
    ],
    description="Features of the trip_acceptance classifier",
)

tip_amount_v1 = FeatureService(
    name="tip_amount_v1",
    features=[
        driver_stats[["rating", "vehicle_type", "avg_daily_trips"]],
        customer_profile[["customer_tier", "lifetime_trips", "payment_method"]],
        customer_activity[["trips_last_7d"]],
    ],
    description="Features of the tip_amount regressor",
)


# -- real-time features: request data, an on-demand transformation, a push source ---------------

# the trip's distance is known only when the ride is requested: predict requests carry it in "request"
trip_request = RequestSource(name="trip_request", schema=[Field(name="trip_distance_km", dtype=Float64)])


@on_demand_feature_view(
    sources=[driver_stats, trip_request],
    schema=[
        Field(name="log_distance_km", dtype=Float64),
        Field(name="distance_x_acceptance", dtype=Float64),
    ],
    mode="pandas",
    description="Request-time trip features, computed the same way for training and serving",
)
def trip_context(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    out["log_distance_km"] = np.log1p(inputs["trip_distance_km"])
    out["distance_x_acceptance"] = inputs["trip_distance_km"] * inputs["acc_rate"]
    return out


# the driver's live acceptance rate, pushed by the dispatch service (modelyard push / POST /v1/push)
driver_live_push = PushSource(
    name="driver_live_push",
    batch_source=FileSource(
        name="driver_live_source", path="data/driver_live.parquet", timestamp_field="event_timestamp"
    ),
)

driver_live = FeatureView(
    name="driver_live",
    entities=[driver],
    ttl=timedelta(hours=6),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="live_acceptance_rate", dtype=Float64)],
    source=driver_live_push,
    online=True,
    description="The driver's acceptance rate over the last hour, pushed as it changes",
)

trip_acceptance_live_v1 = FeatureService(
    name="trip_acceptance_live_v1",
    features=[
        driver_stats[["conv_rate", "acc_rate", "avg_daily_trips", "vehicle_type", "rating"]],
        customer_profile[["customer_tier", "avg_rating_given"]],
        customer_activity[["trips_last_7d", "cancel_rate"]],
        driver_live[["live_acceptance_rate"]],
        trip_context,
    ],
    description="trip_acceptance's features plus the trip's distance and the driver's live acceptance rate",
)

driver_status_v1 = FeatureService(
    name="driver_status_v1",
    features=[driver_status],
    description="A driver's current status (short ttl, a timestamp feature): see docs/features.md",
)
