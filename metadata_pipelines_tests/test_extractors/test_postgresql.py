"""The PostgreSQL extractor against the real server: every extracted fact, field by field."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.extractors.postgresql import PostgreSQLExtractor
from metadata_pipelines.models import (
    AssetType,
    ColumnMetadata,
    ConstraintType,
    DataType,
    ExtractionResult,
    ExtractionStatus,
    RoutineType,
    Severity,
    TableMetadata,
    TableType,
    iter_fields,
)
from metadata_pipelines_tests.support.postgresql_source import (
    LONG_NAME,
    ODD_CHILD,
    ODD_COLUMNS,
    ODD_SCHEMA,
    ODD_TABLE,
    PostgresFixture,
    admin_config,
    admin_credentials,
)


def extract(
    config: dict[str, Any], credentials: dict[str, Any] | None = None
) -> tuple[ExtractionResult, PostgreSQLExtractor]:
    extractor = PostgreSQLExtractor(config, credentials or admin_credentials())
    return asyncio.run(extractor.extract_metadata()), extractor


@pytest.fixture(scope="module")
def extraction(postgres_source: PostgresFixture) -> tuple[ExtractionResult, PostgreSQLExtractor]:
    return extract(admin_config(postgres_source))


@pytest.fixture(scope="module")
def result(extraction: tuple[ExtractionResult, PostgreSQLExtractor]) -> ExtractionResult:
    return extraction[0]


def table(result: ExtractionResult, database: str, schema: str, name: str) -> TableMetadata:
    matches = [
        t
        for t in result.tables
        if t.database == database and t.schema_name == schema and t.name == name
    ]
    assert len(matches) == 1, f"{database}.{schema}.{name} extracted {len(matches)} times"
    return matches[0]


def column(t: TableMetadata, name: str) -> ColumnMetadata:
    return next(c for c in t.columns if c.name == name)


def test_factory_maps_both_connector_types_to_the_extractor() -> None:
    factory = MetadataExtractorFactory()
    assert factory.extractor_class("postgresql") is PostgreSQLExtractor
    assert factory.extractor_class("postgres") is PostgreSQLExtractor
    extractor = factory.create("postgres", {"host": "db"}, {"username": "u"})
    assert AssetType.SCHEMA in extractor.get_supported_asset_types()


def test_databases_schemas_and_nothing_else(
    result: ExtractionResult, postgres_source: PostgresFixture
) -> None:
    fx = postgres_source
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert result.errors == []
    assert [d.name for d in result.databases] == sorted(fx.databases)
    main = next(d for d in result.databases if d.name == fx.main)
    assert main.comment == "the shop"
    assert main.owner == "postgres"
    assert main.properties["encoding"] == "UTF8"
    assert main.properties["size_bytes"] > 1_000_000
    assert {"collation", "ctype"} <= set(main.properties)
    schemas = {(s.database, s.name): s for s in result.schemas}
    # System schemas (pg_catalog, information_schema, pg_toast) are left out by default.
    assert sorted(name for db, name in schemas if db == fx.main) == [
        ODD_SCHEMA,
        "public",
        "ref",
        "shop",
    ]
    assert schemas[(fx.main, "shop")].comment == "sales data"
    assert schemas[(fx.main, "shop")].owner == "postgres"
    assert {t.database for t in result.tables} == set(fx.databases)


def test_statements_per_database_are_a_fixed_set(
    extraction: tuple[ExtractionResult, PostgreSQLExtractor], postgres_source: PostgresFixture
) -> None:
    fx = postgres_source
    _, extractor = extraction
    counts = extractor.statements_per_database
    # BEGIN, database, schemas, relations, columns, types, constraints, indexes, routines,
    # view definitions, COMMIT; `other` and `secret` have no user types and no views.
    assert counts[fx.main] == 11
    assert counts[fx.other] == 9
    assert counts[fx.secret] == 9
    assert counts["postgres"] == 1  # listing the databases, on initial_database


def test_statement_count_does_not_grow_with_tables(
    postgres_server: sa.Engine, postgres_source: PostgresFixture
) -> None:
    fx = postgres_source
    config = admin_config(fx, database=fx.other)
    _, before = extract(config)
    engine = sa.create_engine(fx.url(fx.other), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE SCHEMA growth")
            for i in range(30):
                connection.exec_driver_sql(
                    f"CREATE TABLE growth.t{i} (id int PRIMARY KEY, v text UNIQUE)"
                )
                connection.exec_driver_sql(f"CREATE VIEW growth.v{i} AS SELECT id FROM growth.t{i}")
        grown, after = extract(config)
        assert len(grown.tables) == 2 + 60
        assert after.statements_sent == before.statements_sent + 1  # view definitions
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql("DROP SCHEMA growth CASCADE")
        engine.dispose()


def test_table_facts(result: ExtractionResult, postgres_source: PostgresFixture) -> None:
    customers = table(result, postgres_source.main, "shop", "customers")
    assert customers.table_type is TableType.TABLE
    assert customers.native_type == "table"
    assert customers.comment == "people who buy"
    assert customers.owner == "postgres"
    assert customers.row_count == 2  # ANALYZEd
    assert customers.size_bytes is not None and customers.size_bytes > 0
    props = customers.properties
    assert props["persistence"] == "permanent"
    assert props["row_level_security"] is True
    assert props["access_method"] == "heap"
    assert props["table_size_bytes"] + props["indexes_size_bytes"] == customers.size_bytes
    assert props["indexes_size_bytes"] > 0
    assert isinstance(props["seq_scan"], int) and isinstance(props["idx_scan"], int)
    assert props["last_analyze"].endswith("+00:00")
    scratch = table(result, postgres_source.main, "shop", "scratch")
    assert scratch.properties["persistence"] == "unlogged"
    assert scratch.row_count is None  # -1: never vacuumed or analysed
    # The dropped column is gone; ordinals are attnum, so they keep its gap.
    assert [(c.name, c.ordinal) for c in scratch.columns] == [("k", 1), ("v", 3)]


def test_column_types_defaults_identity_and_generated(
    result: ExtractionResult, postgres_source: PostgresFixture
) -> None:
    customers = table(result, postgres_source.main, "shop", "customers")
    expected = {
        "id": ("bigint", DataType.INTEGER, False, None),
        "email": ("public.citext", DataType.STRING, False, None),
        "name": ("character varying(100)", DataType.STRING, False, "'anon''s'::character varying"),
        "status": ("shop.order_status", DataType.ENUM, False, "'new'::shop.order_status"),
        "balance": ("numeric(12,2)", DataType.DECIMAL, True, None),
        "created": ("timestamp with time zone", DataType.TIMESTAMP, False, "now()"),
        "tags": ("text[]", DataType.ARRAY, True, None),
        "home": ("shop.address", DataType.STRUCT, True, None),
        "addresses": ("shop.address[]", DataType.ARRAY, True, None),
        "profile": ("jsonb", DataType.JSON, True, None),
        "name_upper": ("text", DataType.STRING, True, None),
        "nickname": ("text", DataType.STRING, True, None),
        "avatar": ("bytea", DataType.BINARY, True, None),
        "flags": ("bit varying(8)", DataType.BINARY, True, None),
        "ip": ("inet", DataType.STRING, True, None),
        "span": ("interval", DataType.INTERVAL, True, None),
    }
    assert [c.name for c in customers.columns] == list(expected)
    assert [c.ordinal for c in customers.columns] == list(range(1, len(expected) + 1))
    for c in customers.columns:
        assert (c.native_type, c.data_type, c.nullable, c.default) == expected[c.name], c.name
    assert column(customers, "id").is_primary_key is True
    assert column(customers, "id").comment == "customer id"
    assert column(customers, "id").properties == {"identity": "always"}
    assert column(customers, "status").properties == {"enum_labels": ["new", "paid", "shipped"]}
    assert column(customers, "name_upper").properties == {
        "generation_expression": "upper((name)::text)",
        "generated": "stored",
    }
    assert column(customers, "nickname").properties == {"collation": "C"}
    orders = table(result, postgres_source.main, "shop", "orders")
    serial = column(orders, "id")
    assert serial.default == "nextval('shop.orders_id_seq'::regclass)"
    amount = column(orders, "amount")
    assert (amount.native_type, amount.data_type, amount.nullable) == (
        "shop.positive_amount",
        DataType.DECIMAL,
        False,  # the domain is NOT NULL
    )
    assert amount.properties == {
        "domain": "shop.positive_amount",
        "domain_base_type": "numeric(12,2)",
        "domain_constraints": ["CHECK ((VALUE > (0)::numeric))"],
        "domain_not_null": True,
    }
    bookings = table(result, postgres_source.main, "shop", "bookings")
    during = column(bookings, "during")
    assert (during.native_type, during.data_type) == ("tstzrange", DataType.UNKNOWN)


def test_composite_members_are_nested_fields(
    result: ExtractionResult, postgres_source: PostgresFixture
) -> None:
    customers = table(result, postgres_source.main, "shop", "customers")
    paths = {
        path: (field.native_type, field.data_type, field.comment)
        for path, _parent, _depth, field in iter_fields(customers.columns)
        if path.startswith(("home", "addresses"))
    }
    assert paths == {
        "home": ("shop.address", DataType.STRUCT, None),
        "home.street": ("text", DataType.STRING, None),
        "home.city": ("character varying(80)", DataType.STRING, "town or city"),
        "home.geo": ("shop.point2", DataType.STRUCT, None),
        "home.geo.x": ("double precision", DataType.FLOAT, None),
        "home.geo.y": ("double precision", DataType.FLOAT, None),
        "addresses": ("shop.address[]", DataType.ARRAY, None),
        "addresses[].street": ("text", DataType.STRING, None),
        "addresses[].city": ("character varying(80)", DataType.STRING, "town or city"),
        "addresses[].geo": ("shop.point2", DataType.STRUCT, None),
        "addresses[].geo.x": ("double precision", DataType.FLOAT, None),
        "addresses[].geo.y": ("double precision", DataType.FLOAT, None),
    }
    assert [m.ordinal for m in column(customers, "home").children] == [1, 2, 3]


def test_constraints(result: ExtractionResult, postgres_source: PostgresFixture) -> None:
    fx = postgres_source
    orders = table(result, fx.main, "shop", "orders")
    assert [(c.constraint_type, c.name) for c in orders.constraints] == [
        (ConstraintType.PRIMARY_KEY, "orders_pkey"),
        (ConstraintType.UNIQUE, "orders_id_key"),
        (ConstraintType.FOREIGN_KEY, "fk_orders_customer"),
        (ConstraintType.CHECK, "chk_qty"),
    ]
    primary, _unique, foreign, check = orders.constraints
    assert primary.columns == ["customer_id", "order_no"]
    assert primary.expression == "PRIMARY KEY (customer_id, order_no)"
    assert [c.name for c in orders.columns if c.is_primary_key] == ["customer_id", "order_no"]
    assert foreign.model_dump() == {
        "name": "fk_orders_customer",
        "constraint_type": ConstraintType.FOREIGN_KEY,
        "columns": ["customer_id"],
        "referenced_database": fx.main,
        "referenced_schema": "shop",
        "referenced_table": "customers",
        "referenced_columns": ["id"],
        "on_delete": "CASCADE",
        "on_update": "RESTRICT",
        "expression": "FOREIGN KEY (customer_id) REFERENCES shop.customers(id) "
        "ON UPDATE RESTRICT ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",
    }
    assert (check.columns, check.expression) == (["qty"], "CHECK ((qty > 0))")
    lines = table(result, fx.main, "shop", "order_lines")
    composite = next(c for c in lines.constraints if c.name == "fk_lines_order")
    assert composite.columns == ["order_no", "customer_id"]
    assert composite.referenced_columns == ["order_no", "customer_id"]
    assert (composite.on_delete, composite.on_update) == ("CASCADE", "NO ACTION")
    cross = next(c for c in lines.constraints if c.name == "fk_lines_product")
    assert (cross.referenced_schema, cross.referenced_table, cross.referenced_columns) == (
        "ref",
        "products",
        ["code"],
    )
    assert (cross.on_delete, cross.on_update) == ("SET NULL", "CASCADE")
    bookings = table(result, fx.main, "shop", "bookings")
    exclusion = bookings.constraints[0]
    assert exclusion.constraint_type is ConstraintType.EXCLUSION
    assert exclusion.expression == "EXCLUDE USING gist (during WITH &&)"


def test_indexes(result: ExtractionResult, postgres_source: PostgresFixture) -> None:
    customers = table(result, postgres_source.main, "shop", "customers")
    indexes = {i.name: i for i in customers.indexes}
    assert sorted(indexes) == [
        "customers_email_key",
        "customers_pkey",
        "ix_customers_cover",
        "ix_customers_lower_name",
        "ix_customers_paid",
        "ix_customers_tags",
    ]
    primary = indexes["customers_pkey"]
    assert (primary.columns, primary.unique, primary.kind) == (["id"], True, "btree")
    assert primary.properties == {
        "definition": "CREATE UNIQUE INDEX customers_pkey ON shop.customers USING btree (id)",
        "primary": True,
    }
    assert indexes["ix_customers_lower_name"].columns == ["(lower((name)::text))"]
    paid = indexes["ix_customers_paid"]
    assert paid.columns == ["created"]
    assert paid.properties["predicate"] == "(status = 'paid'::shop.order_status)"
    assert paid.properties["descending"] == [True]
    assert "nulls_first" not in paid.properties  # DESC puts NULLs first by default
    cover = indexes["ix_customers_cover"]
    assert (cover.columns, cover.properties["include"]) == (["status"], ["balance", "name"])
    assert indexes["ix_customers_tags"].kind == "gin"
    bookings = table(result, postgres_source.main, "shop", "bookings")
    assert {i.name: i.kind for i in bookings.indexes} == {
        "ix_bookings_addr": "spgist",
        "ix_bookings_code": "hash",
        "ix_bookings_room": "brin",
        "no_overlap": "gist",
    }
    assert next(i for i in bookings.indexes if i.name == "no_overlap").properties["exclusion"]


def test_partitions_are_listed_under_their_parent(
    result: ExtractionResult, postgres_source: PostgresFixture
) -> None:
    fx = postgres_source
    names = {t.name for t in result.tables if t.database == fx.main}
    assert not any(name.startswith("events_") for name in names)
    events = table(result, fx.main, "shop", "events")
    assert events.native_type == "partitioned table"
    assert events.properties["partition_key"] == "RANGE (happened)"
    assert events.properties["partitions"] == [
        {
            "name": "shop.events_2023",
            "bound": "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')",
        },
        {
            "name": "shop.events_2024",
            "bound": "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
            "partition_key": "LIST (region)",
        },
        {
            "name": "shop.events_2024_eu",
            "bound": "FOR VALUES IN ('eu')",
            "parent": "shop.events_2024",
        },
        {"name": "shop.events_2024_rest", "bound": "DEFAULT", "parent": "shop.events_2024"},
        {"name": "shop.events_default", "bound": "DEFAULT"},
    ]
    assert events.row_count == 4  # the leaves' estimates, summed
    assert events.properties["table_size_bytes"] > 0
    assert [c.name for c in events.columns] == ["id", "happened", "region"]


def test_partitions_as_tables_of_their_own(postgres_source: PostgresFixture) -> None:
    fx = postgres_source
    result, _ = extract(
        admin_config(fx, database=fx.main, include_partitions=True, include_tables=["events.*"])
    )
    by_name = {t.name: t for t in result.tables}
    assert sorted(by_name) == [
        "events",
        "events_2023",
        "events_2024",
        "events_2024_eu",
        "events_2024_rest",
        "events_default",
    ]
    eu = by_name["events_2024_eu"]
    assert eu.properties["partition_of"] == "shop.events_2024"
    assert eu.properties["partition_bound"] == "FOR VALUES IN ('eu')"
    assert eu.row_count == 1
    assert [c.name for c in eu.constraints] == ["events_2024_eu_pkey"]
    assert by_name["events_2024"].properties["partition_of"] == "shop.events"
    assert len(by_name["events"].properties["partitions"]) == 5


def test_inheritance_views_materialized_views_foreign_tables_sequences(
    result: ExtractionResult, postgres_source: PostgresFixture
) -> None:
    fx = postgres_source
    capitals = table(result, fx.main, "shop", "capitals")
    assert capitals.properties["inherits"] == ["shop.cities"]
    assert [c.name for c in capitals.columns] == ["name", "population", "state"]
    vip = table(result, fx.main, "shop", "vip_customers")
    assert (vip.table_type, vip.native_type, vip.comment) == (
        TableType.VIEW,
        "view",
        "big spenders",
    )
    assert vip.view_definition == (
        "SELECT customers.id,\n    customers.email\n   FROM shop.customers\n"
        "  WHERE (customers.balance > (1000)::numeric);"
    )
    assert [(c.name, c.native_type) for c in vip.columns] == [
        ("id", "bigint"),
        ("email", "public.citext"),
    ]
    rates = table(result, fx.main, "shop", "rates")  # its function's callee was recreated
    assert rates.view_definition == "SELECT shop.outer_rate() AS rate;"
    assert [(c.name, c.data_type) for c in rates.columns] == [("rate", DataType.DECIMAL)]
    counts = table(result, fx.main, "shop", "customer_counts")
    assert counts.table_type is TableType.MATERIALIZED_VIEW
    assert counts.properties["populated"] is True
    assert "GROUP BY customers.status" in (counts.view_definition or "")
    pending = table(result, fx.main, "shop", "pending_counts")
    assert pending.properties["populated"] is False
    remote = table(result, fx.main, "shop", "remote_products")
    assert (remote.table_type, remote.native_type) == (TableType.FOREIGN_TABLE, "foreign table")
    assert remote.properties == {
        "foreign_server": "loopback",
        "foreign_data_wrapper": "postgres_fdw",
        "foreign_options": {"schema_name": "public", "table_name": "products"},
    }
    assert [c.name for c in remote.columns] == ["code", "title"]
    invoices = table(result, fx.main, "shop", "invoice_numbers")
    assert (invoices.table_type, invoices.native_type, invoices.columns) == (
        TableType.OTHER,
        "sequence",
        [],
    )
    assert invoices.properties == {
        "data_type": "integer",
        "start": 1000,
        "increment": 10,
        "minimum": 1,
        "maximum": 2147483647,
        "cache": 1,
        "cycle": True,
    }
    # Sequences owned by a column (serial, identity) are that column's detail, not assets.
    names = {t.name for t in result.tables if t.database == fx.main}
    assert {"orders_id_seq", "customers_id_seq"}.isdisjoint(names)


def test_odd_identifiers(result: ExtractionResult, postgres_source: PostgresFixture) -> None:
    fx = postgres_source
    odd = table(result, fx.main, ODD_SCHEMA, ODD_TABLE)
    assert odd.comment == 'reserved "name" ünï'
    assert [c.name for c in odd.columns] == ODD_COLUMNS
    unique = next(c for c in odd.constraints if c.constraint_type is ConstraintType.UNIQUE)
    assert (unique.name, unique.columns) == ('uq "odd"-ü', ["User Name", "with space"])
    child = table(result, fx.main, ODD_SCHEMA, ODD_CHILD)
    foreign = child.constraints[0]
    assert (foreign.name, foreign.referenced_schema, foreign.referenced_table) == (
        'fk "odd"-ü',
        ODD_SCHEMA,
        ODD_TABLE,
    )
    assert foreign.expression == (
        'FOREIGN KEY ("parent from") REFERENCES "Odd Schema ü"."select"("from")'
    )
    long = table(result, fx.main, ODD_SCHEMA, LONG_NAME)
    assert [c.name for c in long.columns] == [LONG_NAME]


def test_routines(result: ExtractionResult, postgres_source: PostgresFixture) -> None:
    fx = postgres_source
    routines = {r.name: r for r in result.routines if r.database == fx.main}
    # citext's and postgres_fdw's own functions are not the database's routines.
    assert sorted(routines) == [
        "archive_orders(date, integer)",
        "double_it(integer)",
        "inner_rate()",
        "line_total(integer)",
        "line_total(integer, numeric)",
        "outer_rate()",
        "whoami()",
    ]
    total = routines["line_total(integer, numeric)"]
    assert total.model_dump(exclude={"properties"}) == {
        "database": fx.main,
        "schema_name": "shop",
        "name": "line_total(integer, numeric)",
        "routine_type": RoutineType.FUNCTION,
        "return_type": "numeric",
        "language": "sql",
        "definition": " SELECT p_qty * p_amount ",
        "comment": "quantity times amount",
        "created_at": None,
        "updated_at": None,
    }
    assert total.properties == {
        "routine_name": "line_total",
        "arguments": "p_qty integer, p_amount numeric",
        "volatility": "immutable",
        "strict": True,
        "security_definer": False,
        "parallel": "unsafe",
        "owner": "postgres",
    }
    assert routines["double_it(integer)"].definition == "BEGIN ATOMIC\n SELECT (x * 2);\nEND"
    assert routines["whoami()"].properties["security_definer"] is True
    procedure = routines["archive_orders(date, integer)"]
    assert (procedure.routine_type, procedure.return_type, procedure.language) == (
        RoutineType.PROCEDURE,
        None,
        "plpgsql",
    )
    assert procedure.properties["arguments"] == "IN before date, INOUT moved integer DEFAULT 0"


def test_patterns_and_switches(postgres_source: PostgresFixture) -> None:
    fx = postgres_source
    result, extractor = extract(
        admin_config(
            fx,
            database=fx.main,
            include_schemas=["shop"],
            exclude_tables=["shop\\.events", "bookings", f"{fx.main}\\.shop\\.capitals"],
            include_views=False,
            include_routines=False,
            include_sequences=False,
            include_statistics=False,
        )
    )
    assert [s.name for s in result.schemas] == ["shop"]
    names = sorted(t.name for t in result.tables)
    assert names == [
        "cities",
        "customers",
        "order_lines",
        "orders",
        "remote_products",
        "scratch",
    ]
    assert result.routines == []
    customers = next(t for t in result.tables if t.name == "customers")
    assert (customers.row_count, customers.size_bytes) == (None, None)
    assert "seq_scan" not in customers.properties
    assert "size_bytes" not in result.databases[0].properties
    # No views in scope: no view definitions query; no routines query.
    assert extractor.statements_per_database[fx.main] == 1 + 9


def test_system_schemas_on_request(postgres_source: PostgresFixture) -> None:
    fx = postgres_source
    result, _ = extract(
        admin_config(
            fx,
            database=fx.other,
            include_system_schemas=True,
            include_schemas=["pg_catalog", "information_schema"],
            include_tables=["pg_class", "tables"],
            include_routines=False,
        )
    )
    assert sorted((t.schema_name, t.name) for t in result.tables) == [
        ("information_schema", "tables"),
        ("pg_catalog", "pg_class"),
    ]


def test_role_with_connect_on_one_database_gets_scoped_errors(
    postgres_source: PostgresFixture,
) -> None:
    fx = postgres_source
    result, extractor = extract(
        admin_config(fx), {"username": fx.role_one, "password": fx.password}
    )
    assert result.status is ExtractionStatus.PARTIAL
    assert sorted(d.name for d in result.databases) == sorted(fx.databases)
    errors = {e.scope: e for e in result.errors}
    assert set(errors) == {(fx.other,), (fx.secret,)}
    for scope, error in errors.items():
        assert error.severity is Severity.ERROR
        assert error.code == "missing_privilege"
        assert error.retryable is False
        assert f"may not CONNECT to database {scope[0]!r}" in error.message
    assert {t.database for t in result.tables} == {fx.main}
    assert fx.other not in extractor.statements_per_database  # never even tried


def test_role_without_pg_read_all_stats_reads_the_same_statistics(
    result: ExtractionResult, postgres_source: PostgresFixture
) -> None:
    # pg_catalog and the pg_stat_get_* functions answer any role; pg_database_size needs CONNECT,
    # which a role reading a database has. pg_read_all_stats adds nothing this connector reads.
    fx = postgres_source
    limited, _ = extract(
        admin_config(fx, database=fx.main), {"username": fx.role_one, "password": fx.password}
    )
    stats, _ = extract(
        admin_config(fx, database=fx.main), {"username": fx.role_stats, "password": fx.password}
    )
    for other in (limited, stats):
        assert other.errors == []
        assert other.databases[0].properties["size_bytes"] > 0
    mine = table(limited, fx.main, "shop", "customers")
    theirs = table(stats, fx.main, "shop", "customers")
    admin = table(result, fx.main, "shop", "customers")
    for t in (mine, theirs):
        assert (t.row_count, t.size_bytes) == (admin.row_count, admin.size_bytes)
        assert {"seq_scan", "idx_scan", "last_analyze"} <= set(t.properties)
    assert len(limited.tables) == len([t for t in result.tables if t.database == fx.main])


def test_batches_are_self_contained_per_database_and_slice(
    postgres_source: PostgresFixture,
) -> None:
    fx = postgres_source

    async def collect() -> list:
        extractor = PostgreSQLExtractor(
            admin_config(fx, batch_tables=5, max_concurrent_databases=2), admin_credentials()
        )
        return [batch async for batch in extractor.stream_metadata()]

    batches = asyncio.run(collect())
    firsts = [b for b in batches if b.databases]
    assert [b.databases[0].name for b in firsts] == sorted(fx.databases)
    main_batches = []
    for batch in batches:
        if batch.databases:
            current = batch.databases[0].name
        if current == fx.main:
            main_batches.append(batch)
        assert len(batch.tables) <= 5
        assert all(t.database == current for t in batch.tables)
    assert main_batches[0].schemas and main_batches[0].routines
    assert all(not b.schemas and not b.routines for b in main_batches[1:])
    names = [(t.schema_name, t.name) for b in main_batches for t in b.tables]
    assert len(names) == len(set(names)) == 18


def test_check_connection(postgres_source: PostgresFixture) -> None:
    fx = postgres_source
    extractor = PostgreSQLExtractor(admin_config(fx, database=fx.main), admin_credentials())
    assert asyncio.run(extractor.test_connection()) == (True, None)
    assert extractor.statements_sent == 1
