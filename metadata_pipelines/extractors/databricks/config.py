"""Databricks connector settings: validated up front so a bad value fails with its field's name.

The workspace URL must be https (plain http only towards a loopback host, for local fakes and tests),
because the access token travels in every request's Authorization header. Filters are regular
expressions matched against the short name or the dotted full name, so `sales` and `main\\.sales`
both work.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from metadata_pipelines.extractors.base import ConnectorConfig, ConnectorCredentials
from metadata_pipelines.extractors.hosts import is_loopback
from metadata_pipelines.extractors.patterns import NameFilter, Patterns

_WAREHOUSE_PATH = re.compile(r"/?sql/1\.0/(?:warehouses|endpoints)/([A-Za-z0-9_-]+)/?")


def warehouse_id_from_http_path(http_path: str) -> str:
    """The SQL warehouse id is the last segment of `/sql/1.0/warehouses/{id}` (or legacy endpoints)."""
    match = _WAREHOUSE_PATH.fullmatch(http_path.strip())
    if match is None:
        if "protocolv1" in http_path:
            raise ValueError(
                "this http_path points at an all-purpose cluster; give a SQL warehouse path "
                "such as /sql/1.0/warehouses/<warehouse id>"
            )
        raise ValueError(
            "expected a SQL warehouse path such as /sql/1.0/warehouses/<warehouse id> "
            "(see the warehouse's Connection details)"
        )
    return match.group(1)


class DatabricksConfig(ConnectorConfig):
    """Where the workspace is, what to read from it, and how hard to push it."""

    workspace_url: str = Field(description="https://<workspace>.cloud.databricks.com (no path)")
    catalog: str | None = Field(
        default=None, description="Read only this catalog; all visible catalogs when omitted."
    )
    http_path: str | None = Field(
        default=None,
        description="SQL warehouse path; when set, primary and foreign keys are read through it.",
    )
    include_catalogs: Patterns = Field(default_factory=list)
    exclude_catalogs: Patterns = Field(default_factory=list)
    include_schemas: Patterns = Field(default_factory=list)
    exclude_schemas: Patterns = Field(default_factory=list)
    include_tables: Patterns = Field(default_factory=list)
    exclude_tables: Patterns = Field(default_factory=list)
    include_information_schema: bool = Field(
        default=False,
        description="Also read each catalog's information_schema (system views; skipped by default).",
    )
    include_browse: bool = Field(
        default=False,
        description="Also list objects the principal may only browse (metadata without data access).",
    )
    include_view_dependencies: bool = Field(
        default=False,
        description="Read the tables and functions each view depends on: one GET per view, as "
        "listings leave them out.",
    )
    max_concurrent_requests: Annotated[int, Field(ge=1, le=256)] = 16
    request_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    retry_budget_seconds: Annotated[float, Field(ge=0, le=3600)] = 300.0
    statement_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0

    @field_validator("workspace_url")
    @classmethod
    def _check_workspace_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise ValueError(
                "must be an absolute URL such as https://<workspace>.cloud.databricks.com"
            )
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; put the token in the credentials")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        if parts.path not in {"", "/"}:
            raise ValueError("must be the workspace root, without a path")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("must use https (plain http is only allowed for a loopback host)")
        return value.rstrip("/")

    @field_validator("catalog")
    @classmethod
    def _check_catalog(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; omit it to read every visible catalog")
        return value

    @field_validator("http_path")
    @classmethod
    def _check_http_path(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        warehouse_id_from_http_path(value)
        return value.strip()

    @cached_property
    def warehouse_id(self) -> str | None:
        return warehouse_id_from_http_path(self.http_path) if self.http_path else None

    @cached_property
    def catalog_filter(self) -> NameFilter:
        return NameFilter(self.include_catalogs, self.exclude_catalogs)

    @cached_property
    def schema_filter(self) -> NameFilter:
        return NameFilter(self.include_schemas, self.exclude_schemas)

    @cached_property
    def table_filter(self) -> NameFilter:
        return NameFilter(self.include_tables, self.exclude_tables)


class DatabricksCredentials(ConnectorCredentials):
    """Either a personal access token, or an OAuth machine-to-machine client id and secret."""

    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _exactly_one_form(self) -> DatabricksCredentials:
        has_token = bool(self.access_token and self.access_token.get_secret_value())
        has_client = bool(self.client_id) or bool(
            self.client_secret and self.client_secret.get_secret_value()
        )
        if has_token and has_client:
            raise ValueError(
                "give either access_token or client_id + client_secret (OAuth M2M), not both"
            )
        if not has_token and not has_client:
            raise ValueError(
                "missing credentials: give access_token, or client_id + client_secret (OAuth M2M)"
            )
        if has_client and not (
            self.client_id and self.client_secret and self.client_secret.get_secret_value()
        ):
            raise ValueError("OAuth M2M needs both client_id and client_secret")
        return self

    @property
    def uses_oauth(self) -> bool:
        return self.access_token is None or not self.access_token.get_secret_value()
