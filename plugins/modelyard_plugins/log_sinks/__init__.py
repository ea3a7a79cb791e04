"""Prediction-log sinks: rolled Parquet files (default) and a PostgreSQL table."""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import LogSinkSpec


@hookimpl
def modelyard_log_sinks():
    yield LogSinkSpec(
        name="parquet",
        summary="Parquet files under the yard's home, rolled by size and time.",
        factory="modelyard_plugins.log_sinks.parquet:ParquetSink",
        config="modelyard_plugins.log_sinks.parquet:ParquetSinkConfig",
    )
    yield LogSinkSpec(
        name="postgres",
        summary="A PostgreSQL table, written in batches.",
        factory="modelyard_plugins.log_sinks.postgres:PostgresSink",
        config="modelyard_plugins.log_sinks.postgres:PostgresSinkConfig",
    )
