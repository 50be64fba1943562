"""The MySQL mapper's rules on rows shaped like other servers' answers (MySQL 5.7 / 8, new types).

Only MariaDB runs in the test environment; these rows are what information_schema returns on the
other servers, so the rules that exist for them are exercised without one.
"""

from __future__ import annotations

from metadata_pipelines.extractors import identifiers
from metadata_pipelines.extractors.mysql import queries
from metadata_pipelines.extractors.mysql.config import MySQLConfig
from metadata_pipelines.extractors.mysql.mapper import (
    COLUMN_PROPERTY_KEYS,
    DatabaseRows,
    build_database_contents,
    normalize_default,
    normalize_type,
)
from metadata_pipelines.models import AssetType, DataType, Severity, redact_properties

MYSQL8 = queries.Capabilities(
    check_constraints=True, index_expression=True, generation_expression=True, mariadb=False
)
MARIADB = queries.Capabilities(
    check_constraints=True, check_constraints_table_name=True, mariadb=True
)


def _table_row(name: str, table_type: str = "BASE TABLE", comment: str = "") -> tuple:
    engine = None if table_type == "VIEW" else "InnoDB"
    return (name, table_type, engine, "Dynamic", "utf8mb4_0900_ai_ci", "", comment, None, 5) + (
        None,
    ) * 6


def _column_row(table: str, name: str, ordinal: int, data_type: str, column_type: str) -> tuple:
    return (table, name, ordinal, None, "YES", data_type, column_type, None, None, "", "", None)


def test_unknown_type_is_kept_raw_with_a_warning() -> None:
    rows = DatabaseRows(
        name="shop",
        tables=[_table_row("items")],
        columns=[
            _column_row("items", "embedding", 1, "vector", "vector(3)"),
            _column_row("items", "id", 2, "int", "int"),
        ],
    )
    extract = build_database_contents(rows, MySQLConfig(host="h"), MYSQL8)
    (items,) = extract.tables
    embedding, identifier = items.columns
    assert (embedding.native_type, embedding.data_type) == ("vector(3)", DataType.UNKNOWN)
    assert (identifier.native_type, identifier.data_type) == ("int", DataType.INTEGER)
    (warning,) = extract.errors
    assert warning.scope == ("shop", "items", "embedding")
    assert warning.asset_type is AssetType.COLUMN
    assert warning.severity is Severity.WARNING
    assert warning.code == "unknown_type"
    assert "'vector(3)'" in warning.message


def test_type_families() -> None:
    assert normalize_type("tinyint", "tinyint(1)") is DataType.BOOLEAN
    assert normalize_type("tinyint", "tinyint(4)") is DataType.INTEGER
    assert normalize_type("tinyint", "tinyint unsigned") is DataType.INTEGER  # MySQL 8.0.19+
    assert normalize_type("bit", "bit(1)") is DataType.BOOLEAN
    assert normalize_type("bit", "bit(8)") is DataType.BINARY
    assert normalize_type("json", "json") is DataType.JSON
    assert normalize_type("geomcollection", "geomcollection") is DataType.GEOMETRY
    assert normalize_type("uuid", "uuid") is DataType.STRING
    assert normalize_type("year", "year(4)") is DataType.INTEGER
    assert normalize_type("vector", "vector(3)") is None


def test_mysql_defaults_become_sql_text_like_mariadb_reports_them() -> None:
    string, integer = DataType.STRING, DataType.INTEGER
    assert normalize_default("abc", string, "", MYSQL8) == "'abc'"
    assert normalize_default("it's", string, "", MYSQL8) == "'it''s'"
    assert normalize_default("0", integer, "", MYSQL8) == "0"
    assert normalize_default(None, string, "", MYSQL8) is None
    assert normalize_default("CURRENT_TIMESTAMP", DataType.TIMESTAMP, "", MYSQL8) == (
        "CURRENT_TIMESTAMP"
    )
    assert normalize_default("(now())", string, "DEFAULT_GENERATED", MYSQL8) == "(now())"
    assert normalize_default("NULL", string, "", MARIADB) is None
    assert normalize_default("'abc'", string, "", MARIADB) == "'abc'"


