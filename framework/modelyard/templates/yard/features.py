"""Feature definitions of this yard: one entity, one feature view, one feature service.

``modelyard apply`` validates the models in modelyard.yaml against these definitions and
then registers them with Feast; ``modelyard materialize`` loads them into the online store.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Int64, String

driver = Entity(
    name="driver",
    join_keys=["driver_id"],
    value_type=ValueType.INT64,
    description="A driver on the platform.",
)

driver_stats_source = FileSource(
    name="driver_stats_source",
    path="data/driver_stats.parquet",  # relative to this repo; `modelyard init` wrote example rows
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(days=2),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
        Field(name="city", dtype=String),
    ],
    source=driver_stats_source,
    online=True,
)

# A model reads exactly the features of its FeatureService, in this order.
driver_quality = FeatureService(name="driver_quality", features=[driver_stats])
