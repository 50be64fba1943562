"""A MariaDB / MySQL fixture schema covering everything the MySQL connector extracts.

Every database and user name starts with a per-run prefix (`mp_mysql_<random>_`) so concurrent
sessions on the shared server never see each other's objects, and tests select their databases with
the extractor's own include pattern or `database` setting.

Layout:
- `<p>main`: customers (every column flavour, unique + fulltext index), orders (composite PK,
  stored + virtual generated columns, CHECK, FK with rules), order_lines (composite FK and a
  cross-database FK to `<p>other`.products), places (SPATIAL index), legacy_log (MyISAM, prefix
  index), lookup (MEMORY, HASH index), events (RANGE partitioned), a view, a broken view, a procedure
  and a function.
- `<p>other`: products, target of the cross-database foreign key.
- `<p>odd ü`: reserved words, backticks, spaces, hyphens and non-ASCII in every kind of name.
- `<p>empty`: no tables.
- `<p>secret`: a table no test user is granted.
Users: `<p>one` is granted only `<p>main`; `<p>lister` also has SHOW DATABASES, so it sees
`<p>secret` listed without being able to read it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from metadata_pipelines.extractors.identifiers import backtick as q
from metadata_pipelines_tests.conftest import MYSQL_URL

_URL = sa.make_url(MYSQL_URL)
HOST = _URL.host or "127.0.0.1"
PORT = _URL.port or 3306
ROOT_USER = _URL.username or "root"
ROOT_PASSWORD = _URL.password or ""

ODD_DATABASE_SUFFIX = "odd ü"
ODD_TABLE = "select"
ODD_COLUMNS = ["from", "a`b", "with space", "hy-phen", "ünï"]
ODD_CHILD = "my `child` table-ü"
ODD_VIEW = "view-ü v"


@dataclass(frozen=True)
class MySQLFixture:
    prefix: str
    password: str

    @property
    def main(self) -> str:
        return f"{self.prefix}main"

    @property
    def other(self) -> str:
        return f"{self.prefix}other"

    @property
    def odd(self) -> str:
        return f"{self.prefix}{ODD_DATABASE_SUFFIX}"

    @property
    def empty(self) -> str:
        return f"{self.prefix}empty"

    @property
    def secret(self) -> str:
        return f"{self.prefix}secret"

    @property
    def user_one(self) -> str:
        return f"{self.prefix}one"

    @property
    def user_lister(self) -> str:
        return f"{self.prefix}lister"

    @property
    def databases(self) -> list[str]:
        return [self.main, self.other, self.odd, self.empty, self.secret]

    @property
    def pattern(self) -> str:
        """An include_databases pattern that selects exactly this fixture's databases."""
        return re.escape(self.prefix) + ".*"


def new_fixture() -> MySQLFixture:
    # A password full of characters that need escaping somewhere, to prove it never leaks.
    return MySQLFixture(
        prefix=f"mp_mysql_{secrets.token_hex(3)}_",
        password=f"Pw'{secrets.token_hex(6)}\"`%;",
    )


def create(engine: sa.Engine, fx: MySQLFixture) -> None:
    with engine.connect() as connection:
        for statement in _statements(fx):
            connection.exec_driver_sql(statement.replace("%", "%%"))


def drop(engine: sa.Engine, fx: MySQLFixture) -> None:
    with engine.connect() as connection:
        for database in fx.databases:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {q(database)}")
        for user in (fx.user_one, fx.user_lister):
            connection.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")


