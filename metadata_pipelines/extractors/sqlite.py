"""SQLite connector: the embedded default source.

The file is opened read-only through a `file:...?mode=ro` URI, so a missing path is never created
and nothing is ever written to it. Metadata is read in bulk: `sqlite_master` once, then one query
per kind that joins `sqlite_master` with a table-valued pragma (`pragma_table_xinfo`,
`pragma_foreign_key_list`, `pragma_index_list` + `pragma_index_xinfo`). Such a join fails as a whole
when one relation is broken (a view over a dropped table), so a failing batch is bisected until the
broken relations are isolated: a healthy database costs one query per kind, a broken one a few
more, and everything else is still read.

SQLite keeps view bodies and partial-index predicates only inside the original CREATE statement,
so a small quote-aware scanner (`_masked`) reads those out of the SQL text.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field, field_validator

from metadata_pipelines.extractors.base import (
    BaseMetadataExtractor,
    ConnectorConfig,
    NoCredentials,
)
from metadata_pipelines.extractors.errors import (
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from metadata_pipelines.models import (
    AssetType,
    ColumnMetadata,
    ConstraintMetadata,
    ConstraintType,
    DatabaseMetadata,
    DataType,
    ExtractionError,
    ExtractionResult,
    IndexMetadata,
    Severity,
    TableMetadata,
    TableType,
    asset_path,
    utcnow,
)

DATABASE = "main"
DEFAULT_TIMEOUT = 5.0
# SQLite limits: 999 bound parameters before 3.32, 500 terms in a compound SELECT.
_NAMES_PER_QUERY = 400
_COUNTS_PER_QUERY = 100

T = TypeVar("T")


class SQLiteConfig(ConnectorConfig):
    """Where the database file is and what to read from it."""

    path: str = Field(min_length=1, description="Path of the SQLite database file.")
    include_tables: list[str] = Field(
        default_factory=list,
        description="Regexes; when given, only tables/views whose whole name matches one are read.",
    )
    exclude_tables: list[str] = Field(
        default_factory=list,
        description="Regexes; tables/views whose whole name matches one are skipped.",
    )
    include_row_counts: bool = Field(
        default=True, description="Count rows of every table (one COUNT(*) per table, batched)."
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        description=f"Seconds to wait for a locked database (default {DEFAULT_TIMEOUT}).",
    )

    @field_validator("include_tables", "exclude_tables")
    @classmethod
    def _valid_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"invalid regular expression {pattern!r}: {error}") from None
        return patterns

    def wants(self, name: str) -> bool:
        if self.include_tables and not any(re.fullmatch(p, name) for p in self.include_tables):
            return False
        return not any(re.fullmatch(p, name) for p in self.exclude_tables)

    @property
    def busy_timeout(self) -> float:
        return self.timeout if self.timeout is not None else DEFAULT_TIMEOUT


# --------------------------------------------------------------------------------------------------
# Connection and error classification
# --------------------------------------------------------------------------------------------------

# Primary result codes (https://sqlite.org/rescode.html).
_SQLITE_ERROR, _SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED = 1, 3, 5, 6
_SQLITE_READONLY, _SQLITE_INTERRUPT, _SQLITE_IOERR, _SQLITE_CORRUPT = 8, 9, 10, 11
_SQLITE_CANTOPEN, _SQLITE_AUTH, _SQLITE_NOTADB = 14, 23, 26


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_local(error: sqlite3.Error) -> bool:
    """True for an error confined to the statement (bad relation), not to the whole file."""
    return isinstance(error, sqlite3.OperationalError) and _primary_code(error) == _SQLITE_ERROR


def _classify(error: sqlite3.Error, path: Path, timeout: float) -> ExtractorError:
    """Turn a whole-source sqlite3 error into the project's permanent / transient hierarchy."""
    code = _primary_code(error)
    where = f"SQLite database {str(path)!r}"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return SourceTimeoutError(f"{where} is locked (waited {timeout:g}s): {error}")
    if code == _SQLITE_INTERRUPT:
        return SourceTimeoutError(f"reading {where} was interrupted: {error}")
    if code == _SQLITE_NOTADB:
        return ConfigurationError(f"{where} is not an SQLite database file: {error}")
    if code == _SQLITE_CORRUPT:
        return SourceResponseError(f"{where} is corrupt: {error}")
    if code in (_SQLITE_PERM, _SQLITE_AUTH, _SQLITE_READONLY):
        return PrivilegeError(f"{where} cannot be read: {error}")
    if code == _SQLITE_CANTOPEN:
        if not os.access(path, os.R_OK):
            return PrivilegeError(f"{where} is not readable by this process: {error}")
        return SourceUnavailableError(f"{where} could not be opened: {error}")
    if code == _SQLITE_IOERR:
        return SourceUnavailableError(f"I/O error reading {where}: {error}")
    return SourceResponseError(f"{where} could not be read: {error}")


