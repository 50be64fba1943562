"""The Snowflake mapper, type reader and error classes on rows in the shapes Snowflake documents
for SHOW TABLES / VIEWS / COLUMNS / IMPORTED KEYS / USER FUNCTIONS and its login errors: what
fakesnow cannot produce (table kinds, secure views seen by a non-owner, foreign keys, structured
types with declared fields, routines, locked users, session expiry, SHOW's row limit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from snowflake.connector.errors import DatabaseError, OperationalError, ProgrammingError

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    PrivilegeError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
    TransientExtractorError,
)
from metadata_pipelines.extractors.snowflake.classify import classify
from metadata_pipelines.extractors.snowflake.config import SnowflakeConfig
from metadata_pipelines.extractors.snowflake.mapper import (
    COLUMN_PROPERTY_KEYS,
    DatabaseMapper,
    DatabaseRows,
    is_shared,
    listed_database,
)
from metadata_pipelines.extractors.snowflake.types import column_type, parse_show_type
from metadata_pipelines.models import (
    ConstraintType,
    DataType,
    RoutineType,
    Severity,
    TableType,
    _is_secret_key,
)

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = SnowflakeConfig(account="myorg-acct")


def _table(name: str, **flags: str) -> dict:
    row = {
        "created_on": CREATED, "name": name, "kind": flags.pop("kind", "TABLE"),
        "database_name": "DB", "schema_name": "S", "comment": "", "cluster_by": "",
        "rows": 12, "bytes": 4096, "owner": "SYSADMIN", "retention_time": "1",
        "automatic_clustering": "OFF", "change_tracking": "OFF", "search_optimization": "OFF",
        "is_external": "N", "is_event": "N", "is_hybrid": "N", "is_iceberg": "N",
        "is_dynamic": "N",
    }  # fmt: skip
    row.update(flags)
    return row


def _column(table: str, name: str, spec: dict | str, null: str = "true", **extra: str) -> dict:
    return {
        "table_name": table, "schema_name": "S", "column_name": name,
        "data_type": spec if isinstance(spec, str) else json.dumps(spec), "null?": null,
        "default": "", "kind": "COLUMN", "expression": "", "comment": "", "database_name": "DB",
        "autoincrement": "", **extra,
    }  # fmt: skip


def _rows(**kinds) -> DatabaseRows:
    database = listed_database({"name": "DB", "owner": "SYSADMIN", "created_on": CREATED})
    schemas = [{"name": "S", "owner": "SYSADMIN", "options": "MANAGED ACCESS", "comment": "c"}]
    return DatabaseRows(database=database, schemas=schemas, **kinds)


def _map(rows: DatabaseRows, config: SnowflakeConfig = CONFIG):
    [batch] = list(DatabaseMapper(rows, config).batches(1000))
    return batch


def test_table_kinds_statistics_and_schema_options():
    rows = _rows(
        tables=[
            _table("PLAIN", cluster_by="LINEAR(ID)"),
            _table("TRANS", kind="TRANSIENT"),
            _table("EXT", is_external="Y", rows=None, bytes=None),
            _table("DYN", is_dynamic="Y"),
            _table("ICE", is_iceberg="Y"),
            _table("EVT", is_event="Y"),
        ]
    )

    batch = _map(rows)

    [schema] = batch.schemas
    assert schema.properties["managed_access"] is True and schema.comment == "c"
    kinds = {t.name: (t.table_type, t.native_type) for t in batch.tables}
    assert kinds == {
        "PLAIN": (TableType.TABLE, "TABLE"),
        "TRANS": (TableType.TABLE, "TRANSIENT TABLE"),
        "EXT": (TableType.EXTERNAL_TABLE, "EXTERNAL TABLE"),
        "DYN": (TableType.TABLE, "DYNAMIC TABLE"),
        "ICE": (TableType.TABLE, "ICEBERG TABLE"),
        "EVT": (TableType.TABLE, "EVENT TABLE"),
    }
    plain = next(t for t in batch.tables if t.name == "PLAIN")
    assert (plain.row_count, plain.size_bytes, plain.created_at) == (12, 4096, CREATED)
    assert plain.properties["cluster_by"] == "LINEAR(ID)"
    no_stats = _map(rows, SnowflakeConfig(account="a", include_statistics=False))
    assert {t.row_count for t in no_stats.tables} == {None}


def test_secure_view_seen_by_a_non_owner_and_a_materialized_view():
    view = {
        "created_on": CREATED, "name": "V", "database_name": "DB", "schema_name": "S",
        "owner": "OTHER_ROLE", "comment": "", "text": "", "is_secure": "true",
        "is_materialized": "false",
    }  # fmt: skip
    materialized = dict(
        view, name="MV", is_secure="false", is_materialized="true",
        text="create materialized view MV as select 1 as X",
    )  # fmt: skip

    batch = _map(_rows(views=[view, materialized]))

    tables = {t.name: t for t in batch.tables}
    assert tables["V"].view_definition is None
    assert tables["V"].properties == {"secure": True, "definition_hidden": True}
    assert tables["MV"].table_type is TableType.MATERIALIZED_VIEW
    assert tables["MV"].view_definition.startswith("create materialized view")


def test_keys_primary_unique_and_foreign_in_key_sequence():
    rows = _rows(
        tables=[_table("ORDERS"), _table("LINES")],
        columns=[
            _column("LINES", "ORDER_ID", {"type": "FIXED", "precision": 38, "scale": 0}, "false"),
            _column("LINES", "LINE_NO", {"type": "FIXED", "precision": 38, "scale": 0}, "false"),
            _column("LINES", "SKU", {"type": "TEXT", "length": 16}),
        ],
        primary_keys=[
            {"schema_name": "S", "table_name": "LINES", "column_name": c, "key_sequence": n,
             "constraint_name": "PK_LINES"}
            for n, c in ((2, "LINE_NO"), (1, "ORDER_ID"))
        ],
        unique_keys=[
            {"schema_name": "S", "table_name": "LINES", "column_name": "SKU", "key_sequence": 1,
             "constraint_name": "UQ_SKU"}
        ],
        imported_keys=[
            {"pk_database_name": "DB", "pk_schema_name": "S", "pk_table_name": "ORDERS",
             "pk_column_name": "ID", "fk_database_name": "DB", "fk_schema_name": "S",
             "fk_table_name": "LINES", "fk_column_name": "ORDER_ID", "key_sequence": 1,
             "update_rule": "NO ACTION", "delete_rule": "CASCADE", "fk_name": "FK_ORDER",
             "pk_name": "PK_ORDERS"},
            {"pk_database_name": "", "pk_schema_name": "", "pk_table_name": "",
             "pk_column_name": "", "fk_database_name": "DB", "fk_schema_name": "S",
             "fk_table_name": "LINES", "fk_column_name": "SKU", "key_sequence": 1,
             "fk_name": "BROKEN"},
        ],
    )  # fmt: skip

    batch = _map(rows)

    lines = next(t for t in batch.tables if t.name == "LINES")
    constraints = {c.constraint_type: c for c in lines.constraints}
    assert constraints[ConstraintType.PRIMARY_KEY].columns == ["ORDER_ID", "LINE_NO"]
    assert constraints[ConstraintType.UNIQUE].columns == ["SKU"]
    foreign = constraints[ConstraintType.FOREIGN_KEY]
    assert (foreign.referenced_schema, foreign.referenced_table) == ("S", "ORDERS")
    assert (foreign.referenced_columns, foreign.on_delete) == (["ID"], "CASCADE")
    assert [c.is_primary_key for c in lines.columns] == [True, True, False]
    [warning] = batch.errors  # a key row naming nothing is a warning, not a failed database
    assert warning.severity is Severity.WARNING and warning.scope == ("DB", "S", "LINES")


def test_structured_types_become_nested_fields():
    text = 'OBJECT(city VARCHAR(100), geo OBJECT(lat FLOAT, lon FLOAT) NOT NULL, "zip code" NUMBER(5,0))'
    nested = column_type({"type": text})
    assert nested.data_type is DataType.STRUCT
    assert [(c.name, c.native_type, c.nullable) for c in nested.children] == [
        ("city", "VARCHAR(100)", True),
        ("geo", "OBJECT(lat FLOAT, lon FLOAT)", False),
        ("zip code", "NUMBER(5,0)", True),
    ]
    assert [c.name for c in nested.children[1].children] == ["lat", "lon"]

    items = column_type({"type": "ARRAY(OBJECT(sku VARCHAR, qty NUMBER(38,0)))"})
    assert items.data_type is DataType.ARRAY and [c.name for c in items.children] == ["sku", "qty"]
    by_key = column_type({"type": "MAP(VARCHAR, OBJECT(a BOOLEAN))"})
    assert by_key.data_type is DataType.MAP and [c.name for c in by_key.children] == ["a"]
    assert column_type({"type": "ARRAY(NUMBER(38,0))"}).children == ()

    # The result-metadata shape: fields with names and internal type words.
    fields = column_type(
        {
            "type": "OBJECT",
            "fields": [
                {"name": "city", "type": "text", "length": 100, "nullable": True},
                {"name": "tags", "type": "array", "fields": [{"type": "text", "length": 8}]},
            ],
        }
    )
    assert fields.native_type == "OBJECT(city VARCHAR(100), tags ARRAY(VARCHAR(8)))"
    assert [c.data_type for c in fields.children] == [DataType.STRING, DataType.ARRAY]


def test_column_types_defaults_identity_and_an_unreadable_type():
    specs = [
        ("A", {"type": "FIXED", "precision": 10, "scale": 2}, "NUMBER(10,2)", DataType.DECIMAL),
        ("B", {"type": "TEXT", "length": 16777216, "collation": "en-ci"}, "VARCHAR(16777216)",
         DataType.STRING),
        ("C", {"type": "TIMESTAMP_TZ", "precision": 0, "scale": 3}, "TIMESTAMP_TZ(3)",
         DataType.TIMESTAMP),
        ("D", {"type": "BINARY", "length": 8388608}, "BINARY(8388608)", DataType.BINARY),
        ("E", {"type": "REAL"}, "FLOAT", DataType.FLOAT),
        ("F", {"type": "GEOGRAPHY"}, "GEOGRAPHY", DataType.GEOMETRY),
        ("G", {"type": "VECTOR", "vectorType": "INT", "dimension": 3}, "VECTOR(INT, 3)",
         DataType.ARRAY),
        ("H", {"type": "OBJECT(a VARCHAR"}, "OBJECT(a VARCHAR", DataType.UNKNOWN),
    ]  # fmt: skip
    columns = [_column("T", name, spec) for name, spec, _, _ in specs]
    columns[0].update(autoincrement="IDENTITY START 1 INCREMENT 1 ORDER", default="")
    columns[1].update(default="'n/a'", comment="a comment")

    batch = _map(_rows(tables=[_table("T")], columns=columns))

    [table] = batch.tables
    assert [(c.name, c.native_type, c.data_type) for c in table.columns] == [
        (name, native, family) for name, _, native, family in specs
    ]
    a, b = table.columns[:2]
    assert a.properties == {"autoincrement": "IDENTITY START 1 INCREMENT 1 ORDER"}
    assert (b.default, b.comment, b.properties) == ("'n/a'", "a comment", {"collation": "en-ci"})
    [warning] = batch.errors
    assert "'OBJECT(a VARCHAR'" in warning.message and warning.severity is Severity.WARNING
    assert parse_show_type("not json") == {"type": "not json"}
    assert not any(_is_secret_key(key) for key in COLUMN_PROPERTY_KEYS)


def test_routines_with_signatures_and_shared_databases():
    function = {
        "created_on": CREATED, "name": "AREA", "schema_name": "S", "is_builtin": "N",
        "is_aggregate": "N", "arguments": "AREA(FLOAT) RETURN FLOAT",
        "description": "user-defined function", "catalog_name": "DB", "is_table_function": "N",
        "is_secure": "Y", "language": "SQL",
    }  # fmt: skip
    procedure = dict(
        function, name="LOAD", arguments="LOAD(VARCHAR, NUMBER) RETURN VARCHAR",
        description="loads", language="PYTHON", is_secure="N",
    )  # fmt: skip
    builtin = dict(function, name="ABS", is_builtin="Y", arguments="ABS(NUMBER) RETURN NUMBER")

    batch = _map(_rows(functions=[function, builtin], procedures=[procedure]))

    routines = {r.name: r for r in batch.routines}
    assert set(routines) == {"AREA(FLOAT)", "LOAD(VARCHAR, NUMBER)"}
    area, load = routines["AREA(FLOAT)"], routines["LOAD(VARCHAR, NUMBER)"]
    assert (area.routine_type, area.return_type, area.comment) == (
        RoutineType.FUNCTION, "FLOAT", None
    )  # fmt: skip
    assert area.properties["secure"] is True
    assert (load.routine_type, load.language, load.comment) == (
        RoutineType.PROCEDURE, "PYTHON", "loads"
    )  # fmt: skip

    assert is_shared({"name": "SNOWFLAKE", "kind": "IMPORTED DATABASE", "origin": "SNOWFLAKE.X"})
    assert not is_shared({"name": "SALES", "kind": "STANDARD", "origin": ""})


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DatabaseError(msg="Incorrect username or password was specified.", errno=390100),
         AuthenticationError),
        (DatabaseError(msg="User temporarily locked.", errno=390102), AuthenticationError),
        (DatabaseError(msg="JWT token is invalid.", errno=390144), AuthenticationError),
        (DatabaseError(msg="Role 'X' specified in the connect string does not exist or not "
                       "authorized.", errno=390189), ConfigurationError),
        (DatabaseError(msg="The requested warehouse does not exist or not authorized.",
                       errno=390201), ConfigurationError),
        (ProgrammingError(msg="Database 'X' does not exist or not authorized.", errno=2003),
         PrivilegeError),
        (ProgrammingError(msg="Session no longer exists.", errno=390112), TransientExtractorError),
        (ProgrammingError(msg="Statement reached its statement or warehouse timeout of 60 "
                          "second(s) and was canceled.", errno=630), SourceTimeoutError),
        (OperationalError(msg="Could not connect to Snowflake backend after 2 attempt(s).",
                          errno=250001), SourceUnavailableError),
        (OperationalError(msg="429 Too Many Requests", errno=250003), ThrottledError),
        (OperationalError(msg="503 Service Unavailable", errno=250003), SourceUnavailableError),
    ],
)  # fmt: skip
def test_errors_are_classified(error, expected):
    classified = classify(error, "reading")
    assert type(classified) is expected
    assert classified.retryable is issubclass(expected, TransientExtractorError)