def test_mysql8_functional_index_parts_and_broken_objects() -> None:
    rows = DatabaseRows(
        name="shop",
        tables=[
            _table_row("people"),
            _table_row("v", "VIEW", "View 'shop.v' references invalid table(s)"),
            (
                "gone",
                "BASE TABLE",
                None,
                None,
                None,
                None,
                "Table 'shop.gone' doesn't exist in engine",
            )
            + (None,) * 8,
        ],
        columns=[_column_row("people", "name", 1, "varchar", "varchar(10)")],
        statistics=[
            ("people", "ix_lower", 1, 1, None, "lower(`name`)", None, "A", "BTREE", "", "NO"),
            ("people", "ix_lower", 1, 2, "name", None, None, "D", "BTREE", "", "NO"),
        ],
    )
    extract = build_database_contents(rows, MySQLConfig(host="h"), MYSQL8)
    people = next(t for t in extract.tables if t.name == "people")
    (index,) = people.indexes
    assert index.columns == ["(lower(`name`))", "name"]
    assert index.properties["visible"] is False
    assert index.properties["descending"] == [False, True]
    assert sorted((e.scope, e.code) for e in extract.errors) == [
        (("shop", "gone"), "unreadable_table"),
        (("shop", "v"), "broken_view"),
    ]
    assert all(e.severity is Severity.ERROR for e in extract.errors)


def test_capabilities_of_each_server_family() -> None:
    mariadb_1011 = [
        ("CHECK_CONSTRAINTS", "TABLE_NAME"),
        ("CHECK_CONSTRAINTS", "CHECK_CLAUSE"),
        ("SCHEMATA", "SCHEMA_COMMENT"),
        ("STATISTICS", "IGNORED"),
        ("COLUMNS", "GENERATION_EXPRESSION"),
    ]
    caps = queries.Capabilities.from_rows(mariadb_1011, "10.11.19-MariaDB-0+deb12u1")
    assert caps.mariadb and caps.check_constraints_table_name and caps.schema_comment
    assert caps.index_visibility == "CASE IGNORED WHEN 'YES' THEN 'NO' ELSE 'YES' END"
    assert "TABLE_CONSTRAINTS" not in (queries.check_constraints(caps) or "")

    mysql_80 = [
        ("CHECK_CONSTRAINTS", "CHECK_CLAUSE"),
        ("STATISTICS", "EXPRESSION"),
        ("STATISTICS", "IS_VISIBLE"),
        ("COLUMNS", "GENERATION_EXPRESSION"),
    ]
    caps = queries.Capabilities.from_rows(mysql_80, "8.0.36")
    assert not caps.mariadb and caps.check_constraints and not caps.check_constraints_table_name
    assert caps.index_expression and caps.index_visibility == "IS_VISIBLE"
    assert "JOIN information_schema.TABLE_CONSTRAINTS" in (queries.check_constraints(caps) or "")
    assert "SCHEMA_COMMENT" not in queries.schemata(caps, one_database=False)

    mysql_57 = [("COLUMNS", "GENERATION_EXPRESSION")]
    caps = queries.Capabilities.from_rows(mysql_57, "5.7.44-log")
    assert queries.check_constraints(caps) is None
    assert "EXPRESSION," not in queries.statistics(caps)


def test_identifiers_are_quoted_with_backticks_doubled() -> None:
    assert identifiers.backtick("a`b c") == "`a``b c`"
    assert queries.privilege_probe("x`y") == "SHOW CREATE DATABASE `x``y`"


def test_column_property_keys_set_after_validation_are_not_secret_names() -> None:
    # The mapper sets these keys after validation (to skip per-column redaction); the models'
    # redaction must have nothing to hide in them.
    properties = dict.fromkeys(COLUMN_PROPERTY_KEYS, "value")
    assert redact_properties(properties) == properties
