"""Every environment variable the project reads, typed and validated in one place, read once.

Embedded default (no servers): everything under METADATA_PIPELINES_HOME (default
~/.metadata-pipelines): the SQLite catalog, the credentials key file, and a Dagster instance home.
Production: METADATA_PIPELINES_CATALOG_URL points at PostgreSQL, METADATA_PIPELINES_SECRET_KEY holds the
key, DAGSTER_HOME holds a dagster.yaml on PostgreSQL (see the repository's dagster.yaml).

`get_settings()` reads the environment on first use and keeps the result for the process; a bad value
fails there with a `SettingsError` that names the variable. The README and docs/operations.md list
exactly these variables (a test checks it). Only the CLI (a credentials variable the user names) and
the Dagster instance module (which sets DAGSTER_HOME for Dagster) touch `os.environ` elsewhere.
"""

from __future__ import annotations

import functools
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "METADATA_PIPELINES_"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
CATALOG_URL_ENV = f"{PREFIX}CATALOG_URL"
SECRET_KEY_ENV = f"{PREFIX}SECRET_KEY"


def _cron(value: str) -> str:
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError("must be a 5-field cron expression")
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA timezone name such as UTC or Europe/Berlin") from None
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class Settings(BaseSettings):
    """The project's environment variables: METADATA_PIPELINES_<FIELD>, and DAGSTER_HOME."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True
    )

    home: Path = Field(
        default_factory=lambda: Path.home() / ".metadata-pipelines",
        description="embedded default: SQLite catalog, key file, Dagster instance home",
    )
    catalog_url: str | None = Field(default=None, description="SQLAlchemy URL of the catalog")
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key(s), comma-separated, for credentials at rest"
    )
    tenant: str = Field(default="default", min_length=1, description="tenant used by the CLI")
    retry_delay_seconds: float = Field(
        default=5.0, ge=0, description="first delay of the ops' retries"
    )
    run_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="a sync whose process has not renewed its lease this long is closed as failed",
    )
    max_delete_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="deletion fail-safe: share of a source's assets a sync may delete unconfirmed",
    )
    sensor_interval_seconds: Annotated[int, AfterValidator(lambda v: max(v, 1))] = Field(
        default=30, description="minimum seconds between two ticks of each sensor (at least 1)"
    )
    daily_sync_cron: Annotated[str, AfterValidator(_cron)] = Field(
        default="0 2 * * *", description="cron of daily_metadata_sync"
    )
    schedule_timezone: Annotated[str, AfterValidator(_timezone)] = Field(
        default="UTC", description="timezone of both schedules"
    )
    dagster_ui_url: Annotated[str, AfterValidator(lambda v: v.strip().rstrip("/"))] | None = Field(
        default=None, description="HTTP API: base URL of the Dagster UI, for links to runs"
    )
    api_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="HTTP API: largest request body accepted (bytes)"
    )
    log_format: Annotated[Literal["text", "json"], BeforeValidator(_lower)] = Field(
        default="text",
        description="process logs: `text` for people, `json` (one object a line) for log platforms",
    )
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
    ] = Field(default="INFO", description="least severe level the processes print")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="HTTP API: bearer token that `/metrics` requires (unset: no /metrics)",
    )
    handover_url: str | None = Field(
        default=None,
        description="where a run's steps hand batches over: a directory, or s3://bucket/prefix",
    )
    handover_s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint of an s3:// handover (MinIO, Ceph)"
    )
    handover_retention_days: float = Field(
        default=7.0, gt=0, description="what failed runs left in the handover is removed after"
    )
    executor: Literal["in_process", "multiprocess", "celery"] = Field(
        default="in_process",
        description="where the steps of a daemon-launched run execute (orchestration/executors.py)",
    )
    celery_broker_url: SecretStr | None = Field(
        default=None,
        description="Celery executor: the broker (RabbitMQ), amqp://user:password@host:5672/vhost",
    )
    dagster_home: Path | None = Field(
        default=None, validation_alias=DAGSTER_HOME_ENV, description="Dagster instance home"
    )

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable a field is read from."""
        alias = cls.model_fields[field].validation_alias
        return alias if isinstance(alias, str) else PREFIX + field.upper()

    @classmethod
    def variables(cls) -> list[str]:
        return [cls.variable(field) for field in cls.model_fields]

    def embedded_home(self) -> Path:
        return self.home.expanduser()

    def private_home(self) -> Path:
        """The embedded home, created (or tightened) to 0700: it holds the catalog with encrypted
        credentials, their key, and the Dagster instance with its logs."""
        path = self.embedded_home()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
        return path

    def catalog_database_url(self) -> str:
        return self.catalog_url or f"sqlite:///{self.embedded_home() / 'catalog.db'}"

    def key_file(self) -> Path:
        return self.embedded_home() / "secret.key"

    def dagster_instance_home(self) -> Path:
        return (self.dagster_home or self.embedded_home() / "dagster").expanduser()

    def handover_location(self) -> str:
        return self.handover_url or str(self.dagster_instance_home() / "handover")


# Never echoed in an error message: they hold keys or passwords.
SECRET_FIELDS = frozenset({"secret_key", "celery_broker_url", "metrics_token"})


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use."""


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first use."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_message(error)) from None


def _message(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        name = Settings.variable(field) if field in Settings.model_fields else field
        shown = "" if field in SECRET_FIELDS else f"={_shown(item.get('input'))}"
        problems.append(f"{name}{shown}: {item['msg']}")
    return "invalid environment: " + "; ".join(problems)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else "(unreadable)"
