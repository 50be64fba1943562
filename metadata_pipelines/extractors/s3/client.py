"""boto3 for S3: one client per extractor, retries by botocore (standard / adaptive mode), every
request and every byte read counted (`Accounting`) for logs and the benchmark.

boto3 clients are thread-safe, so calls run in worker threads (`asyncio.to_thread`) bounded by
`max_concurrent_requests`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from metadata_pipelines.extractors.s3.config import S3Config, S3Credentials
from metadata_pipelines.extractors.s3.layout import ObjectInfo


@dataclass
class Accounting:
    """Requests sent (by operation) and bytes read by GETs."""

    requests: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, operation: str, read: int = 0) -> None:
        with self._lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            self.bytes_read += read

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def build_session(config: S3Config, credentials: S3Credentials) -> boto3.Session:
    """A session with the stored keys, or botocore's default chain; the role assumed on top."""
    keys: dict[str, Any] = {}
    if credentials.access_key_id and credentials.secret_access_key:
        keys = {
            "aws_access_key_id": credentials.access_key_id,
            "aws_secret_access_key": credentials.secret_access_key.get_secret_value(),
        }
        if credentials.session_token:
            keys["aws_session_token"] = credentials.session_token.get_secret_value()
    session = boto3.Session(region_name=config.region, **keys)
    if credentials.role_arn is None:
        return session
    sts = session.client("sts", endpoint_url=config.endpoint_url, config=_client_config(config))
    extra = (
        {"ExternalId": credentials.external_id.get_secret_value()}
        if credentials.external_id
        else {}
    )
    assumed = sts.assume_role(
        RoleArn=credentials.role_arn, RoleSessionName="metadata-pipelines", **extra
    )["Credentials"]
    return boto3.Session(
        region_name=config.region,
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
    )


def _client_config(config: S3Config) -> Config:
    return Config(
        # botocore's `max_attempts` counts retries; `total_max_attempts` counts attempts, which is
        # what the setting says.
        retries={"mode": config.retry_mode, "total_max_attempts": config.max_attempts},
        connect_timeout=config.connect_timeout_seconds,
        read_timeout=config.read_timeout_seconds,
        max_pool_connections=config.max_concurrent_requests,
        s3={"addressing_style": config.addressing_style},
    )


class S3Api:
    """The few S3 operations the connector uses, each counted."""

    def __init__(self, config: S3Config, session: boto3.Session) -> None:
        self.accounting = Accounting()
        self._client = session.client(
            "s3", endpoint_url=config.endpoint_url, config=_client_config(config)
        )

    @property
    def client(self) -> Any:
        return self._client

    def list_buckets(self) -> list[dict[str, Any]]:
        self.accounting.count("ListBuckets")
        return self._client.list_buckets().get("Buckets", [])

    def probe(self, bucket: str) -> None:
        """One key of the bucket listed: a HEAD would answer a bare 403 for bad credentials."""
        self.accounting.count("ListObjectsV2")
        self._client.list_objects_v2(Bucket=bucket, MaxKeys=1)

    def bucket_facts(self, bucket: str) -> dict[str, Any]:
        """Region, tags, versioning and default encryption; each one the caller may not read."""
        facts: dict[str, Any] = {}
        calls = {
            "region": lambda: (
                self._client.get_bucket_location(Bucket=bucket)["LocationConstraint"] or "us-east-1"
            ),
            "tags": lambda: {
                t["Key"]: t["Value"]
                for t in self._client.get_bucket_tagging(Bucket=bucket)["TagSet"]
            },
            "versioning": lambda: self._client.get_bucket_versioning(Bucket=bucket).get(
                "Status", "Disabled"
            ),
            "encryption": lambda: [
                rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
                for rule in self._client.get_bucket_encryption(Bucket=bucket)[
                    "ServerSideEncryptionConfiguration"
                ]["Rules"]
            ],
        }
        for name, call in calls.items():
            self.accounting.count(f"GetBucket:{name}")
            try:
                facts[name] = call()
            except self._client.exceptions.ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code in {"NoSuchTagSet", "ServerSideEncryptionConfigurationNotFoundError"}:
                    continue
                if code in {"AccessDenied", "NotImplemented", "MethodNotAllowed"}:
                    facts.setdefault("unreadable", []).append(name)
                    continue
                raise
        return facts

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`, in pages of 1,000 (ListObjectsV2)."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token
            self.accounting.count("ListObjectsV2")
            page = self._client.list_objects_v2(**kwargs)
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], item["Size"], item["LastModified"])
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list_prefixes(self, bucket: str) -> tuple[list[str], list[ObjectInfo]]:
        """Top-level prefixes (delimiter `/`) and the objects at the bucket's root."""
        prefixes: list[str] = []
        objects: list[ObjectInfo] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Delimiter": "/", "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token
            self.accounting.count("ListObjectsV2")
            page = self._client.list_objects_v2(**kwargs)
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            objects += [
                ObjectInfo(i["Key"], i["Size"], i["LastModified"]) for i in page.get("Contents", [])
            ]
            if not page.get("IsTruncated"):
                return prefixes, objects
            token = page["NextContinuationToken"]

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes start..end (inclusive) of an object: one ranged GET."""
        response = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
        data = response["Body"].read()
        self.accounting.count("GetObject", len(data))
        return data
