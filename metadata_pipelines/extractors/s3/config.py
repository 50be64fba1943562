"""S3 connector settings and credentials, validated before any request is sent.

Buckets are listed explicitly or discovered (every bucket the credentials can list), then filtered by
include / exclude patterns (`re.fullmatch` on the bucket name). `path_specs` group object keys into
datasets (see layout.py for the grammar); without them each top-level prefix is one dataset.

Credentials: an access key and secret (and a session token for temporary keys), or nothing, which
means botocore's default chain (environment, shared profile, instance or task role). `role_arn`
is assumed on top of either.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from metadata_pipelines.extractors.base import ConnectorConfig, ConnectorCredentials
from metadata_pipelines.extractors.hosts import is_loopback
from metadata_pipelines.extractors.patterns import NameFilter, NamePattern
from metadata_pipelines.extractors.s3.layout import PathSpec, PathSpecError

Format = Literal["parquet", "csv", "tsv", "json", "avro", "delta", "iceberg"]
ALL_FORMATS: tuple[Format, ...] = ("parquet", "csv", "tsv", "json", "avro", "delta", "iceberg")
# A bucket name as S3 accepts it (3-63 characters; dots allowed for legacy buckets).
_BUCKET_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-")


class S3Config(ConnectorConfig):
    """Which buckets and prefixes to read, how keys form datasets, and how much to read per file."""

    buckets: list[Annotated[str, Field(min_length=3, max_length=63)]] = Field(
        default_factory=list,
        description="Buckets to read; every bucket the credentials can list when empty.",
    )
    include_buckets: list[NamePattern] = Field(default_factory=list)
    exclude_buckets: list[NamePattern] = Field(default_factory=list)
    path_specs: list[str] = Field(
        default_factory=list,
        description="Templates that group keys into datasets, e.g. "
        "'s3://lake/{table}/year={year}/*.parquet'; the default layout when empty.",
    )
    formats: list[Format] = Field(default_factory=lambda: list(ALL_FORMATS))
    endpoint_url: str | None = Field(
        default=None, description="An S3-compatible endpoint (MinIO, Ceph, R2, GCS interop)."
    )
    region: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    max_files_sampled_per_dataset: Annotated[int, Field(ge=1, le=100)] = 3
    max_bytes_read_per_file: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    text_sample_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = Field(
        default=64 * 1024,
        description="Bytes read from the start of a CSV / JSON file (at most "
        "max_bytes_read_per_file).",
    )
    max_concurrent_requests: Annotated[int, Field(ge=1, le=64)] = 16
    batch_max_tables: Annotated[int, Field(ge=1, le=100_000)] = 500
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    read_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    retry_mode: Literal["standard", "adaptive"] = "standard"

    @field_validator("buckets")
    @classmethod
    def _check_buckets(cls, values: list[str]) -> list[str]:
        for value in values:
            if not set(value) <= _BUCKET_CHARS or value[0] in ".-" or value[-1] in ".-":
                raise ValueError(f"{value!r} is not an S3 bucket name")
        if len(set(values)) != len(values):
            raise ValueError("buckets must not repeat")
        return values

    @field_validator("path_specs")
    @classmethod
    def _check_path_specs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                PathSpec.parse(value)
            except PathSpecError as error:
                raise ValueError(str(error)) from None
        return values

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise ValueError("endpoint_url must be an absolute https URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("endpoint_url must not carry credentials, a query or a fragment")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("endpoint_url must use https (plain http only for a loopback host)")
        return value.strip().rstrip("/")

    @cached_property
    def bucket_filter(self) -> NameFilter:
        return NameFilter(self.include_buckets, self.exclude_buckets)

    @cached_property
    def specs(self) -> list[PathSpec]:
        return [PathSpec.parse(value) for value in self.path_specs]


class S3Credentials(ConnectorCredentials):
    """An access key pair (and session token), or none for botocore's default chain."""

    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    role_arn: str | None = None
    external_id: SecretStr | None = None

    @model_validator(mode="after")
    def _pairs(self) -> S3Credentials:
        has_secret = bool(self.secret_access_key and self.secret_access_key.get_secret_value())
        if bool(self.access_key_id) != has_secret:
            raise ValueError("access_key_id and secret_access_key go together")
        if self.session_token and not self.access_key_id:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        if self.role_arn is not None and not self.role_arn.startswith("arn:"):
            raise ValueError("role_arn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        return self
