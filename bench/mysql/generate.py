"""Creates the benchmark schema: N databases x T tables x C columns, with keys, indexes and views.

Each table has a primary key, a unique key, a secondary index and (after the first) a foreign key to
the previous table, so every kind of metadata the connector reads has rows. Databases are named
`<prefix><i>` so the benchmark can select exactly them with an include pattern on a shared server.

Usage: python bench/mysql/generate.py [--databases 4] [--tables 500] [--columns 20] [--views 10]
       [--drop]   (drops the benchmark databases and exits)
"""

from __future__ import annotations

import argparse
import time

import pymysql
from pymysql.constants import CLIENT

DEFAULT_PREFIX = "mp_bench_mysql_"
_TYPES = [
    "varchar(64) NOT NULL DEFAULT ''",
    "int(11) DEFAULT NULL",
    "bigint(20) unsigned DEFAULT NULL",
    "decimal(12,2) DEFAULT NULL",
    "datetime DEFAULT NULL",
    "text DEFAULT NULL",
    "enum('a','b','c') DEFAULT 'a'",
    "double DEFAULT NULL",
]


def connect(host: str, port: int, user: str, password: str) -> pymysql.Connection:
    return pymysql.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        client_flag=CLIENT.MULTI_STATEMENTS,
        autocommit=True,
    )


def table_ddl(database: str, index: int, columns: int) -> str:
    parts = ["`id` bigint(20) unsigned NOT NULL AUTO_INCREMENT"]
    for c in range(1, columns):
        parts.append(f"`c{c}` {_TYPES[c % len(_TYPES)]} COMMENT 'column {c}'")
    parts.append("PRIMARY KEY (`id`)")
    parts.append("UNIQUE KEY `uq_c1_c4` (`c1`, `c4`)")
    parts.append("KEY `ix_c3` (`c3`)")
    if index > 0:
        parts.append(
            f"CONSTRAINT `fk_t{index}_prev` FOREIGN KEY (`c2`) "
            f"REFERENCES `t{index - 1}` (`id`) ON DELETE SET NULL"
        )
    body = ",\n  ".join(parts)
    return (
        f"CREATE TABLE `{database}`.`t{index}` (\n  {body}\n) ENGINE=InnoDB "
        f"COMMENT='benchmark table {index}'"
    )


def view_ddl(database: str, index: int) -> str:
    return (
        f"CREATE VIEW `{database}`.`v{index}` AS "
        f"SELECT a.`id`, a.`c1`, b.`c2` FROM `{database}`.`t{index}` a "
        f"JOIN `{database}`.`t{index + 1}` b ON b.`c2` = a.`id`"
    )


def generate(
    connection: pymysql.Connection,
    prefix: str,
    databases: int,
    tables: int,
    columns: int,
    views: int,
) -> None:
    with connection.cursor() as cursor:
        for d in range(databases):
            database = f"{prefix}{d}"
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                (database,),
            )
            (existing,) = cursor.fetchone()
            if existing == tables + views:
                print(f"{database}: already has {existing} tables and views, kept")
                continue
            started = time.perf_counter()
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
            batch: list[str] = []
            for t in range(tables):
                batch.append(table_ddl(database, t, columns))
                if len(batch) == 50:
                    _run_batch(cursor, batch)
                    batch = []
            _run_batch(cursor, batch)
            _run_batch(cursor, [view_ddl(database, v) for v in range(min(views, tables - 1))])
            print(f"{database}: created in {time.perf_counter() - started:.1f} s")


def drop(connection: pymysql.Connection, prefix: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
            (prefix.replace("_", "\\_") + "%",),
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP DATABASE `{name}`")
            print(f"dropped {name}")


def _run_batch(cursor: pymysql.cursors.Cursor, statements: list[str]) -> None:
    if not statements:
        return
    cursor.execute(";\n".join(statements))
    while cursor.nextset():
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--databases", type=int, default=4)
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--views", type=int, default=10, help="views per database")
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    connection = connect(args.host, args.port, args.user, args.password)
    try:
        if args.drop:
            drop(connection, args.prefix)
        else:
            generate(connection, args.prefix, args.databases, args.tables, args.columns, args.views)
    finally:
        connection.close()


if __name__ == "__main__":
    main()
