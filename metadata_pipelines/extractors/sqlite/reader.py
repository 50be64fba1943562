"""The metadata queries, run in bulk on one read-only connection.

`sqlite_master` is read once, then one query per kind joins it with a table-valued pragma. Such a
join fails as a whole when one relation is broken (a view over a dropped table), so a failing batch
is bisected until the broken relations are isolated: a healthy database costs one query per kind,
a broken one a few more, and everything else is still read.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from metadata_pipelines.extractors.identifiers import double_quote
from metadata_pipelines.extractors.sqlite.config import SQLiteConfig
from metadata_pipelines.extractors.sqlite.connection import is_local

# SQLite limits: 999 bound parameters before 3.32, 500 terms in a compound SELECT.
_NAMES_PER_QUERY = 400
_COUNTS_PER_QUERY = 100

T = TypeVar("T")


@dataclass(frozen=True)
class Relation:
    """A table or view as `sqlite_master` and `pragma_table_list` describe it."""

    name: str
    kind: str  # "table", "view", "virtual", "shadow"
    sql: str | None
    strict: bool | None
    without_rowid: bool | None


Row = tuple[Any, ...]


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Reader:
    """Runs the metadata queries on one read-only connection, isolating broken relations."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def relations(self) -> list[Relation]:
        rows = self.connection.execute(
            "SELECT name, type, sql FROM sqlite_master "
            "WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name"
        ).fetchall()
        listed = self._table_list()
        relations = []
        for name, kind, sql in rows:
            table_type, without_rowid, strict = listed.get(name, (None, None, None))
            if kind == "table":
                if table_type in ("virtual", "shadow"):
                    kind = table_type
                elif table_type is None and sql and re.match(r"\s*CREATE\s+VIRTUAL\b", sql, re.I):
                    kind = "virtual"
            relations.append(Relation(name, kind, sql, strict, without_rowid))
        return relations

    def _table_list(self) -> dict[str, tuple[str, bool, bool]]:
        """STRICT / WITHOUT ROWID / virtual / shadow flags; `pragma_table_list` needs 3.37."""
        try:
            rows = self.connection.execute(
                "SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main'"
            ).fetchall()
        except sqlite3.OperationalError as error:
            if is_local(error):
                return {}
            raise
        return {name: (kind, bool(wr), bool(strict)) for name, kind, wr, strict in rows}

    def per_name(self, select: str, names: Sequence[str]) -> tuple[list[Row], dict[str, str]]:
        """Rows of `select` (which ends in `WHERE m.name IN ({names})`) for every name.

        Returns the rows and, for relations that broke the query, the error message per name.
        """
        rows: list[Row] = []
        failed: dict[str, str] = {}
        for chunk in _chunks(list(names), _NAMES_PER_QUERY):
            self._bisect(
                list(chunk),
                lambda part: self.connection.execute(
                    select.format(names=", ".join("?" * len(part))), part
                ).fetchall(),
                rows,
                failed,
            )
        return rows, failed

    def row_counts(self, names: Sequence[str]) -> tuple[dict[str, int], dict[str, str]]:
        """COUNT(*) of every table, many per statement through UNION ALL."""
        counts: dict[str, int] = {}
        failed: dict[str, str] = {}

        def run(part: list[str]) -> list[Row]:
            statement = " UNION ALL ".join(
                f"SELECT {i}, count(*) FROM main.{double_quote(name)}"
                for i, name in enumerate(part)
            )
            return [(part[i], count) for i, count in self.connection.execute(statement)]

        rows: list[Row] = []
        for chunk in _chunks(list(names), _COUNTS_PER_QUERY):
            self._bisect(list(chunk), run, rows, failed)
        counts.update({name: count for name, count in rows})
        return counts, failed

    @staticmethod
    def _bisect(
        names: list[str],
        run: Callable[[list[str]], list[Row]],
        rows: list[Row],
        failed: dict[str, str],
    ) -> None:
        if not names:
            return
        try:
            rows.extend(run(names))
        except sqlite3.Error as error:
            if not is_local(error):
                raise
            if len(names) == 1:
                failed[names[0]] = str(error)
                return
            middle = len(names) // 2
            _Reader._bisect(names[:middle], run, rows, failed)
            _Reader._bisect(names[middle:], run, rows, failed)

    def database_properties(self, path: Path) -> dict[str, Any]:
        def pragma(name: str) -> Any:
            return self.connection.execute(f"PRAGMA main.{name}").fetchone()[0]

        return {
            "path": str(path.resolve()),
            "encoding": pragma("encoding"),
            "page_size": pragma("page_size"),
            "journal_mode": pragma("journal_mode"),
            "user_version": pragma("user_version"),
            "application_id": pragma("application_id"),
        }


