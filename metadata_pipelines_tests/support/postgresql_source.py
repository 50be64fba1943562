"""A PostgreSQL fixture database set covering everything the PostgreSQL connector extracts.

Created once per test session on the shared server (METADATA_PIPELINES_TEST_POSTGRES_URL), every
database and role named with a random prefix (`mp_pg_<hex>_`) so concurrent sessions never see each
other's objects; tests select the fixture's databases with the extractor's own include pattern.

Layout:
- `<p>main` (comment 'the shop'), schemas:
  - `shop`: customers (identity, citext, enum, domain, array, composite, array of composite, jsonb,
    stored generated, collation, comments; expression, partial, GIN, covering and unique indexes;
    row-level security), orders (composite PK, deferrable FK with rules, check on a domain column,
    serial), order_lines (composite FK, cross-schema FK), bookings (exclusion constraint, BRIN, hash,
    SP-GiST indexes), events (RANGE partitioned, a LIST sub-partitioned partition with a DEFAULT,
    and a DEFAULT partition), cities / capitals (inheritance), scratch (unlogged, with a dropped column), a view, a view over
    a function whose callee was dropped and recreated, two materialized views (one not populated), a
    foreign table through postgres_fdw, a standalone sequence, functions (overloaded, SQL-standard
    body, SECURITY DEFINER) and a procedure;
  - `ref`: products, target of the cross-schema foreign key;
  - `Odd Schema ü`: mixed case, spaces, quotes, unicode, reserved words and a 63-byte name.
- `<p>other`: public.products (read by the foreign table), a schema with one table.
- `<p>secret`: one table; no fixture role may connect to it.
Roles: `<p>one` may connect to `<p>main` only and is not a member of pg_read_all_stats; `<p>stats`
is a member of pg_read_all_stats. CONNECT is revoked from PUBLIC on `<p>other` and `<p>secret`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from metadata_pipelines.extractors.identifiers import double_quote as q
from metadata_pipelines_tests.conftest import POSTGRES_URL

_URL = sa.make_url(POSTGRES_URL)
HOST = _URL.host or "127.0.0.1"
PORT = _URL.port or 5432
ADMIN_USER = _URL.username or "postgres"
ADMIN_PASSWORD = _URL.password or ""

ODD_SCHEMA = "Odd Schema ü"
ODD_TABLE = "select"
ODD_COLUMNS = ["from", "User Name", 'quo"te', "with space", "ünï"]
ODD_CHILD = 'My "Child" Table-ü'
#: 63 bytes, PostgreSQL's longest identifier (NAMEDATALEN - 1); "é" is two bytes in UTF-8.
LONG_NAME = "é" * 10 + "l" * 43
assert len(LONG_NAME.encode()) == 63


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class PostgresFixture:
    prefix: str
    password: str

    @property
    def main(self) -> str:
        return f"{self.prefix}main"

    @property
    def other(self) -> str:
        return f"{self.prefix}other"

    @property
    def secret(self) -> str:
        return f"{self.prefix}secret"

    @property
    def databases(self) -> list[str]:
        return [self.main, self.other, self.secret]

    @property
    def role_one(self) -> str:
        return f"{self.prefix}one"

    @property
    def role_stats(self) -> str:
        return f"{self.prefix}stats"

    @property
    def pattern(self) -> str:
        """An include_databases pattern that selects exactly this fixture's databases."""
        return re.escape(self.prefix) + ".*"

    def url(self, database: str) -> str:
        return _URL.set(database=database).render_as_string(hide_password=False)


def new_fixture() -> PostgresFixture:
    # A password full of characters that need quoting somewhere, to prove it never leaks.
    return PostgresFixture(
        prefix=f"mp_pg_{secrets.token_hex(3)}_", password=f"Pw'{secrets.token_hex(6)}\"`%;"
    )