def _check_path(path: Path) -> None:
    if not path.exists():
        raise ConfigurationError(f"SQLite database file not found: {str(path)!r}")
    if not path.is_file():
        raise ConfigurationError(f"SQLite database path is not a file: {str(path)!r}")
    if not os.access(path, os.R_OK):
        raise PrivilegeError(f"SQLite database file is not readable: {str(path)!r}")


@contextmanager
def _open(path: Path, timeout: float) -> Iterator[sqlite3.Connection]:
    """A read-only connection; `mode=ro` never creates the file and refuses every write."""
    _check_path(path)
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=True)
    except sqlite3.Error as error:
        raise _classify(error, path, timeout) from None
    with closing(connection):
        try:
            connection.execute("PRAGMA query_only = ON")
            # Reading the schema forces SQLite to parse the header: "not a database" shows here.
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield connection
        except sqlite3.Error as error:
            raise _classify(error, path, timeout) from None


# --------------------------------------------------------------------------------------------------
# SQL text: SQLite keeps view bodies and index predicates only inside the CREATE statement
# --------------------------------------------------------------------------------------------------


def _masked(sql: str) -> str:
    """`sql` with the inside of quotes, brackets and comments blanked, positions unchanged.

    Keywords, parentheses and commas found in the masked text are real syntax, so slicing the
    original at those positions is safe for any identifier, however odd.
    """
    out = list(sql)
    i, n = 0, len(sql)
    closers = {"'": "'", '"': '"', "`": "`", "[": "]"}
    while i < n:
        char = sql[i]
        if char in closers:
            close = closers[char]
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            for k in range(i + 1, min(j, n)):
                out[k] = "_"
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out[i:j] = " " * (j - i)
            i = j
        else:
            i += 1
    return "".join(out)


def _depths(masked: str) -> list[int]:
    depth, depths = 0, []
    for char in masked:
        if char == ")":
            depth -= 1
        depths.append(depth)
        if char == "(":
            depth += 1
    return depths


def view_select(sql: str | None) -> str | None:
    """The SELECT of a CREATE VIEW statement: what follows its first top-level AS."""
    if not sql:
        return None
    masked = _masked(sql)
    depths = _depths(masked)
    for match in re.finditer(r"\bAS\b", masked, re.IGNORECASE):
        if depths[match.start()] == 0:
            return sql[match.end() :].strip().rstrip(";").strip() or None
    return None


_ORDER_SUFFIX = re.compile(r"(\s+COLLATE\s+\S+)?(\s+(ASC|DESC))?\s*$", re.IGNORECASE)


def index_parts(sql: str | None) -> tuple[list[str], str | None]:
    """(indexed terms as written, WHERE predicate) of a CREATE INDEX statement."""
    if not sql:
        return [], None
    masked = _masked(sql)
    depths = _depths(masked)
    on = next(
        (m for m in re.finditer(r"\bON\b", masked, re.IGNORECASE) if depths[m.start()] == 0), None
    )
    if on is None:
        return [], None
    opening = masked.find("(", on.end())
    if opening < 0:
        return [], None
    terms, start, closing_at = [], opening + 1, len(sql)
    for i in range(opening + 1, len(masked)):
        if depths[i] == 0 and masked[i] == ")":
            closing_at = i
            break
        if depths[i] == 1 and masked[i] == ",":
            terms.append((start, i))
            start = i + 1
    terms.append((start, closing_at))
    written = []
    for begin, end in terms:
        suffix = _ORDER_SUFFIX.search(masked[begin:end])
        stop = begin + suffix.start() if suffix else end
        written.append(sql[begin:stop].strip())
    rest = masked[closing_at + 1 :]
    where = re.search(r"\bWHERE\b", rest, re.IGNORECASE)
    predicate = None
    if where:
        predicate = sql[closing_at + 1 + where.end() :].strip().rstrip(";").strip() or None
    return written, predicate