def _statements(fx: MySQLFixture) -> list[str]:
    main, other, odd = q(fx.main), q(fx.other), q(fx.odd)
    password = fx.password.replace("\\", "\\\\").replace("'", "\\'")
    odd_columns = ", ".join(f"{q(c)} INT" for c in ODD_COLUMNS[1:])
    return [
        *(f"DROP DATABASE IF EXISTS {q(d)}" for d in fx.databases),
        *(f"CREATE DATABASE {q(d)} CHARACTER SET utf8mb4" for d in fx.databases),
        f"ALTER DATABASE {main} COMMENT 'the shop'",
        f"""CREATE TABLE {other}.products (
              code VARCHAR(20) NOT NULL PRIMARY KEY,
              title VARCHAR(100) NOT NULL
            ) ENGINE=InnoDB""",
        f"""CREATE TABLE {main}.customers (
              id BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'customer id',
              email VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
              name VARCHAR(100) NOT NULL DEFAULT 'anon''s',
              status ENUM('active','blocked') NOT NULL DEFAULT 'active',
              tags SET('a','b') NULL,
              is_vip TINYINT(1) NOT NULL DEFAULT 0,
              balance DECIMAL(12,2) DEFAULT NULL,
              created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
              profile JSON,
              bio TEXT,
              avatar MEDIUMBLOB,
              PRIMARY KEY (id),
              UNIQUE KEY uq_email (email),
              FULLTEXT KEY ft_bio (bio)
            ) ENGINE=InnoDB COMMENT='people who buy' AUTO_INCREMENT=1000""",
        f"INSERT INTO {main}.customers (email, bio) VALUES ('a@example.org', 'x'), ('b@x.org', 'y')",
        f"""CREATE TABLE {main}.orders (
              customer_id BIGINT(20) UNSIGNED NOT NULL,
              order_no INT NOT NULL,
              amount DECIMAL(10,2) NOT NULL,
              qty INT NOT NULL,
              total DECIMAL(12,2) AS (amount * qty) STORED,
              note VARCHAR(200),
              note_length INT AS (CHAR_LENGTH(note)) VIRTUAL,
              PRIMARY KEY (customer_id, order_no),
              KEY ix_order_customer (order_no, customer_id),
              CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id)
                REFERENCES customers (id) ON DELETE CASCADE ON UPDATE RESTRICT,
              CONSTRAINT chk_qty CHECK (qty > 0)
            ) ENGINE=InnoDB""",
        f"""CREATE TABLE {main}.order_lines (
              customer_id BIGINT(20) UNSIGNED NOT NULL,
              order_no INT NOT NULL,
              line INT NOT NULL,
              product_code VARCHAR(20),
              PRIMARY KEY (customer_id, order_no, line),
              CONSTRAINT fk_lines_order FOREIGN KEY (order_no, customer_id)
                REFERENCES orders (order_no, customer_id) ON DELETE CASCADE,
              CONSTRAINT fk_lines_product FOREIGN KEY (product_code)
                REFERENCES {other}.products (code) ON DELETE SET NULL ON UPDATE CASCADE
            ) ENGINE=InnoDB""",
        f"""CREATE TABLE {main}.places (
              id INT NOT NULL PRIMARY KEY,
              location POINT NOT NULL,
              SPATIAL INDEX sp_location (location)
            ) ENGINE=InnoDB""",
        f"""CREATE TABLE {main}.legacy_log (
              id INT NOT NULL,
              msg VARCHAR(50),
              KEY ix_msg (msg(10), id DESC)
            ) ENGINE=MyISAM""",
        f"""CREATE TABLE {main}.lookup (
              k INT NOT NULL,
              v INT,
              KEY ix_k (k) USING HASH
            ) ENGINE=MEMORY""",
        f"""CREATE TABLE {main}.events (
              id INT NOT NULL,
              happened DATE NOT NULL,
              PRIMARY KEY (id, happened)
            ) ENGINE=InnoDB
            PARTITION BY RANGE (YEAR(happened)) (
              PARTITION p2023 VALUES LESS THAN (2024),
              PARTITION p2024 VALUES LESS THAN (2025),
              PARTITION pmax VALUES LESS THAN MAXVALUE
            )""",
        f"""CREATE VIEW {main}.vip_customers AS
              SELECT id, email FROM {main}.customers WHERE is_vip = 1""",
        f"CREATE TABLE {main}.doomed (id INT)",
        f"CREATE VIEW {main}.broken_view AS SELECT id FROM {main}.doomed",
        f"DROP TABLE {main}.doomed",
        f"""CREATE PROCEDURE {main}.count_orders(IN p_customer BIGINT, OUT p_count INT)
              COMMENT 'counts orders'
              READS SQL DATA
            BEGIN
              SELECT COUNT(*) INTO p_count FROM {main}.orders WHERE customer_id = p_customer;
            END""",
        f"""CREATE FUNCTION {main}.line_total(p_qty INT, p_amount DECIMAL(10,2))
              RETURNS DECIMAL(12,2) DETERMINISTIC
              RETURN p_qty * p_amount""",
        f"""CREATE TABLE {odd}.{q(ODD_TABLE)} (
              {q(ODD_COLUMNS[0])} INT NOT NULL COMMENT 'ünïcode ''quoted'' comment',
              {odd_columns},
              PRIMARY KEY ({q(ODD_COLUMNS[0])}),
              UNIQUE KEY {q("uq a`b-ü")} ({q("a`b")}, {q("with space")})
            ) COMMENT 'reserved `name`'""",
        f"""CREATE TABLE {odd}.{q(ODD_CHILD)} (
              {q("parent from")} INT,
              CONSTRAINT {q("fk `odd`-ü")} FOREIGN KEY ({q("parent from")})
                REFERENCES {q(ODD_TABLE)} ({q(ODD_COLUMNS[0])})
            )""",
        f"""CREATE VIEW {odd}.{q(ODD_VIEW)} AS
              SELECT {q("a`b")}, {q("ünï")} FROM {odd}.{q(ODD_TABLE)}""",
        f"CREATE TABLE {q(fx.secret)}.hidden (id INT PRIMARY KEY)",
        f"CREATE USER '{fx.user_one}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT, SHOW VIEW ON {main}.* TO '{fx.user_one}'@'%'",
        f"CREATE USER '{fx.user_lister}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT, SHOW VIEW ON {main}.* TO '{fx.user_lister}'@'%'",
        f"GRANT SHOW DATABASES ON *.* TO '{fx.user_lister}'@'%'",
    ]


def root_config(fx: MySQLFixture, **overrides: Any) -> dict[str, Any]:
    """Extractor config for the admin account, scoped to this fixture's databases."""
    config: dict[str, Any] = {"host": HOST, "port": PORT, "include_databases": [fx.pattern]}
    config.update(overrides)
    if "database" in overrides:
        config.pop("include_databases")
    return config


def root_credentials() -> dict[str, str]:
    return {"username": ROOT_USER, "password": ROOT_PASSWORD}
