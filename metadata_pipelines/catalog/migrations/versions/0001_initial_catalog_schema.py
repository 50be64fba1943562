"""initial catalog schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 19:04:44.058558
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "data_sources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("connector_type", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("credentials_encrypted", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("sync_schedule", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_sources")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_data_sources_tenant_id_name")),
    )
    with op.batch_alter_table("data_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_sources_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "assets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("data_source_id", sa.String(length=36), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("asset_type", sa.String(length=16), nullable=False),
        sa.Column("qualified_name", sa.String(length=2048), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("database_name", sa.String(length=1024), nullable=True),
        sa.Column("schema_name", sa.String(length=1024), nullable=True),
        sa.Column("table_type", sa.String(length=32), nullable=True),
        sa.Column("native_type", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=512), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["data_sources.id"],
            name=op.f("fk_assets_data_source_id_data_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
        sa.UniqueConstraint(
            "data_source_id", "qualified_name", name=op.f("uq_assets_data_source_id_qualified_name")
        ),
    )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assets_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(
            "ix_assets_tenant_source_type",
            ["tenant_id", "data_source_id", "asset_type"],
            unique=False,
        )

    op.create_table(
        "connector_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("data_source_id", sa.String(length=36), nullable=False),
        sa.Column("dagster_run_id", sa.String(length=64), nullable=True),
        sa.Column("parent_run_id", sa.String(length=36), nullable=True),
        sa.Column("run_type", sa.String(length=32), server_default="metadata", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("will_retry", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("extraction_errors", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["data_sources.id"],
            name=op.f("fk_connector_runs_data_source_id_data_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_run_id"],
            ["connector_runs.id"],
            name=op.f("fk_connector_runs_parent_run_id_connector_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_runs")),
        sa.UniqueConstraint("dagster_run_id", name=op.f("uq_connector_runs_dagster_run_id")),
    )
    with op.batch_alter_table("connector_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_connector_runs_source_created", ["data_source_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_connector_runs_status", ["status"], unique=False)

    op.create_table(
        "asset_fields",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("data_source_id", sa.String(length=36), nullable=False),
        sa.Column("asset_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("native_type", sa.Text(), nullable=False),
        sa.Column("data_type", sa.String(length=32), nullable=False),
        sa.Column("nullable", sa.Boolean(), nullable=False),
        sa.Column("default_value", sa.Text(), nullable=True),
        sa.Column("is_primary_key", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_asset_fields_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_fields")),
        sa.UniqueConstraint("asset_id", "name", name=op.f("uq_asset_fields_asset_id_name")),
    )
    with op.batch_alter_table("asset_fields", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_asset_fields_data_source_id"), ["data_source_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("asset_fields", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_fields_data_source_id"))

    op.drop_table("asset_fields")
    with op.batch_alter_table("connector_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_connector_runs_status")
        batch_op.drop_index("ix_connector_runs_source_created")

    op.drop_table("connector_runs")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index("ix_assets_tenant_source_type")
        batch_op.drop_index(batch_op.f("ix_assets_parent_id"))

    op.drop_table("assets")
    with op.batch_alter_table("data_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_sources_tenant_id"))

    op.drop_table("data_sources")