# --------------------------------------------------------------------------------------------------
# Types: SQLite's affinity rules (https://sqlite.org/datatype3.html, section 3.1), then the name
# --------------------------------------------------------------------------------------------------

_NUMERIC_NAMES: list[tuple[re.Pattern[str], DataType]] = [
    (re.compile(r"^BOOL(EAN)?\b"), DataType.BOOLEAN),
    (re.compile(r"^(DATETIME|TIMESTAMP)"), DataType.TIMESTAMP),
    (re.compile(r"^DATE\b"), DataType.DATE),
    (re.compile(r"^TIME\b"), DataType.TIME),
    (re.compile(r"^(DECIMAL|NUMERIC|NUMBER|MONEY)\b"), DataType.DECIMAL),
    (re.compile(r"^JSONB?\b"), DataType.JSON),
]


def affinity(declared: str) -> str:
    """The column affinity SQLite derives from a declared type, by its documented rules."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper.strip():
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def normalize_type(declared: str, *, strict: bool = False) -> DataType:
    """A normalized type family: the affinity decides, the name refines NUMERIC affinity.

    Affinity rules come first, quirks included (`POINT` contains "INT" and is an INTEGER column in
    SQLite). An empty declared type, or ANY in a STRICT table, holds any value: UNKNOWN.
    """
    upper = declared.strip().upper()
    if not upper or (strict and upper == "ANY"):
        return DataType.UNKNOWN
    found = affinity(upper)
    if found == "INTEGER":
        return DataType.INTEGER
    if found == "TEXT":
        return DataType.STRING
    if found == "BLOB":
        return DataType.BINARY
    if found == "REAL":
        return DataType.FLOAT
    for pattern, data_type in _NUMERIC_NAMES:
        if pattern.search(upper):
            return data_type
    return DataType.UNKNOWN


# --------------------------------------------------------------------------------------------------
# Reading: bulk queries, bisected when one relation breaks a batch
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Relation:
    name: str
    kind: str  # "table", "view", "virtual", "shadow"
    sql: str | None
    strict: bool | None
    without_rowid: bool | None


Row = tuple[Any, ...]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Reader:
    """Runs the metadata queries on one read-only connection, isolating broken relations."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def relations(self) -> list[_Relation]:
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
            relations.append(_Relation(name, kind, sql, strict, without_rowid))
        return relations

    def _table_list(self) -> dict[str, tuple[str, bool, bool]]:
        """STRICT / WITHOUT ROWID / virtual / shadow flags; `pragma_table_list` needs 3.37."""
        try:
            rows = self.connection.execute(
                "SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main'"
            ).fetchall()
        except sqlite3.OperationalError as error:
            if _is_local(error):
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
                f"SELECT {i}, count(*) FROM main.{_quote(name)}" for i, name in enumerate(part)
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
            if not _is_local(error):
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


# --------------------------------------------------------------------------------------------------
# Mapping rows to models
# --------------------------------------------------------------------------------------------------

_HIDDEN = {1: ("hidden", True), 2: ("generated", "virtual"), 3: ("generated", "stored")}


def _columns(relation: _Relation, rows: list[Row]) -> list[ColumnMetadata]:
    primary = [row for row in rows if row[6]]
    rowid_alias = (
        relation.kind == "table"
        and not relation.without_rowid
        and len(primary) == 1
        and (primary[0][3] or "").upper() == "INTEGER"
    )
    columns = []
    for _, cid, name, declared, notnull, default, pk, hidden in rows:
        declared = declared or ""
        properties: dict[str, Any] = {"affinity": affinity(declared)} if declared else {}
        if hidden in _HIDDEN:
            key, value = _HIDDEN[hidden]
            properties[key] = value
        if pk:
            properties["primary_key_position"] = pk
        if pk and rowid_alias:
            properties["rowid_alias"] = True
        # INTEGER PRIMARY KEY and WITHOUT ROWID keys can never hold NULL, whatever notnull says.
        never_null = bool(pk) and (rowid_alias or bool(relation.without_rowid))
        columns.append(
            ColumnMetadata(
                name=name,
                ordinal=cid + 1,
                native_type=declared,
                data_type=normalize_type(declared, strict=bool(relation.strict)),
                nullable=not notnull and not never_null,
                default=default,
                is_primary_key=bool(pk),
                properties=properties,
            )
        )
    return columns


