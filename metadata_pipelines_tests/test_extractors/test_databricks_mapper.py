"""Unity Catalog JSON -> models, including values only the hosted service (SDK) knows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metadata_pipelines.extractors.databricks.mapper import (
    CatalogInfo,
    TableInfo,
    map_catalog,
    map_table,
    parse,
)
from metadata_pipelines.extractors.errors import SourceResponseError
from metadata_pipelines.models import REDACTED, DataType, TableType


def table(**fields) -> TableInfo:
    return TableInfo.model_validate(
        {"name": "t", "catalog_name": "c", "schema_name": "s", **fields}
    )


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("MANAGED", TableType.TABLE),
        ("EXTERNAL", TableType.EXTERNAL_TABLE),
        ("VIEW", TableType.VIEW),
        ("MATERIALIZED_VIEW", TableType.MATERIALIZED_VIEW),
        ("STREAMING_TABLE", TableType.STREAMING_TABLE),
        ("METRIC_VIEW", TableType.VIEW),
        ("FOREIGN", TableType.EXTERNAL_TABLE),
        ("MANAGED_SHALLOW_CLONE", TableType.TABLE),
        ("EXTERNAL_SHALLOW_CLONE", TableType.EXTERNAL_TABLE),
        ("SOMETHING_NEW", TableType.OTHER),
    ],
)
def test_table_types(native: str, expected: TableType) -> None:
    mapped = map_table(table(table_type=native))
    assert mapped.table_type is expected
    assert mapped.native_type == native


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("BOOLEAN", DataType.BOOLEAN),
        ("BYTE", DataType.INTEGER),
        ("SHORT", DataType.INTEGER),
        ("INT", DataType.INTEGER),
        ("LONG", DataType.INTEGER),
        ("FLOAT", DataType.FLOAT),
        ("DOUBLE", DataType.FLOAT),
        ("DECIMAL", DataType.DECIMAL),
        ("DATE", DataType.DATE),
        ("TIMESTAMP", DataType.TIMESTAMP),
        ("TIMESTAMP_NTZ", DataType.TIMESTAMP),
        ("STRING", DataType.STRING),
        ("CHAR", DataType.STRING),
        ("BINARY", DataType.BINARY),
        ("INTERVAL", DataType.INTERVAL),
        ("ARRAY", DataType.ARRAY),
        ("MAP", DataType.MAP),
        ("STRUCT", DataType.STRUCT),
        ("VARIANT", DataType.JSON),
        ("GEOGRAPHY", DataType.GEOMETRY),
        ("NULL", DataType.NULL),
        ("USER_DEFINED_TYPE", DataType.UNKNOWN),
    ],
)
def test_column_types(type_name: str, expected: DataType) -> None:
    mapped = map_table(table(columns=[{"name": "x", "type_name": type_name, "type_text": "t"}]))
    assert mapped.columns[0].data_type is expected
    assert mapped.columns[0].native_type == "t"


def test_columns_follow_position_and_keep_type_details() -> None:
    mapped = map_table(
        table(
            columns=[
                {"name": "b", "type_name": "INT", "type_text": "int", "position": 1},
                {
                    "name": "a",
                    "type_name": "DECIMAL",
                    "type_text": "decimal(10,2)",
                    "type_json": '{"type":"decimal(10,2)"}',
                    "type_precision": 10,
                    "type_scale": 2,
                    "position": 0,
                    "nullable": False,
                    "partition_index": 0,
                    "comment": "amount",
                },
            ]
        )
    )
    first, second = mapped.columns
    assert (first.name, first.ordinal, second.name, second.ordinal) == ("a", 1, "b", 2)
    assert first.nullable is False and second.nullable is True
    assert first.comment == "amount"
    assert first.properties == {
        "type_name": "DECIMAL",
        "type_json": '{"type":"decimal(10,2)"}',
        "type_precision": 10,
        "type_scale": 2,
        "partition_index": 0,
    }
    assert mapped.properties["partition_columns"] == ["a"]


def test_times_are_utc_and_uc_properties_are_redacted() -> None:
    mapped = map_table(
        table(
            created_at=1_700_000_000_000,
            updated_at=1_700_000_000_123,
            deleted_at=1_700_000_001_000,
            properties={"owner_team": "x", "fs.azure.account.key": "s3cr3t"},
            view_dependencies={
                "dependencies": [
                    {"table": {"table_full_name": "c.s.a"}},
                    {"function": {"function_full_name": "c.s.f"}},
                ]
            },
        )
    )
    assert mapped.created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert mapped.updated_at == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert mapped.properties["deleted_at"] == "2023-11-14T22:13:21+00:00"
    assert mapped.properties["uc_properties"] == {
        "owner_team": "x",
        "fs.azure.account.key": REDACTED,
    }
    assert mapped.properties["view_dependencies"] == ["c.s.a", "c.s.f"]
    assert mapped.properties["full_name"] == "c.s.t"


def test_catalog_mapping() -> None:
    mapped = map_catalog(
        CatalogInfo(name="main", comment="", owner="o", catalog_type="MANAGED_CATALOG", id="1")
    )
    assert mapped.comment is None
    assert mapped.owner == "o"
    assert mapped.properties == {"catalog_id": "1", "catalog_type": "MANAGED_CATALOG"}


def test_a_wrong_shape_is_a_readable_error() -> None:
    with pytest.raises(SourceResponseError) as caught:
        parse(TableInfo, {"name": "t", "catalog_name": "c", "columns": "x"}, "listing tables")
    message = str(caught.value)
    assert message.startswith("listing tables: unexpected TableInfo shape")
    assert "schema_name: Field required" in message
    assert "columns: Input should be a valid list" in message
