"""Feast definitions of the rideshare example: two entities, three feature views, two feature services.

Sources are Parquet files written by ``python -m modelyard.examples.rideshare --repo .``; their paths
are relative to this repo, so a copy of the repo works wherever it is put.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

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
