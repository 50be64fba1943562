"""Catalog tables (SQLAlchemy Core). Alembic migrations in `migrations/` create exactly these.

Primary keys are client-generated UUID strings so that bulk inserts need no RETURNING round trip and
the same code runs on PostgreSQL and SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> sa.Column:
    return sa.Column("id", sa.String(36), primary_key=True)


def _timestamp(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


data_sources = sa.Table(
    "data_sources",
    metadata,
    _id(),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    # `<tenant>/<name>` slugged, fixed at creation (renames keep it): see partition_keys.py.
    sa.Column("partition_key", sa.String(160), nullable=False, unique=True),
    sa.Column("connector_type", sa.String(64), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("credentials_encrypted", sa.Text, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("sync_schedule", sa.String(120), nullable=True),
    _timestamp("created_at", nullable=False),
    _timestamp("updated_at", nullable=False),
    sa.UniqueConstraint("tenant_id", "name"),
)

# tenant_id / data_source_id are NULL only for a Dagster run whose partition key named no data
# source (unknown key, or a source removed while the run was queued): see migration 0002.
connector_runs = sa.Table(
    "connector_runs",
    metadata,
    _id(),
    sa.Column("tenant_id", sa.String(64), nullable=True),
    sa.Column(
        "data_source_id",
        sa.String(36),
        sa.ForeignKey("data_sources.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("dagster_run_id", sa.String(64), nullable=True, unique=True),
    sa.Column(
        "parent_run_id",
        sa.String(36),
        sa.ForeignKey("connector_runs.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("run_type", sa.String(32), nullable=False, server_default="metadata"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("will_retry", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("stats", sa.JSON, nullable=True),
    sa.Column("extraction_errors", sa.JSON, nullable=True),
    _timestamp("created_at", nullable=False),
    _timestamp("started_at"),
    _timestamp("finished_at"),
    # The lease: renewed while a process works on the run (see connector_runs.py).
    _timestamp("heartbeat_at"),
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Index("ix_connector_runs_source_created", "data_source_id", "created_at"),
    sa.Index("ix_connector_runs_status", "status"),
    # One pending or running sync per data source, enforced by the database itself.
    sa.Index(
        "uq_connector_runs_one_active_per_source",
        "data_source_id",
        unique=True,
        sqlite_where=sa.text("status IN ('pending', 'running')"),
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    ),
)

assets = sa.Table(
    "assets",
    metadata,
    _id(),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column(
        "data_source_id",
        sa.String(36),
        sa.ForeignKey("data_sources.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("parent_id", sa.String(36), nullable=True, index=True),
    sa.Column("asset_type", sa.String(16), nullable=False),
    sa.Column("qualified_name", sa.String(2048), nullable=False),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("database_name", sa.String(1024), nullable=True),
    sa.Column("schema_name", sa.String(1024), nullable=True),
    sa.Column("table_type", sa.String(32), nullable=True),
    sa.Column("native_type", sa.String(128), nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("owner", sa.String(512), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    _timestamp("first_seen_at", nullable=False),
    _timestamp("last_seen_at", nullable=False),
    _timestamp("updated_at", nullable=False),
    _timestamp("deleted_at"),
    sa.UniqueConstraint("data_source_id", "qualified_name"),
    sa.Index("ix_assets_tenant_source_type", "tenant_id", "data_source_id", "asset_type"),
)

asset_fields = sa.Table(
    "asset_fields",
    metadata,
    _id(),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("data_source_id", sa.String(36), nullable=False, index=True),
    sa.Column(
        "asset_id",
        sa.String(36),
        sa.ForeignKey("assets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # A field's path (models.field_path): its name for a top-level column, `address.city` or
    # `items[].sku` below one. parent_path / parent_id name the field it is nested in (NULL at the
    # top); depth is 0 at the top; ordinal counts among siblings.
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("parent_path", sa.Text, nullable=True),
    sa.Column("parent_id", sa.String(36), nullable=True, index=True),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("native_type", sa.Text, nullable=False),
    sa.Column("data_type", sa.String(32), nullable=False),
    sa.Column("nullable", sa.Boolean, nullable=False),
    sa.Column("default_value", sa.Text, nullable=True),
    sa.Column("is_primary_key", sa.Boolean, nullable=False),
    sa.Column("repeated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("properties", sa.JSON, nullable=False),
    # models.FieldInference for a field of an inferred schema (sampled documents, messages, files).
    sa.Column("inference", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    _timestamp("created_at", nullable=False),
    _timestamp("updated_at", nullable=False),
    _timestamp("deleted_at"),
    sa.UniqueConstraint("asset_id", "path"),
)

# HTTP API keys: only a SHA-256 digest of each key is stored; `prefix` (the key's first characters,
# not secret) identifies it in listings. A revoked key keeps its row so listings show it.
api_keys = sa.Table(
    "api_keys",
    metadata,
    _id(),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    _timestamp("created_at", nullable=False),
    _timestamp("revoked_at"),
)

# Idempotency-Key of a POST: what the first request with that key created, replayed to any retry.
api_idempotency_keys = sa.Table(
    "api_idempotency_keys",
    metadata,
    _id(),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(36), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    _timestamp("created_at", nullable=False),
    sa.UniqueConstraint("tenant_id", "idempotency_key"),
)
