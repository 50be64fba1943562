"""The SQLite connector against real database files built in tmp_path."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from metadata_pipelines.extractors.base import NoCredentials
from metadata_pipelines.extractors.errors import (
    ConfigurationError,
    SourceResponseError,
    SourceTimeoutError,
)
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.extractors.sqlite import SQLiteConfig, SQLiteExtractor
from metadata_pipelines.extractors.sqlite.affinity import normalize_type
from metadata_pipelines.extractors.sqlite.sqltext import index_parts, view_select
from metadata_pipelines.models import (
    AssetType,
    ConstraintType,
    DataType,
    ExtractionResult,
    ExtractionStatus,
    Severity,
    TableMetadata,
    TableType,
)
from metadata_pipelines.sample import SAMPLE_TABLES, SAMPLE_VIEWS, create_sample_database

ODD_TABLE = 'Ünïcode "quoted" table.with dots'
ODD_COLUMN = 'a "col" with.dots and spaces'


def quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


ODD_TABLE_SQL, ODD_COLUMN_SQL = quoted(ODD_TABLE), quoted(ODD_COLUMN)
ODD_INDEX_SQL = quoted('odd index "name"')

SCHEMA = f"""
CREATE TABLE authors (
    author_id INTEGER PRIMARY KEY,
    email     VARCHAR(200) NOT NULL UNIQUE,
    name      TEXT NOT NULL DEFAULT 'anonymous',
    born      DATE,
    rating    DOUBLE PRECISION,
    active    BOOLEAN NOT NULL DEFAULT 1,
    photo     BLOB,
    anything
);
CREATE TABLE books (
    isbn      TEXT NOT NULL,
    edition   INT NOT NULL,
    author_id INTEGER REFERENCES authors ON DELETE SET NULL,
    title     TEXT COLLATE NOCASE,
    price     DECIMAL(8, 2),
    created   TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (isbn, edition),
    CONSTRAINT uq_books_title UNIQUE (title, edition)
) WITHOUT ROWID;
CREATE TABLE reviews (
    review_id INTEGER PRIMARY KEY,
    isbn      TEXT NOT NULL,
    edition   INT NOT NULL,
    stars     INTEGER NOT NULL,
    body      TEXT,
    body_len  INTEGER GENERATED ALWAYS AS (length(body)) VIRTUAL,
    stars_x2  INTEGER GENERATED ALWAYS AS (stars * 2) STORED,
    FOREIGN KEY (isbn, edition) REFERENCES books (isbn, edition)
        ON DELETE CASCADE ON UPDATE RESTRICT
);
CREATE TABLE measurements (id INTEGER PRIMARY KEY, value ANY, note TEXT) STRICT;
CREATE TABLE {ODD_TABLE_SQL} (
    {ODD_COLUMN_SQL} TEXT PRIMARY KEY,
    "naïve" INTEGER
);
CREATE UNIQUE INDEX ux_authors_lower_email ON authors (lower(email));
CREATE INDEX ix_reviews_recent ON reviews (stars DESC, isbn) WHERE stars >= 4;
CREATE INDEX {ODD_INDEX_SQL} ON {ODD_TABLE_SQL} ("naïve");
CREATE VIEW top_books AS
    SELECT b.isbn, b.title, avg(r.stars) AS avg_stars
    FROM books AS b JOIN reviews AS r USING (isbn, edition)
    GROUP BY b.isbn, b.title;
CREATE VIEW "view (with) parens" (x, "as") AS SELECT 1, 'AS';
INSERT INTO authors (author_id, email) VALUES (1, 'a@example.com'), (2, 'b@example.com');
INSERT INTO books (isbn, edition, author_id, title) VALUES ('111', 1, 1, 'One'), ('111', 2, 1, 'One');
INSERT INTO reviews (isbn, edition, stars, body) VALUES ('111', 1, 5, 'great'), ('111', 2, 3, NULL),
    ('111', 2, 4, 'fine');