def create(server: sa.Engine, fx: PostgresFixture) -> None:
    with server.connect() as connection:
        for statement in _server_statements(fx):
            connection.exec_driver_sql(statement.replace("%", "%%"))
    for database, statements in ((fx.other, _other(fx)), (fx.main, _main(fx))):
        engine = sa.create_engine(fx.url(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement.replace("%", "%%"))
        finally:
            engine.dispose()
    secret = sa.create_engine(fx.url(fx.secret), isolation_level="AUTOCOMMIT")
    try:
        with secret.connect() as connection:
            connection.exec_driver_sql("CREATE TABLE hidden (id int PRIMARY KEY)")
    finally:
        secret.dispose()


def drop(server: sa.Engine, fx: PostgresFixture) -> None:
    with server.connect() as connection:
        for database in fx.databases:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {q(database)} WITH (FORCE)")
        for role in (fx.role_one, fx.role_stats):
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {q(role)}")


def _server_statements(fx: PostgresFixture) -> list[str]:
    password = literal(fx.password)
    return [
        *(f"CREATE DATABASE {q(d)} ENCODING 'UTF8' TEMPLATE template0" for d in fx.databases),
        f"COMMENT ON DATABASE {q(fx.main)} IS 'the shop'",
        *(f"REVOKE CONNECT ON DATABASE {q(d)} FROM PUBLIC" for d in (fx.other, fx.secret)),
        f"CREATE ROLE {q(fx.role_one)} LOGIN PASSWORD {password}",
        f"CREATE ROLE {q(fx.role_stats)} LOGIN PASSWORD {password} IN ROLE pg_read_all_stats",
        f"GRANT CONNECT ON DATABASE {q(fx.other)} TO {q(fx.role_stats)}",
    ]


def _other(fx: PostgresFixture) -> list[str]:
    return [
        "CREATE TABLE public.products (code text PRIMARY KEY, title text NOT NULL)",
        "INSERT INTO public.products VALUES ('p1', 'Pen')",
        "CREATE SCHEMA archive",
        "CREATE TABLE archive.old_orders (id int PRIMARY KEY, placed date)",
    ]


def _main(fx: PostgresFixture) -> list[str]:
    odd = q(ODD_SCHEMA)
    odd_columns = ", ".join(f"{q(c)} int" for c in ODD_COLUMNS[1:])
    return [
        "CREATE EXTENSION citext",
        "CREATE EXTENSION postgres_fdw",
        "CREATE SCHEMA shop",
        "COMMENT ON SCHEMA shop IS 'sales data'",
        "CREATE SCHEMA ref",
        f"CREATE SCHEMA {odd}",
        "CREATE TYPE shop.order_status AS ENUM ('new', 'paid', 'shipped')",
        "CREATE DOMAIN shop.positive_amount AS numeric(12,2) NOT NULL CHECK (VALUE > 0)",
        "CREATE TYPE shop.point2 AS (x double precision, y double precision)",
        "CREATE TYPE shop.address AS (street text, city varchar(80), geo shop.point2)",
        "COMMENT ON COLUMN shop.address.city IS 'town or city'",
        "CREATE TABLE ref.products (code text PRIMARY KEY, title text NOT NULL)",
        """CREATE TABLE shop.customers (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              email citext NOT NULL UNIQUE,
              name varchar(100) NOT NULL DEFAULT 'anon''s',
              status shop.order_status NOT NULL DEFAULT 'new',
              balance numeric(12,2),
              created timestamptz NOT NULL DEFAULT now(),
              tags text[],
              home shop.address,
              addresses shop.address[],
              profile jsonb,
              name_upper text GENERATED ALWAYS AS (upper(name)) STORED,
              nickname text COLLATE "C",
              avatar bytea,
              flags bit varying(8),
              ip inet,
              span interval
            )""",
        "COMMENT ON TABLE shop.customers IS 'people who buy'",
        "COMMENT ON COLUMN shop.customers.id IS 'customer id'",
        "CREATE INDEX ix_customers_lower_name ON shop.customers (lower(name))",
        "CREATE INDEX ix_customers_paid ON shop.customers (created DESC) WHERE status = 'paid'",
        "CREATE INDEX ix_customers_tags ON shop.customers USING gin (tags)",
        "CREATE INDEX ix_customers_cover ON shop.customers (status) INCLUDE (balance, name)",
        "ALTER TABLE shop.customers ENABLE ROW LEVEL SECURITY",
        "INSERT INTO shop.customers (email, name, balance) VALUES"
        " ('a@example.org', 'Ann', 10), ('b@example.org', 'Bob', 2000)",
        "ANALYZE shop.customers",
        """CREATE TABLE shop.orders (
              id serial NOT NULL UNIQUE,
              customer_id bigint NOT NULL,
              order_no int NOT NULL,
              amount shop.positive_amount,
              qty int NOT NULL CONSTRAINT chk_qty CHECK (qty > 0),
              PRIMARY KEY (customer_id, order_no),
              CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id)
                REFERENCES shop.customers (id) ON DELETE CASCADE ON UPDATE RESTRICT
                DEFERRABLE INITIALLY DEFERRED
            )""",
        """CREATE TABLE shop.order_lines (
              customer_id bigint NOT NULL,
              order_no int NOT NULL,
              line int NOT NULL,
              product_code text,
              PRIMARY KEY (customer_id, order_no, line),
              CONSTRAINT fk_lines_order FOREIGN KEY (order_no, customer_id)
                REFERENCES shop.orders (order_no, customer_id) ON DELETE CASCADE,
              CONSTRAINT fk_lines_product FOREIGN KEY (product_code)
                REFERENCES ref.products (code) ON DELETE SET NULL ON UPDATE CASCADE
            )""",
        "CREATE UNIQUE INDEX uq_orders_customer_order ON shop.orders (order_no, customer_id)",
        """CREATE TABLE shop.bookings (
              room int NOT NULL,
              during tstzrange NOT NULL,
              code text,
              addr inet,
              CONSTRAINT no_overlap EXCLUDE USING gist (during WITH &&)
            )""",
        "CREATE INDEX ix_bookings_room ON shop.bookings USING brin (room)",
        "CREATE INDEX ix_bookings_code ON shop.bookings USING hash (code)",
        "CREATE INDEX ix_bookings_addr ON shop.bookings USING spgist (addr)",
        """CREATE TABLE shop.events (
              id bigint NOT NULL,
              happened date NOT NULL,
              region text NOT NULL,
              PRIMARY KEY (id, happened, region)
            ) PARTITION BY RANGE (happened)""",
        "CREATE TABLE shop.events_2023 PARTITION OF shop.events"
        " FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')",
        "CREATE TABLE shop.events_2024 PARTITION OF shop.events"
        " FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (region)",
        "CREATE TABLE shop.events_2024_eu PARTITION OF shop.events_2024 FOR VALUES IN ('eu')",
        "CREATE TABLE shop.events_2024_rest PARTITION OF shop.events_2024 DEFAULT",
        "CREATE TABLE shop.events_default PARTITION OF shop.events DEFAULT",
        "INSERT INTO shop.events VALUES (1, '2023-05-01', 'eu'), (2, '2024-05-01', 'eu'),"
        " (3, '2024-06-01', 'us'), (4, '2030-01-01', 'us')",
        "ANALYZE shop.events",
        "CREATE TABLE shop.cities (name text PRIMARY KEY, population int)",
        "CREATE TABLE shop.capitals (state char(2) NOT NULL) INHERITS (shop.cities)",
        "CREATE UNLOGGED TABLE shop.scratch (k text, doomed int, v text)",
        "ALTER TABLE shop.scratch DROP COLUMN doomed",
        """CREATE VIEW shop.vip_customers AS
              SELECT id, email FROM shop.customers WHERE balance > 1000""",
        "COMMENT ON VIEW shop.vip_customers IS 'big spenders'",
        """CREATE MATERIALIZED VIEW shop.customer_counts AS
              SELECT status, count(*) AS customers FROM shop.customers GROUP BY status""",
        """CREATE MATERIALIZED VIEW shop.pending_counts AS
              SELECT count(*) AS n FROM shop.orders WITH NO DATA""",
        # A view over a function whose callee is dropped and recreated: the string body of a
        # LANGUAGE sql function is not tracked as a dependency, so the view survives.
        "CREATE FUNCTION shop.inner_rate() RETURNS numeric LANGUAGE sql AS $$ SELECT 1.5 $$",
        "CREATE FUNCTION shop.outer_rate() RETURNS numeric LANGUAGE sql"
        " AS $$ SELECT shop.inner_rate() $$",
        "CREATE VIEW shop.rates AS SELECT shop.outer_rate() AS rate",
        "DROP FUNCTION shop.inner_rate()",
        "CREATE FUNCTION shop.inner_rate() RETURNS numeric LANGUAGE sql AS $$ SELECT 2.5 $$",
        f"""CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw
              OPTIONS (host '127.0.0.1', dbname {literal(fx.other)})""",
        """CREATE FOREIGN TABLE shop.remote_products (code text, title text)
              SERVER loopback OPTIONS (schema_name 'public', table_name 'products')""",
        "CREATE SEQUENCE shop.invoice_numbers AS integer START 1000 INCREMENT 10 CYCLE",
        """CREATE FUNCTION shop.line_total(p_qty int, p_amount numeric) RETURNS numeric
              LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT p_qty * p_amount $$""",
        "COMMENT ON FUNCTION shop.line_total(int, numeric) IS 'quantity times amount'",
        """CREATE FUNCTION shop.line_total(p_qty int) RETURNS numeric
              LANGUAGE sql STABLE AS $$ SELECT p_qty * 1.0 $$""",
        """CREATE FUNCTION shop.double_it(x int) RETURNS int LANGUAGE sql
              BEGIN ATOMIC SELECT x * 2; END""",
        """CREATE FUNCTION shop.whoami() RETURNS text LANGUAGE plpgsql SECURITY DEFINER
              AS $$ BEGIN RETURN current_user; END $$""",
        """CREATE PROCEDURE shop.archive_orders(IN before date, INOUT moved int DEFAULT 0)
              LANGUAGE plpgsql AS $$ BEGIN moved := 0; END $$""",
        f"""CREATE TABLE {odd}.{q(ODD_TABLE)} (
              {q(ODD_COLUMNS[0])} int NOT NULL PRIMARY KEY,
              {odd_columns},
              CONSTRAINT {q('uq "odd"-ü')} UNIQUE ({q("User Name")}, {q("with space")})
            )""",
        f"COMMENT ON TABLE {odd}.{q(ODD_TABLE)} IS 'reserved \"name\" ünï'",
        f"""CREATE TABLE {odd}.{q(ODD_CHILD)} (
              {q("parent from")} int,
              CONSTRAINT {q('fk "odd"-ü')} FOREIGN KEY ({q("parent from")})
                REFERENCES {odd}.{q(ODD_TABLE)} ({q(ODD_COLUMNS[0])})
            )""",
        f"CREATE TABLE {odd}.{q(LONG_NAME)} ({q(LONG_NAME)} int)",
        f"GRANT USAGE ON SCHEMA shop TO {q(fx.role_one)}",
    ]


@pytest.fixture(scope="session")
def postgres_source(postgres_server: sa.Engine) -> Iterator[PostgresFixture]:
    """The fixture database set, created once per test session and dropped afterwards."""
    fx = new_fixture()
    try:
        create(postgres_server, fx)
        yield fx
    finally:
        drop(postgres_server, fx)


def admin_config(fx: PostgresFixture, **overrides: Any) -> dict[str, Any]:
    """Extractor config for the administrator, scoped to this fixture's databases."""
    config: dict[str, Any] = {"host": HOST, "port": PORT, "include_databases": [fx.pattern]}
    config.update(overrides)
    if "database" in overrides:
        config.pop("include_databases")
    return config


def admin_credentials() -> dict[str, str]:
    return {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
