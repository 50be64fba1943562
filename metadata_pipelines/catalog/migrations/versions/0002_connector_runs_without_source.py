"""connector runs may outlive or precede their data source

A Dagster run launched for an unknown partition key, or for a data source removed while its run was
queued, still gets a connector-run row (the run-status sensors record its failure), but there is no
data source (and so no tenant) to point at. Both columns become nullable; rows of known sources are
unchanged and tenant-scoped queries never see the orphans.

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


def upgrade() -> None:
    with op.batch_alter_table("connector_runs", schema=None) as batch_op:
        batch_op.alter_column("tenant_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("data_source_id", existing_type=sa.String(length=36), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM connector_runs WHERE data_source_id IS NULL OR tenant_id IS NULL")
    with op.batch_alter_table("connector_runs", schema=None) as batch_op:
        batch_op.alter_column("data_source_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.alter_column("tenant_id", existing_type=sa.String(length=64), nullable=False)