def _primary_key(columns: list[ColumnMetadata]) -> list[ConstraintMetadata]:
    keyed = sorted(
        (c for c in columns if c.is_primary_key), key=lambda c: c.properties["primary_key_position"]
    )
    if not keyed:
        return []
    return [
        ConstraintMetadata(
            constraint_type=ConstraintType.PRIMARY_KEY, columns=[c.name for c in keyed]
        )
    ]


def _foreign_keys(
    table: str, rows: list[Row], primary_keys: dict[str, list[str]]
) -> tuple[list[ConstraintMetadata], list[str]]:
    """Foreign keys of one table, and a message for each one whose target cannot be resolved."""
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[1]].append(row)
    constraints, problems = [], []
    for fk_id in sorted(grouped):
        parts = sorted(grouped[fk_id], key=lambda row: row[2])
        target = parts[0][3]
        columns = [row[4] for row in parts]
        referenced = [row[5] for row in parts]
        if any(name is None for name in referenced):
            # `REFERENCES parent` without a column list means the parent's primary key.
            referenced = primary_keys.get(target, [])
        if len(referenced) != len(columns):
            problems.append(
                f"foreign key ({', '.join(columns)}) of {table!r} references {target!r}, "
                "whose primary key could not be resolved"
            )
            continue
        constraints.append(
            ConstraintMetadata(
                constraint_type=ConstraintType.FOREIGN_KEY,
                columns=columns,
                referenced_database=DATABASE,
                referenced_table=target,
                referenced_columns=referenced,
                on_delete=parts[0][7],
                on_update=parts[0][6],
            )
        )
    return constraints, problems


def _indexes(rows: list[Row]) -> tuple[list[IndexMetadata], list[ConstraintMetadata]]:
    """Indexes of one table, and the UNIQUE constraints SQLite implements as auto-indexes."""
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[1]].append(row)
    indexes, uniques = [], []
    for name in sorted(grouped):
        parts = sorted(grouped[name], key=lambda row: row[5])
        _, _, unique, origin, partial, *_rest, sql = parts[0]
        written, predicate = index_parts(sql)
        columns = []
        for _, _, _, _, _, seqno, cid, column, _desc, _coll, _ in parts:
            if column is not None:
                columns.append(column)
            elif seqno < len(written):
                columns.append(written[seqno])
            else:
                columns.append("rowid" if cid == -1 else f"<expression {seqno + 1}>")
        properties: dict[str, Any] = {
            "origin": {"c": "create_index", "u": "unique", "pk": "primary_key"}.get(origin, origin)
        }
        if sql:
            properties["sql"] = sql
        else:
            properties["auto"] = True
        if any(row[8] for row in parts):
            properties["descending"] = [bool(row[8]) for row in parts]
        if any((row[9] or "BINARY").upper() != "BINARY" for row in parts):
            properties["collations"] = [row[9] for row in parts]
        if any(row[6] == -2 for row in parts):
            properties["expression"] = True
        if partial:
            properties["partial"] = True
            properties["where"] = predicate
        indexes.append(
            IndexMetadata(
                name=name, columns=columns, unique=bool(unique), kind="btree", properties=properties
            )
        )
        if origin == "u":
            uniques.append(
                ConstraintMetadata(constraint_type=ConstraintType.UNIQUE, columns=columns)
            )
    return indexes, uniques


_TABLE_TYPES = {
    "table": TableType.TABLE,
    "view": TableType.VIEW,
    "virtual": TableType.OTHER,
    "shadow": TableType.OTHER,
}


