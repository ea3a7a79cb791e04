"""Artifact store identity: which store each version's artifact and each snapshot was written to.

Local stores record artifact URIs relative to the store (``objects/ab/<sha256>``), so the
URI alone no longer says where the files are. ``versions.artifact_store`` and
``snapshots.store`` hold the normalised URL of the store that wrote them (see
:func:`modelyard.artifacts.store.normalise_store_url`); gc compares it with its own store
before deleting anything. ``NULL`` for rows written before: an absolute URI names its store
itself, a relative one is resolved by content hash in the configured store.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.add_column(sa.Column("artifact_store", sa.Text, nullable=True))
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("store", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("store")
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("artifact_store")
