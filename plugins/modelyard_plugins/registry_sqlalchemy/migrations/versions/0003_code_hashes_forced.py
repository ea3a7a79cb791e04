"""Reproducibility and gates: code and config hashes on versions, forced promotions.

``versions.code_sha256`` is the sha256 of the training function's source file and
``versions.config_sha256`` that of the yard's ``modelyard.yaml`` at registration (both
``NULL`` for versions registered before). ``alias_events.forced`` marks a promotion forced
past the model's gates (``false`` for every earlier event).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.add_column(sa.Column("code_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("config_sha256", sa.String(64), nullable=True))
    with op.batch_alter_table("alias_events") as batch:
        batch.add_column(sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("alias_events") as batch:
        batch.drop_column("forced")
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("config_sha256")
        batch.drop_column("code_sha256")
