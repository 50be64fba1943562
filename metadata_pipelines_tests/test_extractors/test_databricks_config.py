"""Databricks config and credentials: each bad value is refused with its field named, no secret echoed."""

from __future__ import annotations

import pytest

from metadata_pipelines.extractors.databricks import (
    DatabricksConfig,
    DatabricksCredentials,
    DatabricksExtractor,
)
from metadata_pipelines.extractors.errors import ConfigurationError
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.models import AssetType

URL = "https://adb-123.azuredatabricks.net"
SECRET = "dapi-SECRET-do-not-print"


def config_error(config: dict, credentials: dict | None = None) -> str:
    with pytest.raises(ConfigurationError) as caught:
        DatabricksExtractor(
            config, credentials if credentials is not None else {"access_token": SECRET}
        )
    return str(caught.value)


def test_factory_builds_the_extractor_from_plain_dicts() -> None:
    extractor = MetadataExtractorFactory().create(
        "databricks",
        {"workspace_url": URL + "/", "catalog": "main", "http_path": "/sql/1.0/warehouses/abc123"},
        {"access_token": SECRET},
    )
    assert isinstance(extractor, DatabricksExtractor)
    assert extractor.config.workspace_url == URL
    assert extractor.config.catalog == "main"
    assert extractor.config.warehouse_id == "abc123"
    assert extractor.config.max_concurrent_requests == 16
    assert extractor.get_supported_asset_types() == [
        AssetType.DATABASE,
        AssetType.SCHEMA,
        AssetType.TABLE,
        AssetType.VIEW,
        AssetType.COLUMN,
        AssetType.CONSTRAINT,
    ]
    assert SECRET not in repr(extractor) + repr(extractor.credentials) + str(extractor.__dict__)


def test_constraints_are_only_offered_with_a_warehouse() -> None:
    extractor = DatabricksExtractor({"workspace_url": URL}, {"access_token": SECRET})
    assert extractor.config.warehouse_id is None
    assert AssetType.CONSTRAINT not in extractor.get_supported_asset_types()


@pytest.mark.parametrize(
    ("http_path", "warehouse"),
    [
        ("/sql/1.0/warehouses/abc123def456", "abc123def456"),
        ("sql/1.0/warehouses/abc123def456/", "abc123def456"),
        ("/sql/1.0/endpoints/0123-legacy", "0123-legacy"),
    ],
)
def test_warehouse_id_is_the_last_segment(http_path: str, warehouse: str) -> None:
    config = DatabricksConfig(workspace_url=URL, http_path=http_path)
    assert config.warehouse_id == warehouse


def test_cluster_http_path_is_refused_with_a_hint() -> None:
    message = config_error(
        {"workspace_url": URL, "http_path": "sql/protocolv1/o/1234567890/0123-456789-abcdefgh"}
    )
    assert "http_path" in message
    assert "all-purpose cluster" in message


def test_unrecognised_http_path_is_refused() -> None:
    message = config_error({"workspace_url": URL, "http_path": "/warehouses/abc"})
    assert "http_path" in message and "/sql/1.0/warehouses/" in message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:1234/", "http://[::1]:9000"]
)
def test_plain_http_is_allowed_for_loopback_only(url: str) -> None:
    assert DatabricksConfig(workspace_url=url).workspace_url == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://adb-123.azuredatabricks.net", "must use https"),
        ("ftp://adb-123.azuredatabricks.net", "absolute URL"),
        ("adb-123.azuredatabricks.net", "absolute URL"),
        ("https://adb-123.azuredatabricks.net/api/2.1", "without a path"),
        ("https://adb-123.azuredatabricks.net/?o=123", "query string"),
        (f"https://token:{SECRET}@adb-123.azuredatabricks.net", "must not carry credentials"),
    ],
)
def test_bad_workspace_urls_are_refused(url: str, expected: str) -> None:
    message = config_error({"workspace_url": url})
    assert "workspace_url" in message
    assert expected in message
    assert SECRET not in message


def test_bad_patterns_and_limits_name_their_field() -> None:
    message = config_error({"workspace_url": URL, "include_schemas": ["sales("]})
    assert "include_schemas" in message and "invalid regular expression" in message
    message = config_error({"workspace_url": URL, "max_concurrent_requests": 0})
    assert "max_concurrent_requests" in message
    message = config_error({"workspace_url": URL, "catalog": "  "})
    assert "catalog" in message
    message = config_error({"workspace_url": URL, "warehouse": "x"})
    assert "warehouse" in message and "Extra inputs" in message


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({}, "missing credentials"),
        ({"access_token": ""}, "missing credentials"),
        ({"access_token": SECRET, "client_id": "x", "client_secret": SECRET}, "not both"),
        ({"client_id": "sp"}, "needs both client_id and client_secret"),
        ({"client_secret": SECRET}, "needs both client_id and client_secret"),
        ({"password": SECRET}, "password"),
    ],
)
def test_credentials_need_exactly_one_form(credentials: dict, expected: str) -> None:
    message = config_error({"workspace_url": URL}, credentials)
    assert expected in message
    assert SECRET not in message


def test_oauth_credentials_are_accepted_and_hidden() -> None:
    credentials = DatabricksCredentials(client_id="sp", client_secret=SECRET)
    assert credentials.uses_oauth
    assert credentials.secret_values() == [SECRET]
    assert SECRET not in repr(credentials) and SECRET not in str(credentials.model_dump())


def test_filters_match_short_or_full_names() -> None:
    config = DatabricksConfig(
        workspace_url=URL,
        include_schemas=["sales", r"main\.hr"],
        exclude_tables=["tmp_.*"],
    )
    assert config.schema_filter.allows("sales", "other.sales")
    assert config.schema_filter.allows("hr", "main.hr")
    assert not config.schema_filter.allows("hr", "archive.hr")
    assert config.table_filter.allows("orders", "main.sales.orders")
    assert not config.table_filter.allows("tmp_1", "main.sales.tmp_1")
