"""nested fields: asset_fields keeps every field of a tree, keyed by its path

A field nested inside another (a STRUCT member, an array's element record, a map's values) is a row
of its own: `path` (models.field_path: `address.city`, `items[].sku`), `parent_path` / `parent_id`
(NULL at the top), `depth` (0 at the top), `repeated` (an array) and `inference` (how a field of an
inferred schema was observed). The unique key becomes `(asset_id, path)`.

Existing rows are top-level columns: their path is their name, quoted as a field path quotes it
(plain identifiers as they are, anything else in double quotes with inner quotes doubled).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")  # models._PLAIN as of this revision


def _quoted(name: str) -> str:
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def upgrade() -> None:
    with op.batch_alter_table("asset_fields", schema=None) as batch_op:
        batch_op.add_column(sa.Column("path", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("parent_path", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("parent_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("depth", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("repeated", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("inference", sa.JSON(none_as_null=True), nullable=True))

    fields = sa.table(
        "asset_fields",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("path", sa.Text),
        sa.column("data_type", sa.String),
        sa.column("repeated", sa.Boolean),
    )
    connection = op.get_bind()
    connection.execute(
        fields.update().values(path=fields.c.name, repeated=fields.c.data_type == "array")
    )
    odd = [
        {"b_id": row.id, "b_path": _quoted(row.name)}
        for row in connection.execute(sa.select(fields.c.id, fields.c.name))
        if _quoted(row.name) != row.name
    ]
    if odd:
        connection.execute(
            fields.update()
            .where(fields.c.id == sa.bindparam("b_id"))
            .values(path=sa.bindparam("b_path")),
            odd,
        )

    with op.batch_alter_table("asset_fields", schema=None) as batch_op:
        batch_op.alter_column("path", existing_type=sa.Text(), nullable=False)
        batch_op.drop_constraint("uq_asset_fields_asset_id_name", type_="unique")
        batch_op.create_unique_constraint("uq_asset_fields_asset_id_path", ["asset_id", "path"])
        batch_op.create_index("ix_asset_fields_parent_id", ["parent_id"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM asset_fields WHERE depth > 0")
    with op.batch_alter_table("asset_fields", schema=None) as batch_op:
        batch_op.drop_index("ix_asset_fields_parent_id")
        batch_op.drop_constraint("uq_asset_fields_asset_id_path", type_="unique")
        batch_op.create_unique_constraint("uq_asset_fields_asset_id_name", ["asset_id", "name"])
        batch_op.drop_column("inference")
        batch_op.drop_column("repeated")
        batch_op.drop_column("depth")
        batch_op.drop_column("parent_id")
        batch_op.drop_column("parent_path")
        batch_op.drop_column("path")