_COLUMNS_SQL = (
    'SELECT m.name, p.cid, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden '
    "FROM sqlite_master m JOIN pragma_table_xinfo(m.name, 'main') p "
    "WHERE m.type IN ('table', 'view') AND m.name IN ({names}) ORDER BY m.name, p.cid"
)
_FOREIGN_KEYS_SQL = (
    'SELECT m.name, f.id, f.seq, f."table", f."from", f."to", f.on_update, f.on_delete '
    "FROM sqlite_master m JOIN pragma_foreign_key_list(m.name, 'main') f "
    "WHERE m.type = 'table' AND m.name IN ({names}) ORDER BY m.name, f.id, f.seq"
)
_INDEXES_SQL = (
    'SELECT m.name, i.name, i."unique", i.origin, i.partial, x.seqno, x.cid, x.name, x."desc", '
    "x.coll, s.sql "
    "FROM sqlite_master m JOIN pragma_index_list(m.name, 'main') i "
    "JOIN pragma_index_xinfo(i.name, 'main') x "
    "LEFT JOIN sqlite_master s ON s.type = 'index' AND s.name = i.name "
    "WHERE m.type = 'table' AND m.name IN ({names}) AND x.key = 1 "
    "ORDER BY m.name, i.name, x.seqno"
)


@dataclass
class Snapshot:
    """Everything read from the file, as raw rows; mapped to models after the file is closed.

    Each `*_failures` maps a relation name to the error that kept that part of it from being read.
    """

    path: Path
    modified_at: float
    database_properties: dict[str, Any]
    relations: list[Relation]
    column_rows: list[Row]
    foreign_key_rows: list[Row]
    index_rows: list[Row]
    row_counts: dict[str, int]
    parent_key_rows: list[Row] = field(default_factory=list)
    column_failures: dict[str, str] = field(default_factory=dict)
    foreign_key_failures: dict[str, str] = field(default_factory=dict)
    index_failures: dict[str, str] = field(default_factory=dict)
    row_count_failures: dict[str, str] = field(default_factory=dict)


def read_snapshot(connection: sqlite3.Connection, config: SQLiteConfig, path: Path) -> Snapshot:
    """Run every metadata query for the relations in scope; raises sqlite3.Error on whole-file
    failures and records relation-level failures in the snapshot."""
    reader = _Reader(connection)
    relations = [r for r in reader.relations() if config.wants_table(r.name)]
    names = [r.name for r in relations]
    column_rows, column_failures = reader.per_name(_COLUMNS_SQL, names)
    fk_rows, fk_failures = reader.per_name(_FOREIGN_KEYS_SQL, names)
    index_rows, index_failures = reader.per_name(_INDEXES_SQL, names)
    counts: dict[str, int] = {}
    count_failures: dict[str, str] = {}
    if config.include_row_counts:
        countable = [r.name for r in relations if r.kind in ("table", "shadow")]
        counts, count_failures = reader.row_counts(countable)
    # `REFERENCES parent` without columns targets the parent's key, even for an excluded parent.
    parents = sorted({row[3] for row in fk_rows} - set(names))
    parent_key_rows, _ = reader.per_name(_COLUMNS_SQL, parents)
    return Snapshot(
        path=path.resolve(),
        modified_at=path.stat().st_mtime,
        database_properties=reader.database_properties(path),
        relations=relations,
        column_rows=column_rows,
        foreign_key_rows=fk_rows,
        index_rows=index_rows,
        row_counts=counts,
        parent_key_rows=parent_key_rows,
        column_failures=column_failures,
        foreign_key_failures=fk_failures,
        index_failures=index_failures,
        row_count_failures=count_failures,
    )
