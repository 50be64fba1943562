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
