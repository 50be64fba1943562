"""S3 path specs, the default layout, config validation and error classification (no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ThrottledError,
)
from metadata_pipelines.extractors.s3 import S3Extractor
from metadata_pipelines.extractors.s3.classify import classify
from metadata_pipelines.extractors.s3.layout import (
    ObjectInfo,
    PathSpec,
    PathSpecError,
    file_format,
    group_objects,
)

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def objects(*keys: str) -> list[ObjectInfo]:
    return [ObjectInfo(key, 10, WHEN) for key in keys]


@pytest.mark.parametrize(
    ("spec", "key", "expected"),
    [
        (
            "s3://b/{table}/year={year}/*.parquet",
            "orders/year=2026/a.parquet",
            ("orders/", {"year": "2026"}),
        ),
        ("s3://b/{table}/year={year}/*.parquet", "orders/year=2026/x/a.parquet", None),
        ("s3://b/raw/{table}/**", "raw/clicks/a/b/c.json", ("raw/clicks/", {})),
        ("s3://b/logs/app/*.jsonl", "logs/app/x.jsonl", ("logs/app/", {})),
        ("s3://b/logs/app/*.jsonl", "logs/app/x.csv", None),
        ("s3://b/e/{table}/{partition[0]}/*", "e/t/7/f", ("e/t/", {"partition[0]": "7"})),
        ("s3://b/a.b/{table}/*", "a.b/t/f", ("a.b/t/", {})),
        ("s3://b/a.b/{table}/*", "aXb/t/f", None),
    ],
)
def test_path_spec_matches(spec, key, expected):
    assert PathSpec.parse(spec).match(key) == expected


@pytest.mark.parametrize(
    "spec",
    ["lake/{table}/*", "s3://bucket-only", "s3://b/{table}/{table}/*", "s3://b/x{table}/*",
     "s3://b/{table}/{p}/{p}/*"],
)  # fmt: skip
def test_bad_path_specs_are_rejected(spec):
    with pytest.raises(PathSpecError):
        PathSpec.parse(spec)


def test_default_layout_groups_by_top_prefix_and_hive_folders():
    datasets = group_objects(
        "b",
        objects(
            "t/a=1/b=x/f.parquet",
            "t/a=2/b=y/f.parquet",
            "t/_SUCCESS",
            "t/.hidden/f.parquet",
            "d/_delta_log/00000000000000000003.json",
            "d/p=1/part.parquet",
            "i/metadata/v2.metadata.json",
            "i/data/x.parquet",
            "root.csv",
            "empty/",
        ),
        [],
    )
    by_prefix = {d.prefix: d for d in datasets}
    assert set(by_prefix) == {"t/", "d/", "i/"}
    assert by_prefix["t/"].partitions == {"a": {"1", "2"}, "b": {"x", "y"}}
    assert len(by_prefix["t/"].files) == 2
    assert by_prefix["d/"].format == ("delta", None) and len(by_prefix["d/"].table_files) == 1
    assert by_prefix["i/"].format == ("iceberg", None)


def test_file_formats_and_compression():
    assert file_format("a/x.csv.gz") == ("csv", "gzip")
    assert file_format("a/x.snappy.parquet") == ("parquet", None)
    assert file_format("a/x.TSV") == ("tsv", None)
    assert file_format("a/README") == (None, None)
    assert file_format("a/x.gz") == (None, None)


def test_config_validation_names_fields_without_echoing_secrets():
    with pytest.raises(ConfigurationError, match="buckets") as raised:
        S3Extractor({"buckets": ["Bad_Bucket"]})
    with pytest.raises(ConfigurationError, match="role_arn"):
        S3Extractor({}, {"role_arn": "my-role"})
    with pytest.raises(ConfigurationError, match="session_token") as raised:
        S3Extractor({}, {"session_token": "tok-very-secret"})
    assert "tok-very-secret" not in str(raised.value)
    extractor = S3Extractor(
        {}, {"access_key_id": "AKIA1", "secret_access_key": "s3cr3t", "session_token": "t0k"}
    )
    assert sorted(extractor.secret_values()) == ["s3cr3t", "t0k"]


def _client_error(code: str, status: int, **extra: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "m", **extra},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "ListObjectsV2",
    )


def test_classification_names_the_fix():
    redirect = classify(_client_error("PermanentRedirect", 301, Region="eu-west-1"), "listing b")
    assert isinstance(redirect, ConfigurationError) and "'eu-west-1'" in str(redirect)
    throttled = classify(_client_error("SlowDown", 503), "listing b")
    assert isinstance(throttled, ThrottledError) and throttled.retryable
    expired = classify(_client_error("ExpiredToken", 400), "listing b")
    assert isinstance(expired, AuthenticationError) and "session_token" in str(expired)
