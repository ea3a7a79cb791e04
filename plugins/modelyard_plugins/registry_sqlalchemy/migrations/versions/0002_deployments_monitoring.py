"""Rollout and monitoring state: deployments, deployment_events, monitor_results.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.UniqueConstraint("model", "revision", name="uq_deployment_events_model_revision"),
    )
    op.create_table(
        "monitor_results",
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
        sa.Column("window_start", TS, nullable=True),
        sa.Column("window_end", TS, nullable=True),
        sa.Column("n_reference", sa.BigInteger, nullable=True),
        sa.Column("n_current", sa.BigInteger, nullable=True),
        sa.Column("details", sa.JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_monitor_results_model_created", "monitor_results", ["model", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_monitor_results_model_created", table_name="monitor_results")
    for table in ("monitor_results", "deployment_events", "deployments"):
        op.drop_table(table)
