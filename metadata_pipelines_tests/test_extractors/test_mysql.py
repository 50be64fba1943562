"""The MySQL / MariaDB extractor against a real server: every extracted fact, field by field."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlalchemy as sa

from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.extractors.identifiers import backtick as q
from metadata_pipelines.extractors.mysql import MySQLExtractor
from metadata_pipelines.models import (
    AssetType,
    ConstraintType,
    DataType,
    ExtractionBatch,
    ExtractionError,
    ExtractionResult,
    ExtractionStatus,
    RoutineType,
    Severity,
    TableMetadata,
    TableType,
)
from metadata_pipelines_tests.test_extractors.mysql_fixture import (
    HOST,
    ODD_CHILD,
    ODD_COLUMNS,
    ODD_TABLE,
    ODD_VIEW,
    PORT,
    MySQLFixture,
    root_config,
    root_credentials,
)


def extract(config: dict[str, Any], credentials: dict[str, Any] | None = None) -> ExtractionResult:
    extractor = MySQLExtractor(config, credentials or root_credentials())
    return asyncio.run(extractor.extract_metadata())


@pytest.fixture(scope="module")
def result(mysql_schema: MySQLFixture) -> ExtractionResult:
    return extract(root_config(mysql_schema))


def table(result: ExtractionResult, database: str, name: str) -> TableMetadata:
    matches = [t for t in result.tables if t.database == database and t.name == name]
    assert len(matches) == 1, f"{database}.{name} extracted {len(matches)} times"
    return matches[0]


def test_factory_maps_both_connector_types_to_the_extractor() -> None:
    factory = MetadataExtractorFactory()
    assert factory.extractor_class("mysql") is MySQLExtractor
    assert factory.extractor_class("mariadb") is MySQLExtractor
    extractor = factory.create("mariadb", {"host": "db"}, {"username": "u"})
    assert set(extractor.get_supported_asset_types()) == {
        AssetType.DATABASE,
        AssetType.TABLE,
        AssetType.VIEW,
        AssetType.COLUMN,
        AssetType.CONSTRAINT,
        AssetType.INDEX,
        AssetType.ROUTINE,
    }


def test_databases_of_the_fixture_and_nothing_else(
    result: ExtractionResult,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    assert [d.name for d in result.databases] == sorted(fx.databases)
    main = next(d for d in result.databases if d.name == fx.main)
    assert main.comment == "the shop"
    assert main.properties == {
        "default_character_set": "utf8mb4",
        "default_collation": "utf8mb4_general_ci",
    }
    assert {t.database for t in result.tables} <= set(fx.databases)
    assert all(t.schema_name is None for t in result.tables)
    assert result.schemas == []


def test_status_is_partial_because_of_the_broken_view_only(
    result: ExtractionResult,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    assert result.status is ExtractionStatus.PARTIAL
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.scope == (fx.main, "broken_view")
    assert error.asset_type is AssetType.VIEW
    assert error.severity is Severity.ERROR
    assert error.code == "broken_view"
    assert error.retryable is False
    assert "references invalid table(s)" in error.message
    broken = table(result, fx.main, "broken_view")
    assert broken.table_type is TableType.VIEW
    assert broken.columns == []
    assert broken.comment is None
    assert (
        broken.view_definition
        == f"select {q(fx.main)}.`doomed`.`id` AS `id` from {q(fx.main)}.`doomed`"
    )


def test_table_facts(result: ExtractionResult, mysql_schema: MySQLFixture) -> None:
    customers = table(result, mysql_schema.main, "customers")
    assert customers.table_type is TableType.TABLE
    assert customers.native_type == "BASE TABLE"
    assert customers.comment == "people who buy"
    assert customers.view_definition is None
    assert customers.row_count == 2
    props = customers.properties
    assert customers.size_bytes == props["data_length"] + props["index_length"] > 0
    assert customers.created_at is not None and customers.created_at.tzinfo is not None
    assert props["engine"] == "InnoDB"
    assert props["collation"] == "utf8mb4_general_ci"
    assert props["auto_increment"] == 1002
    assert props["row_format"] == "Dynamic"
    assert "partition_method" not in props


def test_columns_field_by_field(result: ExtractionResult, mysql_schema: MySQLFixture) -> None:
    columns = {c.name: c for c in table(result, mysql_schema.main, "customers").columns}
    assert [c.ordinal for c in columns.values()] == list(range(1, 12))
    expected = {
        # name: (native_type, data_type, nullable, default, is_primary_key, comment)
        "id": ("bigint(20) unsigned", DataType.INTEGER, False, None, True, "customer id"),
        "email": ("varchar(255)", DataType.STRING, False, None, False, None),
        "name": ("varchar(100)", DataType.STRING, False, "'anon''s'", False, None),
        "status": ("enum('active','blocked')", DataType.ENUM, False, "'active'", False, None),
        "tags": ("set('a','b')", DataType.SET, True, None, False, None),
        "is_vip": ("tinyint(1)", DataType.BOOLEAN, False, "0", False, None),
        "balance": ("decimal(12,2)", DataType.DECIMAL, True, None, False, None),
        "created": ("timestamp", DataType.TIMESTAMP, False, "current_timestamp()", False, None),
        "profile": ("longtext", DataType.JSON, True, None, False, None),
        "bio": ("text", DataType.STRING, True, None, False, None),
        "avatar": ("mediumblob", DataType.BINARY, True, None, False, None),
    }
    for name, (native, family, nullable, default, pk, comment) in expected.items():
        column = columns[name]
        assert (
            column.native_type,
            column.data_type,
            column.nullable,
            column.default,
            column.is_primary_key,
            column.comment,
        ) == (native, family, nullable, default, pk, comment), name
    assert columns["id"].properties == {"auto_increment": True}
    assert columns["email"].properties == {"character_set": "ascii", "collation": "ascii_bin"}
    assert columns["created"].properties == {"on_update": "current_timestamp()"}
    assert columns["profile"].properties["collation"] == "utf8mb4_bin"
    assert columns["is_vip"].properties == {}


def test_generated_columns_keys_and_checks(
    result: ExtractionResult,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    orders = table(result, fx.main, "orders")
    columns = {c.name: c for c in orders.columns}
    assert columns["total"].properties == {
        "generation_expression": "`amount` * `qty`",
        "generated_stored": True,
    }
    assert columns["total"].default is None
    assert columns["note_length"].properties == {
        "generation_expression": "char_length(`note`)",
        "generated_stored": False,
    }
    assert [c.name for c in orders.columns if c.is_primary_key] == ["customer_id", "order_no"]
    pk, fk, check = orders.constraints
    assert (pk.constraint_type, pk.name, pk.columns) == (
        ConstraintType.PRIMARY_KEY,
        "PRIMARY",
        ["customer_id", "order_no"],
    )
    assert fk.constraint_type is ConstraintType.FOREIGN_KEY
    assert fk.name == "fk_orders_customer"
    assert fk.columns == ["customer_id"]
    assert (fk.referenced_database, fk.referenced_schema, fk.referenced_table) == (
        fx.main,
        None,
        "customers",
    )
    assert fk.referenced_columns == ["id"]
    assert (fk.on_delete, fk.on_update) == ("CASCADE", "RESTRICT")
    assert (check.constraint_type, check.name, check.expression) == (
        ConstraintType.CHECK,
        "chk_qty",
        "`qty` > 0",
    )
    customers = table(result, fx.main, "customers")
    assert [
        (c.constraint_type, c.name, c.columns, c.expression) for c in customers.constraints
    ] == [
        (ConstraintType.PRIMARY_KEY, "PRIMARY", ["id"], None),
        (ConstraintType.UNIQUE, "uq_email", ["email"], None),
        (ConstraintType.CHECK, "profile", [], "json_valid(`profile`)"),
    ]


def test_composite_and_cross_database_foreign_keys(
    result: ExtractionResult,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    lines = table(result, fx.main, "order_lines")
    by_name = {c.name: c for c in lines.constraints}
    assert by_name["PRIMARY"].columns == ["customer_id", "order_no", "line"]
    composite = by_name["fk_lines_order"]
    # Key order is the declared one, not the table's column order.
    assert composite.columns == ["order_no", "customer_id"]
    assert composite.referenced_columns == ["order_no", "customer_id"]
    assert (composite.referenced_database, composite.referenced_table) == (fx.main, "orders")
    assert (composite.on_delete, composite.on_update) == ("CASCADE", "RESTRICT")
    cross = by_name["fk_lines_product"]
    assert cross.columns == ["product_code"]
    assert (cross.referenced_database, cross.referenced_table) == (fx.other, "products")
    assert cross.referenced_columns == ["code"]
    assert (cross.on_delete, cross.on_update) == ("SET NULL", "CASCADE")


def test_index_kinds_order_and_prefixes(
    result: ExtractionResult,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema

    def indexes(name: str) -> dict[str, Any]:
        return {i.name: i for i in table(result, fx.main, name).indexes}

    customers = indexes("customers")
    assert sorted(customers) == ["PRIMARY", "ft_bio", "uq_email"]
    assert (customers["PRIMARY"].columns, customers["PRIMARY"].unique) == (["id"], True)
    assert (customers["uq_email"].kind, customers["uq_email"].unique) == ("BTREE", True)
    assert (customers["ft_bio"].kind, customers["ft_bio"].unique) == ("FULLTEXT", False)
    assert customers["ft_bio"].columns == ["bio"]
    spatial = indexes("places")["sp_location"]
    assert (spatial.kind, spatial.columns, spatial.unique) == ("SPATIAL", ["location"], False)
    hashed = indexes("lookup")["ix_k"]
    assert (hashed.kind, hashed.columns) == ("HASH", ["k"])
    prefix = indexes("legacy_log")["ix_msg"]
    assert prefix.columns == ["msg", "id"]
    assert prefix.properties == {
        "index_type": "BTREE",
        "prefix_lengths": [10, None],
        "descending": [False, True],
        "visible": True,
    }
    composite = indexes("orders")["ix_order_customer"]
    assert composite.columns == ["order_no", "customer_id"]


def test_myisam_memory_and_partitioned_tables(
    result: ExtractionResult,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    assert table(result, fx.main, "legacy_log").properties["engine"] == "MyISAM"
    assert table(result, fx.main, "lookup").properties["engine"] == "MEMORY"
    events = table(result, fx.main, "events")
    assert events.properties["create_options"] == "partitioned"
    assert events.properties["partition_method"] == "RANGE"
    assert events.properties["partition_expression"] == "year(`happened`)"
    assert events.properties["partition_names"] == ["p2023", "p2024", "pmax"]
    assert events.properties["partition_descriptions"] == ["2024", "2025", "MAXVALUE"]
    assert "subpartition_method" not in events.properties


def test_view(result: ExtractionResult, mysql_schema: MySQLFixture) -> None:
    fx = mysql_schema
    view = table(result, fx.main, "vip_customers")
    assert (view.table_type, view.native_type, view.comment) == (TableType.VIEW, "VIEW", None)
    assert view.view_definition == (
        f"select {q(fx.main)}.`customers`.`id` AS `id`,{q(fx.main)}.`customers`.`email` AS "
        f"`email` from {q(fx.main)}.`customers` where {q(fx.main)}.`customers`.`is_vip` = 1"
    )
    assert [(c.name, c.native_type) for c in view.columns] == [
        ("id", "bigint(20) unsigned"),
        ("email", "varchar(255)"),
    ]
    assert (view.row_count, view.size_bytes) == (None, None)
    assert view.properties["check_option"] == "NONE"
    assert view.properties["is_updatable"] is True
    assert view.properties["security_type"] == "DEFINER"
    assert view.constraints == [] and view.indexes == []


def test_routines(result: ExtractionResult, mysql_schema: MySQLFixture) -> None:
    fx = mysql_schema
    procedure, function = result.routines
    assert (procedure.database, procedure.name, procedure.routine_type) == (
        fx.main,
        "count_orders",
        RoutineType.PROCEDURE,
    )
    assert procedure.return_type is None
    assert procedure.language == "SQL"
    assert procedure.comment == "counts orders"
    assert "SELECT COUNT(*) INTO p_count" in (procedure.definition or "")
    assert procedure.properties["sql_data_access"] == "READS SQL DATA"
    assert procedure.properties["parameters"] == [
        {"name": "p_customer", "mode": "IN", "type": "bigint(20)"},
        {"name": "p_count", "mode": "OUT", "type": "int(11)"},
    ]
    assert (function.name, function.routine_type) == ("line_total", RoutineType.FUNCTION)
    assert function.return_type == "decimal(12,2)"
    assert function.definition == "RETURN p_qty * p_amount"
    assert function.properties["deterministic"] is True
    assert [p["name"] for p in function.properties["parameters"]] == ["p_qty", "p_amount"]
    assert function.created_at is not None and function.created_at.tzinfo is not None


def test_odd_identifiers_round_trip_exactly(
    result: ExtractionResult,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    parent = table(result, fx.odd, ODD_TABLE)
    assert parent.database == fx.odd == f"{fx.prefix}odd ü"
    assert parent.comment == "reserved `name`"
    assert [c.name for c in parent.columns] == ODD_COLUMNS
    assert parent.columns[0].comment == "ünïcode 'quoted' comment"
    unique = next(c for c in parent.constraints if c.constraint_type is ConstraintType.UNIQUE)
    assert (unique.name, unique.columns) == ("uq a`b-ü", ["a`b", "with space"])
    child = table(result, fx.odd, ODD_CHILD)
    (fk,) = child.constraints
    assert (fk.name, fk.columns, fk.referenced_table, fk.referenced_columns) == (
        "fk `odd`-ü",
        ["parent from"],
        ODD_TABLE,
        ["from"],
    )
    view = table(result, fx.odd, ODD_VIEW)
    assert [c.name for c in view.columns] == ["a`b", "ünï"]


def test_empty_database_is_listed_without_tables_or_errors(
    result: ExtractionResult,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    assert fx.empty in [d.name for d in result.databases]
    assert [t for t in result.tables if t.database == fx.empty] == []
    assert all(e.scope[0] != fx.empty for e in result.errors)


def test_one_database_and_table_patterns(mysql_schema: MySQLFixture) -> None:
    fx = mysql_schema
    only_main = extract(root_config(fx, database=fx.main))
    assert [d.name for d in only_main.databases] == [fx.main]
    assert {t.database for t in only_main.tables} == {fx.main}

    picked = extract(
        root_config(
            fx,
            include_databases=[f"{fx.prefix}(main|other)"],
            include_tables=["order.*", rf"{fx.prefix}other\.products"],
            exclude_tables=["orders"],
        )
    )
    assert sorted((t.database, t.name) for t in picked.tables) == [
        (fx.main, "order_lines"),
        (fx.other, "products"),
    ]
    assert picked.status is ExtractionStatus.SUCCESS  # the broken view is out of scope

    no_views = extract(root_config(fx, database=fx.main, include_views=False))
    assert all(t.table_type is TableType.TABLE for t in no_views.tables)
    assert no_views.status is ExtractionStatus.SUCCESS


def test_statistics_and_routines_can_be_left_out(mysql_schema: MySQLFixture) -> None:
    fx = mysql_schema
    lean = extract(
        root_config(fx, database=fx.main, include_statistics=False, include_routines=False)
    )
    assert lean.routines == []
    customers = table(lean, fx.main, "customers")
    assert (customers.row_count, customers.size_bytes, customers.updated_at) == (None, None, None)
    assert customers.created_at is not None
    assert customers.properties == {
        "engine": "InnoDB",
        "row_format": "Dynamic",
        "collation": "utf8mb4_general_ci",
    }
    assert len(customers.columns) == 11


def test_statements_do_not_grow_with_tables(
    mysql_server: sa.Engine,
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    wide = f"{fx.prefix}wide"
    with mysql_server.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {q(wide)}")
        try:
            for i in range(60):
                reference = f", FOREIGN KEY (p) REFERENCES t{i - 1} (id)" if i else ""
                connection.exec_driver_sql(
                    f"CREATE TABLE {q(wide)}.t{i} (id INT PRIMARY KEY, p INT{reference})"
                )
            extractor = MySQLExtractor(root_config(fx, database=wide), root_credentials())
            wide_result = asyncio.run(extractor.extract_metadata())
            wide_statements = extractor.statements_sent
        finally:
            connection.exec_driver_sql(f"DROP DATABASE {q(wide)}")
    assert len(wide_result.tables) == 60
    assert sum(len(t.constraints) for t in wide_result.tables) == 60 + 59
    # session: init command, capabilities, databases; then tables, columns, indexes, keys,
    # foreign key rules, checks, routines.
    assert wide_statements == 3 + 7

    extractor = MySQLExtractor(root_config(fx, database=fx.main), root_credentials())
    asyncio.run(extractor.extract_metadata())
    # main also has views, a partitioned table and routines with parameters: 3 more queries.
    assert extractor.statements_sent == 3 + 10


def test_user_granted_one_database_sees_only_it(mysql_schema: MySQLFixture) -> None:
    fx = mysql_schema
    credentials = {"username": fx.user_one, "password": fx.password}
    limited = extract(root_config(fx), credentials)
    assert [d.name for d in limited.databases] == [fx.main]
    assert {t.name for t in limited.tables} == {
        "broken_view",
        "customers",
        "events",
        "legacy_log",
        "lookup",
        "order_lines",
        "orders",
        "places",
        "vip_customers",
    }
    assert [c.name for c in table(limited, fx.main, "customers").columns][:2] == ["id", "email"]
    # information_schema lists routines only to their definer or to holders of a routine
    # privilege; SELECT alone is not one (see docs/connectors/mysql.md).
    assert limited.routines == []
    dumped = limited.model_dump_json()
    assert fx.password not in dumped


def test_system_databases_only_when_asked_for() -> None:
    hidden = extract({"host": HOST, "port": PORT, "include_databases": ["mysql"]})
    assert (hidden.databases, hidden.tables, hidden.status) == ([], [], ExtractionStatus.SUCCESS)
    shown = extract(
        {
            "host": HOST,
            "port": PORT,
            "include_databases": ["mysql"],
            "include_system_databases": True,
            "include_routines": False,
        }
    )
    assert [d.name for d in shown.databases] == ["mysql"]
    assert "user" in {t.name for t in shown.tables}


def test_listed_but_unreadable_databases_are_scoped_errors(
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    credentials = {"username": fx.user_lister, "password": fx.password}
    listed = extract(root_config(fx), credentials)
    assert [d.name for d in listed.databases] == sorted(fx.databases)
    denied = {e.scope: e for e in listed.errors if e.code == "missing_privilege"}
    assert sorted(denied) == sorted((d,) for d in fx.databases if d != fx.main)
    secret = denied[(fx.secret,)]
    assert secret.severity is Severity.ERROR
    assert secret.asset_type is AssetType.DATABASE
    assert secret.retryable is False
    assert f"Access denied for user '{fx.user_lister}'" in secret.message
    assert fx.secret in secret.message
    assert listed.status is ExtractionStatus.PARTIAL
    assert {t.database for t in listed.tables} == {fx.main}
    assert len(table(listed, fx.main, "orders").constraints) == 3
    assert fx.password not in listed.model_dump_json()


def test_blocking_driver_calls_leave_the_event_loop_free(
    mysql_schema: MySQLFixture,
) -> None:
    async def run() -> tuple[ExtractionResult, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        extractor = MySQLExtractor(root_config(mysql_schema), root_credentials())
        try:
            extracted = await extractor.extract_metadata()
        finally:
            done.set()
            await task
        return extracted, ticks

    extracted, ticks = asyncio.run(run())
    assert extracted.tables
    # Each database is read in a worker thread: the loop keeps running other tasks meanwhile.
    assert ticks > len(extracted.databases)


def test_result_is_json_serializable(result: ExtractionResult) -> None:
    payload = json.loads(result.model_dump_json())
    assert payload["connector_type"] == "mysql"
    assert payload["status"] == "partial"
    assert len(payload["tables"]) == len(result.tables)


def _stream(config: dict[str, Any], credentials: dict[str, Any] | None = None):
    extractor = MySQLExtractor(config, credentials or root_credentials())

    async def run() -> list[ExtractionBatch]:
        return [batch async for batch in extractor.stream_metadata()]

    return asyncio.run(run()), extractor


def _sorted_errors(errors: list[ExtractionError]) -> list[tuple[Any, ...]]:
    return sorted((e.scope, e.code or "", e.message) for e in errors)


def test_a_database_larger_than_batch_tables_is_read_in_parts_to_the_same_result(
    result: ExtractionResult, mysql_schema: MySQLFixture
) -> None:
    fx = mysql_schema
    batches, extractor = _stream(root_config(fx, batch_tables=2))

    assert all(len(batch.tables) <= 2 for batch in batches)
    assert [d.name for batch in batches for d in batch.databases] == sorted(fx.databases)
    main_parts = [b for b in batches if b.tables and b.tables[0].database == fx.main]
    assert len(main_parts) >= 3
    assert [bool(b.databases) for b in main_parts] == [True] + [False] * (len(main_parts) - 1)
    whole = ExtractionResult.from_batches("mysql", result.started_at, batches)
    assert sorted(whole.tables, key=lambda t: t.path) == sorted(result.tables, key=lambda t: t.path)
    assert whole.routines == result.routines
    assert _sorted_errors(whole.errors) == _sorted_errors(result.errors)
    # A part costs its own queries (columns, indexes, keys, ...), not the database's.
    _, whole_extractor = _stream(root_config(fx))
    assert extractor.statements_sent > whole_extractor.statements_sent


def test_tables_whose_privilege_is_revoked_between_parts_are_kept_as_they_were(
    mysql_server: sa.Engine, mysql_schema: MySQLFixture
) -> None:
    """Read in parts, a database's table list is older than its later parts: a table that comes
    back without columns (revoked, dropped) is an error that keeps it, never a table without
    columns."""
    fx = mysql_schema
    database, user = f"{fx.prefix}parts", f"{fx.prefix}parts"
    with mysql_server.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {q(database)}")
        connection.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'pw-parts'")
        try:
            for i in range(8):
                connection.exec_driver_sql(f"CREATE TABLE {q(database)}.t{i} (id INT PRIMARY KEY)")
                connection.exec_driver_sql(f"GRANT SELECT ON {q(database)}.t{i} TO '{user}'@'%%'")
            extractor = MySQLExtractor(
                root_config(fx, database=database, batch_tables=2),
                {"username": user, "password": "pw-parts"},
            )

            async def run() -> list[ExtractionBatch]:
                stream = extractor.stream_metadata()
                batches = [await anext(stream)]
                for i in range(8):  # the third part and later are read after this
                    connection.exec_driver_sql(
                        f"REVOKE SELECT ON {q(database)}.t{i} FROM '{user}'@'%%'"
                    )
                batches += [batch async for batch in stream]
                return batches

            batches = asyncio.run(run())
        finally:
            connection.exec_driver_sql(f"DROP DATABASE {q(database)}")
            connection.exec_driver_sql(f"DROP USER '{user}'@'%%'")

    tables = {t.name: t for batch in batches for t in batch.tables}
    vanished = {e.scope[-1]: e for batch in batches for e in batch.errors}
    assert {"t0", "t1"} <= set(tables)
    assert {"t4", "t5", "t6", "t7"} <= set(vanished)
    assert set(tables) | set(vanished) == {f"t{i}" for i in range(8)}
    assert all(table.columns for table in tables.values())
    assert {e.code for e in vanished.values()} == {"table_vanished"}
    assert all(e.severity is Severity.ERROR for e in vanished.values())
