"""Request and response bodies of the HTTP API. None of them carries credentials or the values of
secret config fields; request bodies refuse unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from metadata_pipelines.catalog.data_sources import validate_cron
from metadata_pipelines.catalog.records import RunStatus


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Always with a UTC offset: a SQLite catalog hands back naive datetimes (stored as UTC).
Timestamp = Annotated[datetime, AfterValidator(_utc)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _cron(expression: str | None) -> str | None:
    return validate_cron(expression) if expression else None


class DataSourceCreate(_Request):
    name: str = Field(min_length=1, max_length=255)
    connector_type: str = Field(min_length=1, max_length=64)
    config: dict[str, Any]
    credentials: dict[str, Any] | None = Field(
        default=None, description="Stored encrypted; never returned."
    )
    sync_schedule: str | None = Field(
        default=None, max_length=120, description="Cron expression (5 fields) of its own schedule."
    )
    enabled: bool = True

    _valid_schedule = field_validator("sync_schedule")(_cron)


class DataSourceUpdate(_Request):
    """Only the fields given change; `config` and `credentials` are replaced whole;
    `sync_schedule: null` removes the source's own schedule."""

    config: dict[str, Any] | None = None
    credentials: dict[str, Any] | None = None
    sync_schedule: str | None = Field(default=None, max_length=120)
    enabled: bool | None = None

    _valid_schedule = field_validator("sync_schedule")(_cron)


class RunRequest(_Request):
    run_type: Literal["metadata"] = "metadata"


class DataSourceLinks(BaseModel):
    self: str
    runs: str
    assets: str


class DataSourceOut(BaseModel):
    id: str
    name: str
    partition_key: str = Field(
        description=(
            "The source's Dagster partition key, `<tenant>/<name>` slugged: fixed when the source "
            "is created, kept when it is renamed."
        )
    )
    connector_type: str
    config: dict[str, Any] = Field(description="Secret fields, if a connector has any, are masked.")
    has_credentials: bool
    enabled: bool
    sync_schedule: str | None
    created_at: Timestamp
    updated_at: Timestamp
    links: DataSourceLinks


class RunError(BaseModel):
    code: str | None
    message: str | None


class RunLinks(BaseModel):
    self: str
    data_source: str | None
    dagster_run: str | None = Field(
        description="The run in the Dagster UI, when METADATA_PIPELINES_DAGSTER_UI_URL is set."
    )


class ConnectorRunOut(BaseModel):
    id: str
    data_source_id: str | None
    run_type: str
    status: RunStatus
    trigger: str | None
    attempts: int
    will_retry: bool
    error: RunError | None
    stats: dict[str, Any] | None = Field(description="What was extracted and written.")
    changes: dict[str, Any] | None = Field(
        description="Tables and columns added, removed or retyped (capped lists, exact counts)."
    )
    extraction_errors: list[dict[str, Any]] | None
    dagster_run_id: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    links: RunLinks


class DataSourceCreated(DataSourceOut):
    first_run: ConnectorRunOut | None = Field(description="The first sync, requested at once.")


class ConnectionTestOut(BaseModel):
    ok: bool
    message: str | None


class AssetOut(BaseModel):
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
    first_seen_at: Timestamp
    last_seen_at: Timestamp
    updated_at: Timestamp
    deleted_at: Timestamp | None
    links: dict[str, str]


class FieldOut(BaseModel):
    """A column (`depth` 0) or a field nested in one (a STRUCT member, an array element's field),
    listed depth first: each field is followed by the fields nested in it."""

    path: str = Field(description="Field path: `address.city`, `items[].sku`; a column's name.")
    parent_path: str | None
    depth: int
    name: str
    ordinal: int = Field(description="Position among its siblings, from 1.")
    native_type: str
    data_type: str
    nullable: bool
    repeated: bool = Field(description="An array: its nested fields describe each element.")
    default_value: str | None
    is_primary_key: bool
    description: str | None
    properties: dict[str, Any]
    inference: dict[str, Any] | None = Field(
        description="For a field of an inferred schema: sample size, presence, observed types."
    )


class AssetStatistics(BaseModel):
    row_count: int | None = None
    size_bytes: int | None = None


class AssetDetailOut(AssetOut):
    fields: list[FieldOut]
    constraints: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    statistics: AssetStatistics
    details: dict[str, Any] = Field(description="Everything else the connector extracted.")
