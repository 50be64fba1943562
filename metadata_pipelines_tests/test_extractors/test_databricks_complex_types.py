"""Databricks complex columns (STRUCT, ARRAY, MAP) expanded from `type_json` into nested fields."""

from __future__ import annotations

import json

from metadata_pipelines.extractors.databricks.complex_types import nested_fields
from metadata_pipelines.extractors.databricks.mapper import TableInfo, map_table, parse
from metadata_pipelines.models import MAX_FIELD_DEPTH, DataType
from metadata_pipelines_tests.fakes.unity_catalog_server import (
    array_type,
    column,
    field,
    map_type,
    struct_type,
)

# STRUCT<a: INT, b: ARRAY<STRUCT<c: STRING>>>
PAYLOAD = struct_type(
    field("a", "integer"),
    field("b", array_type(struct_type(field("c", "string", comment="the c"))), nullable=False),
)
# MAP<STRING, STRUCT<x: INT, y: ARRAY<STRING>>>
ATTRS = map_type("string", struct_type(field("x", "integer"), field("y", array_type("string"))))


def _paths(table) -> list[tuple[str, str, str]]:
    return [(path, f.native_type, f.data_type.value) for path, _, _, f in table.iter_fields()]


def test_struct_of_array_of_struct_and_map_of_struct_become_nested_fields() -> None:
    info = parse(
        TableInfo,
        {
            "name": "events",
            "catalog_name": "main",
            "schema_name": "sales",
            "columns": [
                column("id", "LONG", 0, "bigint"),
                column("payload", "STRUCT", 1, spark_type=PAYLOAD),
                column("attrs", "MAP", 2, spark_type=ATTRS),
            ],
        },
        "table",
    )

    table = map_table(info)

    assert _paths(table) == [
        ("id", "bigint", "integer"),
        ("payload", "struct<a:int,b:array<struct<c:string>>>", "struct"),
        ("payload.a", "int", "integer"),
        ("payload.b", "array<struct<c:string>>", "array"),
        ("payload.b[].c", "string", "string"),
        ("attrs", "map<string,struct<x:int,y:array<string>>>", "map"),
        ("attrs{}.x", "int", "integer"),
        ("attrs{}.y", "array<string>", "array"),
    ]
    b = table.columns[1].children[1]
    assert (b.nullable, b.repeated, b.ordinal) == (False, True, 2)
    assert b.children[0].comment == "the c"


def test_arrays_of_arrays_and_odd_member_names() -> None:
    spark = array_type(array_type(struct_type(field("a.b", "long"), field("x[]", "decimal(10,2)"))))
    children = nested_fields(json.dumps({"name": "grid", "type": spark}))
    assert [(c["name"], c["native_type"], c["data_type"]) for c in children] == [
        ("a.b", "bigint", DataType.INTEGER),
        ("x[]", "decimal(10,2)", DataType.DECIMAL),
    ]


def test_member_types_write_odd_names_in_backticks() -> None:
    spark = struct_type(field("outer", struct_type(field("a.b", "long"), field("x`y", "string"))))
    (outer,) = nested_fields(json.dumps({"name": "s", "type": spark}))
    assert outer["native_type"] == "struct<`a.b`:bigint,`x``y`:string>"
    assert [child["name"] for child in outer["children"]] == ["a.b", "x`y"]


def test_a_type_json_of_the_wrong_shape_leaves_the_column_flat() -> None:
    for bad in (
        None,
        "",
        "not json",
        "[1, 2]",
        json.dumps({"name": "s", "type": {"type": "struct", "fields": "nope"}}),
        json.dumps({"name": "s", "type": {"type": "struct", "fields": [{"type": "int"}]}}),
        json.dumps(
            {
                "name": "s",
                "type": {"type": "struct", "fields": [{"name": "a", "type": {"type": "udt"}}]},
            }
        ),
    ):
        assert nested_fields(bad) == [], bad


def test_nesting_deeper_than_the_model_allows_is_cut_and_marked() -> None:
    spark: object = "string"
    for level in range(MAX_FIELD_DEPTH + 5):
        spark = struct_type(field(f"f{level}", spark))
    table = map_table(
        parse(
            TableInfo,
            {
                "name": "deep",
                "catalog_name": "main",
                "schema_name": "s",
                "columns": [column("deep", "STRUCT", 0, spark_type=spark)],
            },
            "table",
        )
    )
    fields = list(table.iter_fields())
    assert max(depth for _, _, depth, _ in fields) == MAX_FIELD_DEPTH - 1
    assert fields[-1][3].properties == {"children_truncated": True}


def test_only_a_complex_type_name_reads_children_from_type_json() -> None:
    """The family comes from `type_name` (any case); a struct-shaped `type_json` on a column of
    another family is not expanded."""
    table = map_table(
        parse(
            TableInfo,
            {
                "name": "mixed",
                "catalog_name": "main",
                "schema_name": "s",
                "columns": [
                    column("lower", "struct", 0, spark_type=PAYLOAD),
                    column("variant", "VARIANT", 1, spark_type=PAYLOAD),
                    column("odd", "SOMETHING_NEW", 2, spark_type=PAYLOAD),
                ],
            },
            "table",
        )
    )
    lower, variant, odd = table.columns
    assert (lower.data_type, [c.name for c in lower.children]) == (DataType.STRUCT, ["a", "b"])
    assert (variant.data_type, variant.children) == (DataType.JSON, ())
    assert (odd.data_type, odd.children) == (DataType.UNKNOWN, ())
