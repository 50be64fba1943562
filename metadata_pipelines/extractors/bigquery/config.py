"""BigQuery connector settings and credentials, validated before anything is sent.

Patterns are Python regular expressions matched against the whole name (`re.fullmatch`); dataset
patterns are tried against `dataset` and `project.dataset`, table patterns against `table`,
`dataset.table` and `project.dataset.table`, so a pattern can be as narrow as needed.

Credentials come in three forms: a service-account key (its JSON, stored encrypted as a SecretStr),
Application Default Credentials (nothing stored: the worker's environment, workload identity or
metadata server provides them), or anonymous access, which only an emulator on loopback accepts.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from metadata_pipelines.extractors.base import ConnectorConfig, ConnectorCredentials
from metadata_pipelines.extractors.hosts import is_loopback
from metadata_pipelines.extractors.patterns import NameFilter, Patterns

DEFAULT_API_ENDPOINT = "https://bigquery.googleapis.com"
BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery"
_PROJECT_ID = re.compile(r"(?:[a-z][a-z0-9.:-]{1,62}[a-z0-9]|[a-z][a-z0-9-]{4,28}[a-z0-9])")


def _https_or_loopback(value: str, what: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError(f"{what} must be an absolute https URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{what} must not carry credentials, a query string or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"{what} must use https (plain http only for a loopback host)")
    return value.strip().rstrip("/")


class BigQueryConfig(ConnectorConfig):
    """Which projects, regions, datasets and tables to read, and how hard to push the API."""

    project_ids: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Projects to read; every project the credentials can list when empty.",
    )
    locations: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Read only datasets in these locations (US, EU, us-central1, ...); all when empty.",
    )
    billing_project: str | None = Field(
        default=None,
        description="Project that runs (and pays for) the INFORMATION_SCHEMA jobs; by default "
        "the project being read.",
    )
    include_projects: Patterns = Field(default_factory=list)
    exclude_projects: Patterns = Field(default_factory=list)
    include_datasets: Patterns = Field(default_factory=list)
    exclude_datasets: Patterns = Field(default_factory=list)
    include_tables: Patterns = Field(default_factory=list)
    exclude_tables: Patterns = Field(default_factory=list)
    include_views: bool = True
    include_statistics: bool = True
    include_routines: bool = True
    metadata_only: bool = Field(
        default=False,
        description="Use only the free REST calls (lists and gets, one tables.get per table); "
        "no query job is run, so nothing is billed.",
    )
    api_endpoint: str = DEFAULT_API_ENDPOINT
    max_concurrent_requests: Annotated[int, Field(ge=1, le=64)] = 16
    max_concurrent_datasets: Annotated[int, Field(ge=1, le=64)] = 8
    max_table_gets_per_dataset: Annotated[int, Field(ge=0, le=100_000)] = Field(
        default=500,
        description="Most tables.get calls a dataset may fall back to when INFORMATION_SCHEMA "
        "is denied or misses tables (ignored with metadata_only).",
    )
    batch_max_tables: Annotated[int, Field(ge=1, le=100_000)] = 2000
    maximum_bytes_billed: Annotated[int, Field(ge=10 * 1024 * 1024)] | None = Field(
        default=None, description="Refuse any INFORMATION_SCHEMA job that would bill more."
    )
    request_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    job_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0
    retry_deadline_seconds: Annotated[float, Field(ge=0, le=3600)] = 300.0
    retry_initial_delay_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0

    @field_validator("api_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.path not in {"", "/"}:
            raise ValueError("api_endpoint must be a root URL without a path")
        return _https_or_loopback(value, "api_endpoint")

    @field_validator("project_ids")
    @classmethod
    def _check_projects(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _PROJECT_ID.fullmatch(value):
                raise ValueError(f"{value!r} is not a BigQuery project id")
        if len(set(values)) != len(values):
            raise ValueError("project ids must not repeat")
        return values

    @field_validator("billing_project")
    @classmethod
    def _check_billing_project(cls, value: str | None) -> str | None:
        if value is not None and not _PROJECT_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a BigQuery project id")
        return value

    @cached_property
    def project_filter(self) -> NameFilter:
        return NameFilter(self.include_projects, self.exclude_projects)

    @cached_property
    def dataset_filter(self) -> NameFilter:
        return NameFilter(self.include_datasets, self.exclude_datasets)

    @cached_property
    def table_filter(self) -> NameFilter:
        return NameFilter(self.include_tables, self.exclude_tables)

    @cached_property
    def wanted_locations(self) -> frozenset[str]:
        return frozenset(location.lower() for location in self.locations)

    @property
    def on_loopback(self) -> bool:
        return is_loopback(urlsplit(self.api_endpoint).hostname)


_KEY_FIELDS = ("client_email", "private_key", "token_uri")


class BigQueryCredentials(ConnectorCredentials):
    """A service-account key, Application Default Credentials, or anonymous (emulators only).

    `method` is inferred: a key given means `service_account`, nothing given means
    `application_default`.
    """

    method: Literal["service_account", "application_default", "anonymous"] | None = None
    service_account_json: SecretStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BigQueryCredentials:
        has_key = bool(self.service_account_json and self.service_account_json.get_secret_value())
        if self.method is None:
            object.__setattr__(
                self, "method", "service_account" if has_key else "application_default"
            )
        if self.method == "service_account" and not has_key:
            raise ValueError("service_account needs service_account_json (the key file's JSON)")
        if self.method != "service_account" and has_key:
            raise ValueError(f"service_account_json is not used with method {self.method!r}")
        if has_key:
            self.key_info  # noqa: B018 (validates the key's shape)
        return self

    @cached_property
    def key_info(self) -> dict[str, Any]:
        """The parsed service-account key; its shape is checked, its values never echoed."""
        assert self.service_account_json is not None
        try:
            info = json.loads(self.service_account_json.get_secret_value())
        except ValueError:
            raise ValueError("service_account_json is not valid JSON") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise ValueError('service_account_json must be a key of "type": "service_account"')
        missing = [key for key in _KEY_FIELDS if not isinstance(info.get(key), str)]
        if missing:
            raise ValueError(f"service_account_json lacks {', '.join(missing)}")
        _https_or_loopback(info["token_uri"], "service_account_json token_uri")
        return info

    def secret_values(self) -> list[str]:
        values = super().secret_values()
        if self.method == "service_account":
            info = self.key_info
            values += [info[k] for k in ("private_key", "private_key_id") if info.get(k)]
        return values
