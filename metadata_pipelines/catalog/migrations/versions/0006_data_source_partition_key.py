"""data sources: a readable partition key, `<tenant>/<name>` slugged, unique across tenants

Each existing source gets the key it would get if created now (partition_keys.py), in creation
order, so when two sources' names slug alike the older keeps the plain key and the newer gets the
short id suffix. The key is then required and unique. This renames nothing in Dagster: its
partitions and runs still carry the ids until the orchestration's partition-key migration moves them
(the first `data_source_sensor` tick, the first in-process sync, or `metadata-pipelines migrate`;
see orchestration/partition_migration.py).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from metadata_pipelines.catalog.partition_keys import candidate_keys

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_sources = sa.table(
    "data_sources",
    sa.column("id", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("partition_key", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("data_sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partition_key", sa.String(160), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            _sources.c.id, _sources.c.tenant_id, _sources.c.name, _sources.c.partition_key
        ).order_by(_sources.c.created_at, _sources.c.id)
    ).all()
    taken = {row.partition_key for row in rows if row.partition_key}
    for row in rows:
        if row.partition_key:
            continue
        key = next(k for k in candidate_keys(row.tenant_id, row.name, row.id) if k not in taken)
        taken.add(key)
        connection.execute(
            _sources.update().where(_sources.c.id == row.id).values(partition_key=key)
        )
    with op.batch_alter_table("data_sources", schema=None) as batch_op:
        batch_op.alter_column("partition_key", existing_type=sa.String(160), nullable=False)
        batch_op.create_unique_constraint("uq_data_sources_partition_key", ["partition_key"])


def downgrade() -> None:
    with op.batch_alter_table("data_sources", schema=None) as batch_op:
        batch_op.drop_constraint("uq_data_sources_partition_key", type_="unique")
        batch_op.drop_column("partition_key")
