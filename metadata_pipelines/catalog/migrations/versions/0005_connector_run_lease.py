"""connector runs: a lease (heartbeat, worker) and at most one active run per data source

`heartbeat_at` is renewed while a process works on the run and `worker` names that process
(`host:pid`); a run whose heartbeat is older than the lease is closed by reconciliation. A unique
partial index on `data_source_id` over the `pending` and `running` rows makes "one sync per source
at a time" atomic in the catalog. Of several active rows of one source already present, the newest
stays active and the others are closed as failed (`superseded`) first.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('pending', 'running')"
INDEX = "uq_connector_runs_one_active_per_source"


def upgrade() -> None:
    op.execute(
        "UPDATE connector_runs SET status = 'failed', error_code = 'superseded', "
        "error_message = 'closed by migration 0005: a newer sync of the source was active', "
        f"finished_at = CURRENT_TIMESTAMP WHERE {ACTIVE} AND data_source_id IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM connector_runs AS newer "
        "WHERE newer.data_source_id = connector_runs.data_source_id "
        "AND newer.status IN ('pending', 'running') "
        "AND (newer.created_at > connector_runs.created_at OR "
        "(newer.created_at = connector_runs.created_at AND newer.id > connector_runs.id)))"
    )
    with op.batch_alter_table("connector_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("worker", sa.String(255), nullable=True))
    op.create_index(
        INDEX,
        "connector_runs",
        ["data_source_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="connector_runs")
    with op.batch_alter_table("connector_runs", schema=None) as batch_op:
        batch_op.drop_column("worker")
        batch_op.drop_column("heartbeat_at")