def _group(rows: list[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    return grouped


def _scoped(
    relation: _Relation, message: str, code: str, severity: Severity = Severity.ERROR
) -> ExtractionError:
    return ExtractionError(
        scope=asset_path(DATABASE, None, relation.name),
        asset_type=AssetType.VIEW if relation.kind == "view" else AssetType.TABLE,
        message=message,
        retryable=False,
        severity=severity,
        code=code,
    )


def _read(
    config: SQLiteConfig, path: Path
) -> tuple[DatabaseMetadata, list[TableMetadata], list[ExtractionError]]:
    """Everything in one thread: sqlite3 connections belong to the thread that opened them."""
    with _open(path, config.busy_timeout) as connection:
        reader = _Reader(connection)
        try:
            relations = [r for r in reader.relations() if config.wants(r.name)]
            names = [r.name for r in relations]
            column_rows, column_failures = reader.per_name(_COLUMNS_SQL, names)
            fk_rows, fk_failures = reader.per_name(_FOREIGN_KEYS_SQL, names)
            index_rows, index_failures = reader.per_name(_INDEXES_SQL, names)
            countable = [r.name for r in relations if r.kind in ("table", "shadow")]
            counts, count_failures = (
                reader.row_counts(countable) if config.include_row_counts else ({}, {})
            )
            database = DatabaseMetadata(
                name=DATABASE,
                updated_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                properties=reader.database_properties(path),
            )
            referenced = {row[3] for row in fk_rows} - set(names)
            extra_pk_rows, _ = reader.per_name(_COLUMNS_SQL, sorted(referenced))
        except sqlite3.Error as error:
            raise _classify(error, path, config.busy_timeout) from None

    columns_by_table = _group(column_rows)
    primary_keys = {
        table: [row[2] for row in sorted((r for r in rows if r[6]), key=lambda r: r[6])]
        for table, rows in _group(column_rows + extra_pk_rows).items()
    }
    fks_by_table, indexes_by_table = _group(fk_rows), _group(index_rows)

    tables: list[TableMetadata] = []
    errors: list[ExtractionError] = []
    for relation in relations:
        name = relation.name
        what = "view" if relation.kind == "view" else "table"
        for failures, part in (
            (column_failures, "columns"),
            (fk_failures, "foreign keys"),
            (index_failures, "indexes"),
        ):
            if name in failures:
                errors.append(
                    _scoped(
                        relation,
                        f"could not read the {part} of {what} {name!r}: {failures[name]}",
                        code="invalid_view" if relation.kind == "view" else "unreadable_table",
                    )
                )
        if name in count_failures:
            errors.append(
                _scoped(
                    relation,
                    f"could not count the rows of {name!r}: {count_failures[name]}",
                    code="row_count_failed",
                    severity=Severity.WARNING,
                )
            )
        columns = _columns(relation, columns_by_table.get(name, []))
        foreign_keys, problems = _foreign_keys(name, fks_by_table.get(name, []), primary_keys)
        errors.extend(
            _scoped(relation, problem, "unresolved_foreign_key", Severity.WARNING)
            for problem in problems
        )
        indexes, uniques = _indexes(indexes_by_table.get(name, []))
        properties: dict[str, Any] = {"sql": relation.sql}
        if relation.without_rowid:
            properties["without_rowid"] = True
        if relation.strict:
            properties["strict"] = True
        tables.append(
            TableMetadata(
                database=DATABASE,
                name=name,
                table_type=_TABLE_TYPES[relation.kind],
                native_type=relation.kind,
                view_definition=view_select(relation.sql) if relation.kind == "view" else None,
                row_count=counts.get(name),
                columns=columns,
                constraints=[*_primary_key(columns), *uniques, *foreign_keys],
                indexes=indexes,
                properties=properties,
            )
        )
    return database, tables, errors


def _check(config: SQLiteConfig, path: Path) -> None:
    with _open(path, config.busy_timeout):
        pass


class SQLiteExtractor(BaseMetadataExtractor):
    """Reads one SQLite database file (the database is always named "main")."""

    connector_type: ClassVar[str] = "sqlite"
    config_model: ClassVar[type[ConnectorConfig]] = SQLiteConfig
    credentials_model: ClassVar[type[NoCredentials]] = NoCredentials
    config: SQLiteConfig

    @property
    def path(self) -> Path:
        return Path(self.config.path).expanduser()

    def get_supported_asset_types(self) -> list[AssetType]:
        return [
            AssetType.DATABASE,
            AssetType.TABLE,
            AssetType.VIEW,
            AssetType.COLUMN,
            AssetType.CONSTRAINT,
            AssetType.INDEX,
        ]

    async def check_connection(self) -> None:
        await asyncio.to_thread(_check, self.config, self.path)

    async def extract_metadata(self) -> ExtractionResult:
        started_at = utcnow()
        database, tables, errors = await asyncio.to_thread(_read, self.config, self.path)
        return ExtractionResult.build(
            self.connector_type,
            started_at,
            databases=[database],
            tables=tables,
            errors=errors,
        )