INSERT INTO {ODD_TABLE_SQL} VALUES ('k', 1);
"""


def build(path: Path, script: str) -> Path:
    """Runs the script in one transaction (statement by statement, each would be synced to disk)."""
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(f"BEGIN;\n{script}\nCOMMIT;")
    return path


def extract(path: Path, **config: object) -> ExtractionResult:
    return asyncio.run(SQLiteExtractor({"path": str(path), **config}).extract_metadata())


def by_name(result: ExtractionResult) -> dict[str, TableMetadata]:
    return {table.name: table for table in result.tables}


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return build(tmp_path / "library.db", SCHEMA)


@pytest.fixture
def extracted(library: Path) -> ExtractionResult:
    return extract(library)


# --- the happy path, field by field -------------------------------------------------------------


def test_result_lists_the_main_database_and_every_relation(
    extracted: ExtractionResult, library: Path
) -> None:
    assert extracted.connector_type == "sqlite"
    assert extracted.status is ExtractionStatus.SUCCESS
    assert extracted.errors == []
    assert [d.name for d in extracted.databases] == ["main"]
    database = extracted.databases[0]
    assert database.properties["path"] == str(library.resolve())
    assert database.properties["encoding"] == "UTF-8"
    assert database.properties["journal_mode"] == "delete"
    assert database.updated_at is not None and database.updated_at.tzinfo is not None
    assert extracted.schemas == []
    relations = ["authors", "books", "reviews", "measurements", ODD_TABLE, "top_books"]
    assert sorted(by_name(extracted)) == sorted([*relations, "view (with) parens"])
    for table in extracted.tables:
        assert table.database == "main"
        assert table.schema_name is None
        assert table.path == ("main", table.name)


def test_columns_of_a_rowid_table(extracted: ExtractionResult) -> None:
    columns = by_name(extracted)["authors"].columns
    assert [c.name for c in columns] == [
        "author_id",
        "email",
        "name",
        "born",
        "rating",
        "active",
        "photo",
        "anything",
    ]
    assert [c.ordinal for c in columns] == list(range(1, 9))
    facts = {
        c.name: (c.native_type, c.data_type, c.nullable, c.default, c.is_primary_key)
        for c in columns
    }
    assert facts == {
        "author_id": ("INTEGER", DataType.INTEGER, False, None, True),
        "email": ("VARCHAR(200)", DataType.STRING, False, None, False),
        "name": ("TEXT", DataType.STRING, False, "'anonymous'", False),
        "born": ("DATE", DataType.DATE, True, None, False),
        "rating": ("DOUBLE PRECISION", DataType.FLOAT, True, None, False),
        "active": ("BOOLEAN", DataType.BOOLEAN, False, "1", False),
        "photo": ("BLOB", DataType.BINARY, True, None, False),
        "anything": ("", DataType.UNKNOWN, True, None, False),
    }
    assert columns[0].properties == {
        "affinity": "INTEGER",
        "primary_key_position": 1,
        "rowid_alias": True,
    }
    assert columns[5].properties == {"affinity": "NUMERIC"}
    assert columns[7].properties == {}


def test_composite_primary_key_of_a_without_rowid_table(extracted: ExtractionResult) -> None:
    books = by_name(extracted)["books"]
    assert books.properties["without_rowid"] is True
    assert books.properties["sql"].startswith("CREATE TABLE books (")
    assert [c.name for c in books.columns if c.is_primary_key] == ["isbn", "edition"]
    isbn, edition = books.columns[0], books.columns[1]
    assert (isbn.nullable, edition.nullable) == (False, False)
    assert isbn.properties["primary_key_position"] == 1
    assert edition.properties["primary_key_position"] == 2
    created = books.columns[5]
    assert (created.native_type, created.data_type, created.default) == (
        "TIMESTAMP",
        DataType.TIMESTAMP,
        "CURRENT_TIMESTAMP",
    )
    assert books.columns[4].data_type is DataType.DECIMAL
    primary = [c for c in books.constraints if c.constraint_type is ConstraintType.PRIMARY_KEY]
    assert [(p.columns, p.referenced_table) for p in primary] == [(["isbn", "edition"], None)]


def test_foreign_keys_composite_and_implicit(extracted: ExtractionResult) -> None:
    tables = by_name(extracted)
    (composite,) = [
        c for c in tables["reviews"].constraints if c.constraint_type is ConstraintType.FOREIGN_KEY
    ]
    assert composite.columns == ["isbn", "edition"]
    assert composite.referenced_database == "main"
    assert composite.referenced_schema is None
    assert composite.referenced_table == "books"
    assert composite.referenced_columns == ["isbn", "edition"]
    assert (composite.on_delete, composite.on_update) == ("CASCADE", "RESTRICT")

    # `REFERENCES authors` with no column list targets the parent's primary key.
    (implicit,) = [
        c for c in tables["books"].constraints if c.constraint_type is ConstraintType.FOREIGN_KEY
    ]
    assert implicit.columns == ["author_id"]
    assert implicit.referenced_table == "authors"
    assert implicit.referenced_columns == ["author_id"]
    assert (implicit.on_delete, implicit.on_update) == ("SET NULL", "NO ACTION")


def test_unique_constraints_come_from_auto_indexes(extracted: ExtractionResult) -> None:
    tables = by_name(extracted)
    uniques = {
        name: [c.columns for c in tables[name].constraints if c.constraint_type.value == "unique"]
        for name in ("authors", "books", "reviews")
    }
    # The expression index on lower(email) is an index, not a constraint.
    assert uniques == {"authors": [["email"]], "books": [["title", "edition"]], "reviews": []}


def test_indexes(extracted: ExtractionResult) -> None:
    tables = by_name(extracted)
    authors = {i.name: i for i in tables["authors"].indexes}
    assert sorted(authors) == ["sqlite_autoindex_authors_1", "ux_authors_lower_email"]
    expression = authors["ux_authors_lower_email"]
    assert (expression.columns, expression.unique, expression.kind) == (
        ["lower(email)"],
        True,
        "btree",
    )
    assert expression.properties["origin"] == "create_index"
    assert expression.properties["expression"] is True
    assert expression.properties["sql"].startswith("CREATE UNIQUE INDEX ux_authors_lower_email")
    auto = authors["sqlite_autoindex_authors_1"]
    assert (auto.columns, auto.unique) == (["email"], True)
    assert auto.properties == {"origin": "unique", "auto": True}

    (partial,) = tables["reviews"].indexes
    assert partial.name == "ix_reviews_recent"
    assert (partial.columns, partial.unique) == (["stars", "isbn"], False)
    assert partial.properties["partial"] is True
    assert partial.properties["where"] == "stars >= 4"
    assert partial.properties["descending"] == [True, False]

    books = {i.name: i for i in tables["books"].indexes}
    assert books["sqlite_autoindex_books_1"].properties["origin"] == "primary_key"
    assert books["sqlite_autoindex_books_1"].columns == ["isbn", "edition"]
    assert books["sqlite_autoindex_books_2"].columns == ["title", "edition"]
    assert books["sqlite_autoindex_books_2"].properties["collations"] == ["NOCASE", "BINARY"]


def test_generated_columns_and_strict_tables(extracted: ExtractionResult) -> None:
    tables = by_name(extracted)
    reviews = {c.name: c for c in tables["reviews"].columns}
    assert reviews["body_len"].properties["generated"] == "virtual"
    assert reviews["stars_x2"].properties["generated"] == "stored"
    assert "generated" not in reviews["body"].properties
    assert [c.ordinal for c in tables["reviews"].columns] == list(range(1, 8))

    measurements = tables["measurements"]
    assert measurements.properties["strict"] is True
    value = measurements.columns[1]
    assert (value.native_type, value.data_type) == ("ANY", DataType.UNKNOWN)


def test_views_carry_their_definition_and_columns(extracted: ExtractionResult) -> None:
    tables = by_name(extracted)
    view = tables["top_books"]
    assert (view.table_type, view.native_type) == (TableType.VIEW, "view")
    assert view.view_definition is not None
    assert view.view_definition.startswith("SELECT b.isbn, b.title, avg(r.stars) AS avg_stars")
    assert view.view_definition.endswith("GROUP BY b.isbn, b.title")
    assert view.properties["sql"].startswith("CREATE VIEW top_books AS")
    assert [(c.name, c.native_type) for c in view.columns] == [
        ("isbn", "TEXT"),
        ("title", "TEXT"),
        ("avg_stars", ""),
    ]
    assert view.row_count is None
    assert view.constraints == [] and view.indexes == []

    odd = tables["view (with) parens"]
    assert odd.view_definition == "SELECT 1, 'AS'"
    assert [c.name for c in odd.columns] == ["x", "as"]


def test_row_counts(extracted: ExtractionResult) -> None:
    counts = {t.name: t.row_count for t in extracted.tables}
    assert counts == {
        "authors": 2,
        "books": 2,
        "reviews": 3,
        "measurements": 0,
        ODD_TABLE: 1,
        "top_books": None,
        "view (with) parens": None,
    }


def test_row_counts_can_be_skipped(library: Path) -> None:
    result = extract(library, include_row_counts=False)
    assert {t.row_count for t in result.tables} == {None}


def test_odd_identifiers_round_trip_exactly(extracted: ExtractionResult) -> None:
    odd = by_name(extracted)[ODD_TABLE]
    assert odd.name == ODD_TABLE
    assert [c.name for c in odd.columns] == [ODD_COLUMN, "naïve"]
    assert odd.columns[0].is_primary_key
    (index,) = [i for i in odd.indexes if not i.name.startswith("sqlite_autoindex")]
    assert index.name == 'odd index "name"'
    assert index.columns == ["naïve"]
    assert [c.columns for c in odd.constraints] == [[ODD_COLUMN]]


def test_include_and_exclude_patterns(library: Path) -> None:
    result = extract(
        library, include_tables=["books", "rev.*", "top_.*"], exclude_tables=["top_.*"]
    )
    assert sorted(by_name(result)) == ["books", "reviews"]
    # Patterns match whole names, bare or qualified: "book" alone matches nothing.
    assert extract(library, include_tables=["book"]).tables == []
    assert [t.name for t in extract(library, include_tables=[r"main\.authors"]).tables] == [
        "authors"
    ]


def test_many_relations_are_read_in_batches(tmp_path: Path) -> None:
    script = "".join(
        f"CREATE TABLE t{i:04d} (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES t0000 (id));"
        f"CREATE INDEX ix_t{i:04d} ON t{i:04d} (parent);"
        f"INSERT INTO t{i:04d} (id) VALUES ({i});"
        for i in range(450)
    )
    path = build(
        tmp_path / "many.db",
        script + "CREATE TABLE gone (x); CREATE VIEW v_gone AS "
        "SELECT x FROM gone; DROP TABLE gone;",
    )
    result = extract(path)
    assert len(result.tables) == 451
    tables = by_name(result)
    assert all(tables[f"t{i:04d}"].row_count == 1 for i in range(450))
    assert all(len(tables[f"t{i:04d}"].indexes) == 1 for i in range(450))
    assert tables["t0449"].constraints[1].referenced_table == "t0000"
    assert [e.scope for e in result.errors] == [("main", "v_gone")]


# --- partial failures ---------------------------------------------------------------------------


def test_a_broken_view_is_a_scoped_error_and_the_rest_is_extracted(library: Path) -> None:
    build(
        library,
        "CREATE TABLE doomed (x); CREATE VIEW uses_doomed AS SELECT x FROM doomed;"
        "DROP TABLE doomed;",
    )
    result = extract(library)
    assert result.status is ExtractionStatus.PARTIAL
    (error,) = result.errors
    assert error.scope == ("main", "uses_doomed")
    assert error.asset_type is AssetType.VIEW
    assert error.severity is Severity.ERROR
    assert error.retryable is False
    assert error.code == "invalid_view"
    assert "uses_doomed" in error.message and "doomed" in error.message
    tables = by_name(result)
    broken = tables["uses_doomed"]
    assert broken.view_definition == "SELECT x FROM doomed"
    assert broken.columns == []
    # Everything else is complete.
    assert len(tables["authors"].columns) == 8
    assert tables["reviews"].constraints[-1].referenced_table == "books"
    assert tables["top_books"].columns[0].name == "isbn"


def test_an_excluded_broken_view_is_not_an_error(library: Path) -> None:
    build(
        library,
        "CREATE TABLE doomed (x); CREATE VIEW uses_doomed AS SELECT x FROM doomed;"
        "DROP TABLE doomed;",
    )
    result = extract(library, exclude_tables=["uses_.*"])
    assert result.status is ExtractionStatus.SUCCESS
    assert result.errors == []


def test_foreign_key_to_a_missing_parent_is_a_warning(tmp_path: Path) -> None:
    path = build(
        tmp_path / "orphans.db",
        "CREATE TABLE child (id INTEGER PRIMARY KEY,"
        " parent_id INTEGER REFERENCES nowhere, other INTEGER REFERENCES elsewhere (k));",
    )
    result = extract(path)
    assert result.status is ExtractionStatus.SUCCESS
    (warning,) = result.errors
    assert warning.severity is Severity.WARNING
    assert warning.scope == ("main", "child")
    assert warning.code == "unresolved_foreign_key"
    assert "nowhere" in warning.message
    (kept,) = [c for c in result.tables[0].constraints if c.constraint_type.value == "foreign_key"]
    assert (kept.columns, kept.referenced_table, kept.referenced_columns) == (
        ["other"],
        "elsewhere",
        ["k"],
    )


def test_virtual_and_shadow_tables(tmp_path: Path) -> None:
    path = build(
        tmp_path / "fts.db",
        "CREATE VIRTUAL TABLE docs USING fts5(title, body); INSERT INTO docs VALUES ('a', 'b');",
    )
    result = extract(path)
    assert result.status is ExtractionStatus.SUCCESS
    tables = by_name(result)
    docs = tables["docs"]
    assert (docs.table_type, docs.native_type, docs.row_count) == (TableType.OTHER, "virtual", None)
    assert [(c.name, c.properties.get("hidden", False)) for c in docs.columns] == [
        ("title", False),
        ("body", False),
        ("docs", True),
        ("rank", True),
    ]
    shadow = tables["docs_content"]
    assert (shadow.table_type, shadow.native_type, shadow.row_count) == (
        TableType.OTHER,
        "shadow",
        1,
    )


# --- whole-source failures ----------------------------------------------------------------------


def test_missing_file_is_a_configuration_error_and_is_never_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    extractor = SQLiteExtractor({"path": str(path)})
    with pytest.raises(ConfigurationError) as raised:
        asyncio.run(extractor.extract_metadata())
    assert str(path) in str(raised.value)
    assert raised.value.retryable is False
    assert asyncio.run(extractor.test_connection()) == (
        False,
        f"SQLite database file not found: {str(path)!r}",
    )
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    ok, message = asyncio.run(SQLiteExtractor({"path": str(tmp_path)}).test_connection())
    assert ok is False
    assert message == f"SQLite database path is not a file: {str(tmp_path)!r}"


def test_a_file_that_is_not_a_database_is_a_permanent_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the pages you are looking for\n" * 200)
    extractor = SQLiteExtractor({"path": str(path)})
    with pytest.raises(ConfigurationError) as raised:
        asyncio.run(extractor.extract_metadata())
    assert raised.value.retryable is False
    assert str(raised.value) == (
        f"SQLite database {str(path)!r} is not an SQLite database file: file is not a database"
    )
    ok, message = asyncio.run(extractor.test_connection())
    assert (ok, message) == (False, str(raised.value))


def test_a_corrupt_database_is_a_permanent_error(tmp_path: Path) -> None:
    path = build(
        tmp_path / "corrupt.db",
        "CREATE TABLE a (x, y); CREATE INDEX ia ON a (x);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
        "INSERT INTO a SELECT i, printf('%030d', i) FROM n;",
    )
    data = bytearray(path.read_bytes())
    data[100:200] = b"\xff" * 100  # the schema page, right after the 100-byte header
    path.write_bytes(bytes(data))
    with pytest.raises(SourceResponseError) as raised:
        extract(path)
    assert raised.value.retryable is False
    assert str(raised.value) == (
        f"SQLite database {str(path)!r} is corrupt: database disk image is malformed"
    )


def test_a_locked_database_is_a_transient_error(library: Path) -> None:
    with closing(sqlite3.connect(library, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("INSERT INTO authors (email) VALUES ('locked@example.com')")
        extractor = SQLiteExtractor({"path": str(library), "timeout": 0.05})
        with pytest.raises(SourceTimeoutError) as raised:
            asyncio.run(extractor.extract_metadata())
        assert raised.value.retryable is True
        assert "is locked (waited 0.05s)" in str(raised.value)
        ok, message = asyncio.run(extractor.test_connection())
        assert ok is False and message is not None and "is locked" in message
        writer.execute("ROLLBACK")
    assert asyncio.run(extractor.test_connection()) == (True, None)


def test_extraction_never_writes_to_the_file(library: Path) -> None:
    before = (hashlib.sha256(library.read_bytes()).hexdigest(), library.stat().st_mtime_ns)
    siblings = sorted(p.name for p in library.parent.iterdir())
    result = extract(library)
    asyncio.run(SQLiteExtractor({"path": str(library)}).test_connection())
    assert result.status is ExtractionStatus.SUCCESS
    after = (hashlib.sha256(library.read_bytes()).hexdigest(), library.stat().st_mtime_ns)
    assert after == before
    assert sorted(p.name for p in library.parent.iterdir()) == siblings


# --- connection check, config, factory ----------------------------------------------------------


def test_test_connection_succeeds_on_a_database(library: Path) -> None:
    assert asyncio.run(SQLiteExtractor({"path": str(library)}).test_connection()) == (True, None)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "invalid sqlite config: path: Field required"),
        ({"path": ""}, "invalid sqlite config: path: String should have at least 1 character"),
        ({"path": "x", "include_tables": ["("]}, "include_tables.0: Value error, invalid regular"),
        ({"path": "x", "timeout": 0}, "timeout: Input should be greater than 0"),
        ({"path": "x", "password": "hunter2"}, "password: Extra inputs are not permitted"),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SQLiteExtractor(config)
    assert expected in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_no_credentials_are_accepted(library: Path) -> None:
    with pytest.raises(ConfigurationError, match="credentials: user: Extra inputs"):
        SQLiteExtractor({"path": str(library)}, {"user": "root"})
    extractor = SQLiteExtractor({"path": str(library)})
    assert isinstance(extractor.credentials, NoCredentials)
    assert isinstance(extractor.config, SQLiteConfig)
    assert extractor.config.include_row_counts is True


def test_factory_builds_the_sqlite_extractor(library: Path) -> None:
    extractor = MetadataExtractorFactory().create("sqlite", {"path": str(library)})
    assert isinstance(extractor, SQLiteExtractor)
    assert AssetType.VIEW in extractor.get_supported_asset_types()


# --- the sample database ------------------------------------------------------------------------


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Path]:
    yield create_sample_database(tmp_path / "shop" / "shop.db")


def test_sample_database_extracts_cleanly(sample: Path) -> None:
    result = extract(sample)
    assert result.status is ExtractionStatus.SUCCESS
    assert result.errors == []
    tables = by_name(result)
    assert sorted(t.name for t in result.tables if t.table_type is TableType.TABLE) == sorted(
        SAMPLE_TABLES
    )
    assert sorted(t.name for t in result.tables if t.table_type is TableType.VIEW) == sorted(
        SAMPLE_VIEWS
    )
    assert sum(t.row_count or 0 for t in result.tables) > 300
    assert [c.name for c in tables["order_items"].columns if c.is_primary_key] == [
        "order_id",
        "line_no",
    ]
    (composite,) = [
        c for c in tables["returns"].constraints if c.constraint_type is ConstraintType.FOREIGN_KEY
    ]
    assert (composite.referenced_table, composite.referenced_columns) == (
        "order_items",
        ["order_id", "line_no"],
    )
    (self_reference,) = [
        c for c in tables["categories"].constraints if c.constraint_type.value == "foreign_key"
    ]
    assert self_reference.referenced_table == "categories"
    partial = {i.name: i for i in tables["orders"].indexes}["ix_orders_open"]
    assert partial.properties["where"] == "status IN ('pending', 'paid')"
    assert tables["order_totals"].view_definition is not None


def test_sample_database_is_rebuilt_in_place(sample: Path) -> None:
    with closing(sqlite3.connect(sample)) as connection:
        connection.execute("DELETE FROM returns")
        connection.commit()
    assert create_sample_database(sample) == sample
    with closing(sqlite3.connect(sample)) as connection:
        assert connection.execute("SELECT count(*) FROM returns").fetchone()[0] > 0
    assert sorted(p.name for p in sample.parent.iterdir()) == ["shop.db"]


# --- SQL text and type helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("INTEGER", DataType.INTEGER),
        ("BIGINT", DataType.INTEGER),
        ("POINT", DataType.INTEGER),  # SQLite's rule 1: contains "INT"
        ("NVARCHAR(20)", DataType.STRING),
        ("CLOB", DataType.STRING),
        ("BLOB", DataType.BINARY),
        ("REAL", DataType.FLOAT),
        ("FLOAT", DataType.FLOAT),
        ("DOUBLE", DataType.FLOAT),
        ("NUMERIC(10,2)", DataType.DECIMAL),
        ("DECIMAL", DataType.DECIMAL),
        ("BOOLEAN", DataType.BOOLEAN),
        ("DATE", DataType.DATE),
        ("DATETIME", DataType.TIMESTAMP),
        ("TIME", DataType.TIME),
        ("JSON", DataType.JSON),
        ("UUID", DataType.UNKNOWN),
        ("", DataType.UNKNOWN),
    ],
)
def test_normalize_type_follows_affinity_rules(declared: str, expected: DataType) -> None:
    assert normalize_type(declared) is expected


def test_view_select_ignores_as_inside_quotes_and_parentheses() -> None:
    sql = 'CREATE VIEW "a AS b" ("as", [AS]) AS /* AS */ SELECT \'AS\' AS x, (1) AS y'
    assert view_select(sql) == "/* AS */ SELECT 'AS' AS x, (1) AS y"
    assert view_select(None) is None


def test_index_parts_reads_terms_and_predicate() -> None:
    sql = (
        'CREATE INDEX "ix (a, b)" ON "t ""on"" x" (a COLLATE NOCASE DESC, substr(b, 1, 2), '
        "\"c,d\") WHERE a > ',' AND b IS NOT NULL"
    )
    assert index_parts(sql) == (
        ["a", "substr(b, 1, 2)", '"c,d"'],
        "a > ',' AND b IS NOT NULL",
    )
    assert index_parts(None) == ([], None)
