"""The PostgreSQL mapper's pure rules, on rows shaped as the server returns them.

The real server covers PostgreSQL 15 (test_postgresql.py); these cases pin the rules that the
fixture cannot reach on it: what earlier versions report, and type shapes no fixture column has.
"""

from __future__ import annotations

import pytest

from metadata_pipelines.extractors.postgresql import queries
from metadata_pipelines.extractors.postgresql.config import PostgreSQLConfig
from metadata_pipelines.extractors.postgresql.mapper import (
    COLUMN_PROPERTY_KEYS,
    DatabaseContents,
    DatabaseRows,
    TypeResolver,
    listed_database,
    select_relations,
    type_family,
)
from metadata_pipelines.models import DataType, iter_fields, redact_properties


def test_column_property_keys_are_never_redacted() -> None:
    properties = dict.fromkeys(COLUMN_PROPERTY_KEYS, "value")
    assert redact_properties(properties) == properties


@pytest.mark.parametrize(
    ("typname", "category", "family"),
    [
        ("int8", "N", DataType.INTEGER),
        ("numeric", "N", DataType.DECIMAL),
        ("float8", "N", DataType.FLOAT),
        ("uuid", "U", DataType.STRING),
        ("jsonb", "U", DataType.JSON),
        ("bytea", "U", DataType.BINARY),
        ("timestamptz", "D", DataType.TIMESTAMP),
        ("geometry", "U", DataType.GEOMETRY),  # PostGIS
        ("hstore", "U", DataType.MAP),
        ("citext", "S", DataType.STRING),
        ("vector", "U", DataType.UNKNOWN),  # pgvector: native_type says it all
        ("int4range", "R", DataType.UNKNOWN),
        ("my_label", "S", DataType.STRING),  # an unknown extension type, by category
    ],
)
def test_type_families(typname: str, category: str, family: DataType) -> None:
    assert type_family(typname, category) is family


def _type(oid, schema, name, typtype, category, element=0, base=0, base_format=None, **extra):
    return (
        oid,
        schema,
        name,
        typtype,
        category,
        element,
        base,
        base_format,
        extra.get("not_null", False),
        None,
        extra.get("labels"),
        extra.get("checks"),
        extra.get("attributes"),
        None,
    )


def test_domain_over_an_array_of_composites_nests_the_members() -> None:
    resolver = TypeResolver(
        [
            _type(
                20001,
                "s",
                "pair",
                "c",
                "C",
                attributes=[["a", "integer", 23, None, None], ["tags", "text[]", 1009, "C", "t"]],
            ),
            _type(20002, "s", "_pair", "b", "A", element=20001),
            _type(20003, "s", "pairs", "d", "A", base=20002, base_format="s.pair[]", not_null=True),
            _type(23, "pg_catalog", "int4", "b", "N"),
            _type(1009, "pg_catalog", "_text", "b", "A", element=25),
        ]
    )
    facts = resolver.column_type(20003, "pairs", "A", None)
    assert facts.family is DataType.ARRAY
    assert dict(facts.properties) == {
        "domain": "s.pairs",
        "domain_base_type": "s.pair[]",
        "domain_not_null": True,
    }
    members = {m.name: m for m in facts.children}
    assert (members["a"].data_type, members["tags"].data_type) == (DataType.INTEGER, DataType.ARRAY)
    assert members["tags"].properties == {"collation": "C"}
    assert members["tags"].comment == "t"
    # The same composite resolved again is the same, cached, object.
    assert resolver.resolve(20001, 0) is resolver.resolve(20001, 0)


def _relation(
    oid, name, kind="r", reltuples=-1.0, pages=0, parents=(), partition=False, bound=None
):
    row = [None] * 40
    row[:24] = [
        oid, 1, name, kind, "p", partition, "owner", None, reltuples, pages, 0, False, False,
        True, "heap", None, None, "RANGE (d)" if kind == "p" else None, bound, list(parents),
        0, None, None, None,
    ]  # fmt: skip
    return tuple(row)


@pytest.mark.parametrize(
    ("version", "reltuples", "pages", "expected"),
    [
        (150000, -1.0, 0, None),  # 14+: never vacuumed or analysed
        (150000, 0.0, 0, 0),  # 14+: analysed, empty
        (130000, 0.0, 0, None),  # before 14: 0 rows in 0 pages may be "never analysed"
        (130000, 12.0, 1, 12),
    ],
)
def test_row_estimates_by_version(version, reltuples, pages, expected) -> None:
    caps = queries.Capabilities(version)
    config = PostgreSQLConfig(host="h")
    listed = listed_database(("db", "o", "UTF8", "C", "C", None, True, -1, None, True))
    rows = DatabaseRows(listed=listed, schemas=[(1, "s", "o", None)])
    rows.selection = select_relations(
        "db", {1: "s"}, [_relation(10, "t", reltuples=reltuples, pages=pages)], config
    )
    (batch,) = DatabaseContents(rows, config, caps).batches([])
    assert batch.tables[0].row_count == expected


def test_partitioned_table_sums_known_leaves() -> None:
    config = PostgreSQLConfig(host="h")
    listed = listed_database(("db", "o", "UTF8", "C", "C", "i", True, 5, "c", True))
    assert listed.metadata.properties["locale_provider"] == "icu"
    assert listed.metadata.properties["connection_limit"] == 5
    rows = DatabaseRows(listed=listed, schemas=[(1, "s", "o", None)])
    relations = [
        _relation(10, "p", kind="p"),
        _relation(11, "p1", reltuples=5.0, pages=1, parents=[10], partition=True, bound="X"),
        _relation(12, "p2", reltuples=-1.0, parents=[10], partition=True, bound="DEFAULT"),
    ]
    rows.selection = select_relations("db", {1: "s"}, relations, config)
    (batch,) = DatabaseContents(rows, config, queries.Capabilities(160000)).batches([])
    (parent,) = batch.tables
    assert parent.row_count == 5
    assert parent.properties["partitions"] == [
        {"name": "s.p1", "bound": "X"},
        {"name": "s.p2", "bound": "DEFAULT"},
    ]
    assert [path for path, *_ in iter_fields(parent.columns)] == []
