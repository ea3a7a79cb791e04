"""Initial registry schema: models, versions, params, metrics, snapshots, aliases, alias history.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "versions",
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
        sa.Column("created_at", TS, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("model_id", "version", name="uq_versions_model_version"),
    )
    op.create_table(
        "version_params",
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value_json", sa.Text, nullable=False),
        sa.Column("value_num", sa.Float, nullable=True),
    )
    op.create_table(
        "version_metrics",
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Float, nullable=True),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("feature_service", sa.String(200), nullable=False, server_default=""),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("start_time", TS, nullable=True),
        sa.Column("end_time", TS, nullable=True),
        sa.Column("feature_refs", sa.JSON, nullable=False),
        sa.Column("schema_fingerprint", sa.String(64), nullable=True),
        sa.Column("profile", sa.JSON, nullable=True),
        sa.Column("entities_uri", sa.Text, nullable=True),
        sa.Column("entities_sha256", sa.String(64), nullable=True),
        sa.Column("entities_size", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "alias_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False, unique=True),
    )
    op.create_index("ix_alias_events_model_alias", "alias_events", ["model_id", "alias"])
    counters = op.create_table(
        "registry_counters",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(counters, [{"name": "alias_revision", "value": 0}])


def downgrade() -> None:
    for table in (
        "registry_counters",
        "alias_events",
        "aliases",
        "snapshots",
        "version_metrics",
        "version_params",
        "versions",
        "models",
    ):
        op.drop_table(table)
