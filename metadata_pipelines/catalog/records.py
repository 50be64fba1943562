"""Read models of catalog rows. None of them carries credentials."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class DataSource(_Record):
    id: str
    tenant_id: str
    name: str
    partition_key: str
    connector_type: str
    config: dict[str, Any]
    has_credentials: bool
    enabled: bool
    sync_schedule: str | None
    created_at: datetime
    updated_at: datetime


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


class ConnectorRun(_Record):
    """One Dagster run's sync. `data_source_id` / `tenant_id` are None only for a run whose
    partition key named no data source (it failed, and the run-status sensor recorded why)."""

    id: str
    tenant_id: str | None
    data_source_id: str | None
    dagster_run_id: str | None
    parent_run_id: str | None
    run_type: str
    status: RunStatus
    trigger: str | None
    attempts: int
    will_retry: bool
    error_code: str | None
    error_message: str | None
    stats: dict[str, Any] | None
    extraction_errors: list[dict[str, Any]] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None = None
    worker: str | None = None


class ApiKey(_Record):
    """An HTTP API key as listed: never the key itself nor its digest."""

    id: str
    tenant_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class Asset(_Record):
    """A catalog asset as listed (its `details` only on AssetDetail)."""

    id: str
    data_source_id: str
    parent_id: str | None
    asset_type: str
    qualified_name: str
    name: str
    database_name: str | None
    schema_name: str | None
    table_type: str | None
    native_type: str | None
    description: str | None
    owner: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class AssetField(_Record):
    """A column (depth 0) or a field nested in one; `path` is its models.field_path."""

    path: str
    parent_path: str | None
    depth: int
    name: str
    ordinal: int
    native_type: str
    data_type: str
    nullable: bool
    repeated: bool
    default_value: str | None
    is_primary_key: bool
    description: str | None
    properties: dict[str, Any]
    inference: dict[str, Any] | None


class AssetDetail(Asset):
    """An asset with everything stored about it: `details` (constraints, indexes, statistics and
    connector-specific facts, as extracted) and its live fields in tree order."""

    details: dict[str, Any]
    fields: list[AssetField]
