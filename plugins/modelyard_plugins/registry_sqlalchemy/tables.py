"""The registry's tables as SQLAlchemy Core metadata (the schema at the newest migration).

The database itself is created and upgraded by the Alembic migrations in
``migrations/versions``; this module mirrors their end state for queries. A change here
always comes with a new migration.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

UTC_DATETIME = sa.DateTime(timezone=True)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("flavor", sa.String(100), nullable=False),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("artifact_size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("snapshot_id", sa.String(100), nullable=True),
    sa.Column("feature_service", sa.String(200), nullable=False, server_default=""),
    sa.Column("schema_fingerprint", sa.String(64), nullable=True),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("git_dirty", sa.Boolean, nullable=True),
    sa.Column("python_version", sa.String(50), nullable=False, server_default=""),
    sa.Column("libraries", sa.JSON, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("code_sha256", sa.String(64), nullable=True),
    sa.Column("config_sha256", sa.String(64), nullable=True),
    sa.Column("artifact_store", sa.Text, nullable=True),
    sa.UniqueConstraint("model_id", "version", name="uq_versions_model_version"),
)

version_params = sa.Table(
    "version_params",
    metadata,
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value_json", sa.Text, nullable=False),
    sa.Column("value_num", sa.Float, nullable=True),
)

version_metrics = sa.Table(
    "version_metrics",
    metadata,
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Float, nullable=True),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("feature_service", sa.String(200), nullable=False, server_default=""),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("start_time", UTC_DATETIME, nullable=True),
    sa.Column("end_time", UTC_DATETIME, nullable=True),
    sa.Column("feature_refs", sa.JSON, nullable=False),
    sa.Column("schema_fingerprint", sa.String(64), nullable=True),
    sa.Column("profile", sa.JSON, nullable=True),
    sa.Column("entities_uri", sa.Text, nullable=True),
    sa.Column("entities_sha256", sa.String(64), nullable=True),
    sa.Column("entities_size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("store", sa.Text, nullable=True),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UTC_DATETIME, nullable=False),
)

alias_events = sa.Table(
    "alias_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UTC_DATETIME, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False, unique=True),
    sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_alias_events_model_alias", "model_id", "alias"),
)

counters = sa.Table(
    "registry_counters",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("updated_at", UTC_DATETIME, nullable=False),
)

deployment_events = sa.Table(
    "deployment_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UTC_DATETIME, nullable=False),
    sa.UniqueConstraint("model", "revision", name="uq_deployment_events_model_revision"),
)

monitor_results = sa.Table(
    "monitor_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("variant", sa.String(100), nullable=True),
    sa.Column("monitor", sa.String(200), nullable=False),
    sa.Column("detector", sa.String(200), nullable=False),
    sa.Column("feature", sa.String(200), nullable=True),
    sa.Column("statistic", sa.String(100), nullable=True),
    sa.Column("p_value", sa.Float, nullable=True),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("drifted", sa.Boolean, nullable=True),
    sa.Column("window_start", UTC_DATETIME, nullable=True),
    sa.Column("window_end", UTC_DATETIME, nullable=True),
    sa.Column("n_reference", sa.BigInteger, nullable=True),
    sa.Column("n_current", sa.BigInteger, nullable=True),
    sa.Column("details", sa.JSON, nullable=True),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Index("ix_monitor_results_model_created", "model", "created_at"),
)
