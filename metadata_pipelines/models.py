"""Pydantic models for extracted metadata: the contract between extractors and the catalog.

Extractors return flat lists (databases, schemas, tables, routines) rather than a nested tree: SQL
sources answer metadata queries per kind, not per parent, so flat lists are what they can build in bulk,
and what the catalog persists in bulk. Every object names its position with `database` / `schema_name`;
two-level sources (MySQL, SQLite, S3, Kafka, MongoDB) leave `schema_name` empty.

One model holds every kind of source (docs/catalog.md maps each onto it):
- the top level is a `DatabaseMetadata` whose `container_type` says what it is (a database, a Unity
  Catalog catalog, a BigQuery project, an S3 bucket, a Kafka cluster), the optional second level a
  `SchemaMetadata` (a schema, a BigQuery dataset);
- everything that holds fields is a `TableMetadata` whose `table_type` says what it is (a table, a
  view, a MongoDB collection, a Kafka topic, a dataset of files under an S3 prefix, ...);
- fields nest: a `ColumnMetadata` has `children` to any depth (a STRUCT's members, the elements of an
  array of records, a map's values), each addressed by a field path (`field_path`);
- a schema that was inferred by sampling rather than declared carries, per field, how it was seen
  (`FieldInference`).

Extractors may hand their result over in `ExtractionBatch`es (see `BaseMetadataExtractor.
stream_metadata`), so a source of a million columns never has to be held whole.

These models never carry credentials: unknown fields are rejected, and free-form properties whose keys
look like secrets have their values redacted on construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

REDACTED = "***REDACTED***"
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|credential|api[_-]?key|private[_-]?key|account\.key|sas)",
    re.IGNORECASE,
)

Properties = dict[str, Any]


@lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    """Keys repeat across thousands of columns, so the regex runs once per distinct key."""
    return _SECRET_KEY.search(key) is not None


_SAFE_KEYS: set[str] = set()  # keys already checked and found to name no secret (bounded)


def _names_a_secret(keys: dict[str, Any]) -> bool:
    """Whether any key names a secret; keys found safe are remembered (see `_redact`)."""
    if any(map(_is_secret_key, keys)):
        return True
    if len(_SAFE_KEYS) < 4096:
        _SAFE_KEYS.update(keys)
    return False


def redact_properties(properties: Properties) -> Properties:
    """Drop the value of any property whose key names a secret (source options sometimes hold keys)."""
    return {
        key: (REDACTED if _is_secret_key(key) and value not in (None, "") else value)
        for key, value in properties.items()
    }


VOLATILE_STATISTICS = frozenset(
    {
        # TableMetadata's own estimates
        "row_count",
        "size_bytes",
        # MySQL / MariaDB (information_schema.TABLES)
        "auto_increment",
        "data_length",
        "index_length",
        "data_free",
        "avg_row_length",
        # PostgreSQL (pg_class sizes, pg_stat_all_tables activity)
        "table_size_bytes",
        "indexes_size_bytes",
        "seq_scan",
        "idx_scan",
        "last_vacuum",
        "last_autovacuum",
        "last_analyze",
        "last_autoanalyze",
        # BigQuery
        "physical_bytes",
        # Kafka: leaders and in-sync replicas move with elections and broker restarts
        "controller_id",
        "partition_state",
        "under_replicated_partitions",
        # MongoDB (listDatabases, collStats, and how many documents a sample read)
        "size_on_disk",
        "avg_document_size",
        "data_size_bytes",
        "index_sizes",
        "sampled_documents",
    }
)
"""Statistics (a table's fields, or keys of a table's or database's `properties`) that move with
activity on the source rather than with its metadata. The catalog stores them but leaves them out of
change detection, so a busy source does not rewrite its rows on every sync; they are refreshed
whenever anything else about the asset changes. A connector adding such a statistic names it here."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, use_enum_values=False)


class _WithProperties(_Model):
    properties: Properties = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _redact(cls, value: Properties) -> Properties:
        # pydantic already copied `value`: rebuild it only when a key names a secret. The common
        # case, every key seen before and safe, is one set comparison: the same few keys repeat
        # on every column of a large source.
        if _SAFE_KEYS.issuperset(value) or not _names_a_secret(value):
            return value
        return redact_properties(value)


class AssetType(StrEnum):
    DATABASE = "database"
    SCHEMA = "schema"
    TABLE = "table"
    VIEW = "view"
    COLUMN = "column"
    CONSTRAINT = "constraint"
    INDEX = "index"
    ROUTINE = "routine"


class TableType(StrEnum):
    """What kind of field-holding asset a table is; the source's own word is kept in `native_type`.

    Relations (tables, views) and non-relational datasets (collections, topics, file datasets) are
    all tables of the catalog, so "every dataset of a source with its fields" is one query.
    """

    TABLE = "table"
    VIEW = "view"
    MATERIALIZED_VIEW = "materialized_view"
    STREAMING_TABLE = "streaming_table"
    EXTERNAL_TABLE = "external_table"
    FOREIGN_TABLE = "foreign_table"
    SNAPSHOT = "snapshot"
    SYSTEM_VIEW = "system_view"
    #: A document collection (MongoDB); time-series and capped ones keep that in `native_type`.
    COLLECTION = "collection"
    #: An event stream (Kafka topic).
    TOPIC = "topic"
    #: Files under an object-store prefix read as one dataset (S3 Parquet, CSV, JSON, Delta, Iceberg).
    FILE_DATASET = "file_dataset"
    #: A change stream on a table (Snowflake STREAM).
    STREAM = "stream"
    #: A named location of files (Snowflake STAGE).
    STAGE = "stage"
    OTHER = "other"

    @property
    def asset_type(self) -> AssetType:
        return AssetType.VIEW if self in _VIEW_LIKE else AssetType.TABLE


_VIEW_LIKE = {TableType.VIEW, TableType.MATERIALIZED_VIEW, TableType.SYSTEM_VIEW}


class ContainerType(StrEnum):
    """What a container asset (a `DatabaseMetadata` or `SchemaMetadata`) is in its source."""

    DATABASE = "database"
    #: Unity Catalog's top level.
    CATALOG = "catalog"
    #: BigQuery's top level.
    PROJECT = "project"
    #: An object-store bucket (S3 and compatible).
    BUCKET = "bucket"
    #: A Kafka cluster.
    CLUSTER = "cluster"
    SCHEMA = "schema"
    #: BigQuery's second level.
    DATASET = "dataset"


class DataType(StrEnum):
    """Normalized column type family; the exact source type is always kept in `native_type`."""

    BOOLEAN = "boolean"
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    STRING = "string"
    BINARY = "binary"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    INTERVAL = "interval"
    JSON = "json"
    ENUM = "enum"
    SET = "set"
    ARRAY = "array"
    MAP = "map"
    STRUCT = "struct"
    GEOMETRY = "geometry"
    NULL = "null"
    UNKNOWN = "unknown"


class ConstraintType(StrEnum):
    PRIMARY_KEY = "primary_key"
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign_key"
    CHECK = "check"
    #: PostgreSQL EXCLUDE: no two rows may satisfy all its operators at once.
    EXCLUSION = "exclusion"


class RoutineType(StrEnum):
    PROCEDURE = "procedure"
    FUNCTION = "function"


class DatabaseMetadata(_WithProperties):
    """The top level of a source: a database, catalog, project, bucket or cluster."""

    name: str
    container_type: ContainerType = ContainerType.DATABASE
    comment: str | None = None
    owner: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class SchemaMetadata(_WithProperties):
    """The optional second level of a source: a schema, or a BigQuery dataset."""

    database: str
    name: str
    container_type: ContainerType = ContainerType.SCHEMA
    comment: str | None = None
    owner: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ObservedType(_Model):
    """One type seen for an inferred field, with the share of its occurrences that had it."""

    native_type: str
    data_type: DataType = DataType.UNKNOWN
    share: Annotated[float, Field(ge=0, le=1)]


class FieldInference(_Model):
    """How a field of an inferred schema (sampled documents, messages or files) was observed.

    `presence` is the share of the `sample_size` records in which the field appeared: the sampled
    records for a top-level field, the records that had the sub-document for a field of one, and
    the array elements that were records for a field inside an array of records (each element of
    each sampled array counts once); `types` lists each type seen with its share of the field's
    occurrences, most frequent first. `declared` marks a field
    that a declared schema (a MongoDB validator, say) also names.
    """

    sample_size: Annotated[int, Field(ge=0)]
    presence: Annotated[float, Field(ge=0, le=1)]
    types: list[ObservedType] = Field(default_factory=list)
    declared: bool = False


MAX_FIELD_DEPTH = 64
"""Deepest nesting a field may have (BigQuery allows 15; connectors cut deeper or recursive schemas
themselves, with a warning)."""


class ColumnMetadata(_WithProperties):
    """A field: a table's column, or a member nested inside one.

    `children` are the members of a STRUCT / RECORD / document; for an ARRAY (a repeated field) the
    members of each element's record; for a MAP the members of its values. The exact type, nested
    arrays included, stays in `native_type`. `ordinal` counts from 1 among siblings. `inference` is
    set only for fields of an inferred schema.
    """

    name: str
    ordinal: Annotated[int, Field(ge=1)]
    native_type: str
    data_type: DataType = DataType.UNKNOWN
    nullable: bool = True
    default: str | None = None
    is_primary_key: bool = False
    comment: str | None = None
    children: tuple[ColumnMetadata, ...] = ()
    inference: FieldInference | None = None

    @field_validator("children")
    @classmethod
    def _children_form_a_tree(
        cls, children: tuple[ColumnMetadata, ...]
    ) -> tuple[ColumnMetadata, ...]:
        # Runs only for fields given children: flat columns, the bulk of every source, pay nothing.
        _check_siblings(None, children)
        if _height(children) >= MAX_FIELD_DEPTH:
            raise ValueError(f"fields are nested deeper than {MAX_FIELD_DEPTH} levels")
        return children

    @property
    def repeated(self) -> bool:
        """An array (BigQuery REPEATED, a MongoDB array, Spark ARRAY): children describe each element."""
        return self.data_type is DataType.ARRAY


class ConstraintMetadata(_Model):
    name: str | None = None
    constraint_type: ConstraintType
    columns: list[str] = Field(default_factory=list)
    referenced_database: str | None = None
    referenced_schema: str | None = None
    referenced_table: str | None = None
    referenced_columns: list[str] = Field(default_factory=list)
    on_delete: str | None = None
    on_update: str | None = None
    expression: str | None = None

    @model_validator(mode="after")
    def _foreign_keys_name_their_target(self) -> ConstraintMetadata:
        if self.constraint_type is ConstraintType.FOREIGN_KEY:
            if not self.referenced_table:
                raise ValueError("a foreign key needs referenced_table")
            if len(self.referenced_columns) != len(self.columns):
                raise ValueError("a foreign key needs as many referenced columns as columns")
        return self


class IndexMetadata(_WithProperties):
    name: str
    columns: list[str] = Field(default_factory=list)
    unique: bool = False
    kind: str | None = None


class TableMetadata(_WithProperties):
    """A table, view or other relation, with its columns, constraints, indexes and statistics."""

    database: str
    schema_name: str | None = None
    name: str
    table_type: TableType = TableType.TABLE
    native_type: str | None = None
    comment: str | None = None
    owner: str | None = None
    view_definition: str | None = None
    row_count: int | None = None
    size_bytes: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    columns: list[ColumnMetadata] = Field(default_factory=list)
    constraints: list[ConstraintMetadata] = Field(default_factory=list)
    indexes: list[IndexMetadata] = Field(default_factory=list)

    @field_validator("columns")
    @classmethod
    def _unique_column_names(cls, columns: list[ColumnMetadata]) -> list[ColumnMetadata]:
        _check_siblings(None, columns)  # nested levels are checked by ColumnMetadata itself
        return columns

    @property
    def path(self) -> tuple[str, ...]:
        return asset_path(self.database, self.schema_name, self.name)

    def iter_fields(self) -> Iterator[tuple[str, str | None, int, ColumnMetadata]]:
        """Every field, depth first in ordinal order: (path, parent path, depth, field)."""
        return iter_fields(self.columns)


class RoutineMetadata(_WithProperties):
    """A stored procedure or function."""

    database: str
    schema_name: str | None = None
    name: str
    routine_type: RoutineType
    return_type: str | None = None
    language: str | None = None
    definition: str | None = None
    comment: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ExtractionStatus(StrEnum):
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class ExtractionError(_Model):
    """One problem met during extraction, scoped to the part of the source it affected.

    `scope` is an asset path (database, [schema,] [table]); an empty scope means the whole source.
    An error protects its scope: the catalog deletes nothing inside it. A warning protects nothing.
    """

    scope: tuple[str, ...] = ()
    asset_type: AssetType | None = None
    message: str
    retryable: bool = False
    severity: Severity = Severity.ERROR
    code: str | None = None


class ExtractionBatch(_Model):
    """A part of a source's metadata, handed over while extraction goes on.

    A batch is complete in itself: a table never spans two batches, and a batch holds the
    containers its objects need unless an earlier batch did. Errors ride in the batch that met them.
    """

    databases: list[DatabaseMetadata] = Field(default_factory=list)
    schemas: list[SchemaMetadata] = Field(default_factory=list)
    tables: list[TableMetadata] = Field(default_factory=list)
    routines: list[RoutineMetadata] = Field(default_factory=list)
    errors: list[ExtractionError] = Field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"ExtractionBatch(databases={len(self.databases)}, schemas={len(self.schemas)}, "
            f"tables={len(self.tables)}, routines={len(self.routines)}, errors={len(self.errors)})"
        )

    @property
    def counts(self) -> dict[str, int]:
        return _counts(self.databases, self.schemas, self.tables, self.routines)

    @property
    def empty(self) -> bool:
        return not (self.databases or self.schemas or self.tables or self.routines)


class ExtractionSummary(_Model):
    """What a streamed extraction found, without the metadata itself: handed over beside the batches.

    Persistence reads it before the first batch, so every error (and so every protected scope) is
    known before anything is written, however late in the stream it was met.
    """

    connector_type: str
    status: ExtractionStatus
    counts: dict[str, int]
    errors: list[ExtractionError] = Field(default_factory=list)
    #: How many batches the extraction handed over, in order.
    batches: int
    started_at: datetime
    finished_at: datetime
    #: What the extraction sent to the source or cost there (BaseMetadataExtractor.usage).
    usage: dict[str, int] = Field(default_factory=dict)

    @property
    def failed_scopes(self) -> list[tuple[str, ...]]:
        return [e.scope for e in self.errors if e.severity is Severity.ERROR]


class ExtractionTally:
    """Counts and errors of the batches of one extraction as they go by, for its summary."""

    def __init__(self, connector_type: str, started_at: datetime) -> None:
        self.connector_type = connector_type
        self.started_at = started_at
        self.counts: dict[str, int] = _counts([], [], [], [])
        self.errors: list[ExtractionError] = []
        self.batches = 0

    def add(self, batch: ExtractionBatch) -> None:
        for kind, count in batch.counts.items():
            self.counts[kind] += count
        self.errors.extend(batch.errors)
        self.batches += 1

    def summary(self) -> ExtractionSummary:
        found = any(self.counts[kind] for kind in _CONTAINED)
        return ExtractionSummary(
            connector_type=self.connector_type,
            status=extraction_status(found, self.errors),
            counts=self.counts,
            errors=self.errors,
            batches=self.batches,
            started_at=self.started_at,
            finished_at=utcnow(),
        )


class ExtractionResult(_Model):
    connector_type: str
    status: ExtractionStatus
    databases: list[DatabaseMetadata] = Field(default_factory=list)
    schemas: list[SchemaMetadata] = Field(default_factory=list)
    tables: list[TableMetadata] = Field(default_factory=list)
    routines: list[RoutineMetadata] = Field(default_factory=list)
    errors: list[ExtractionError] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime

    def __repr__(self) -> str:
        # A full repr of a large result costs seconds of CPU (asyncio.run may build one).
        return (
            f"ExtractionResult(connector_type={self.connector_type!r}, "
            f"status={self.status.value!r}, counts={self.counts}, errors={len(self.errors)})"
        )

    @property
    def counts(self) -> dict[str, int]:
        return _counts(self.databases, self.schemas, self.tables, self.routines)

    @property
    def failed_scopes(self) -> list[tuple[str, ...]]:
        return [e.scope for e in self.errors if e.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[ExtractionError]:
        return [e for e in self.errors if e.severity is Severity.WARNING]

    def as_batch(self) -> ExtractionBatch:
        return ExtractionBatch(
            databases=self.databases,
            schemas=self.schemas,
            tables=self.tables,
            routines=self.routines,
            errors=self.errors,
        )

    @classmethod
    def from_batches(
        cls, connector_type: str, started_at: datetime, batches: Iterable[ExtractionBatch]
    ) -> ExtractionResult:
        """One result holding every batch (for callers that want the whole source at once)."""
        whole = ExtractionBatch()
        for batch in batches:
            whole.databases.extend(batch.databases)
            whole.schemas.extend(batch.schemas)
            whole.tables.extend(batch.tables)
            whole.routines.extend(batch.routines)
            whole.errors.extend(batch.errors)
        return cls.build(
            connector_type,
            started_at,
            databases=whole.databases,
            schemas=whole.schemas,
            tables=whole.tables,
            routines=whole.routines,
            errors=whole.errors,
        )

    @classmethod
    def build(
        cls,
        connector_type: str,
        started_at: datetime,
        *,
        databases: list[DatabaseMetadata] | None = None,
        schemas: list[SchemaMetadata] | None = None,
        tables: list[TableMetadata] | None = None,
        routines: list[RoutineMetadata] | None = None,
        errors: list[ExtractionError] | None = None,
    ) -> ExtractionResult:
        """Assemble a result, deriving its status from what was found and what failed."""
        errors = errors or []
        found = bool(databases or schemas or tables or routines)
        return cls(
            connector_type=connector_type,
            status=extraction_status(found, errors),
            databases=databases or [],
            schemas=schemas or [],
            tables=tables or [],
            routines=routines or [],
            errors=errors,
            started_at=started_at,
            finished_at=utcnow(),
        )

    def summary(self, batches: int = 1) -> ExtractionSummary:
        return ExtractionSummary(
            connector_type=self.connector_type,
            status=self.status,
            counts=self.counts,
            errors=self.errors,
            batches=batches,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )


_CONTAINED = (
    AssetType.DATABASE.value,
    AssetType.SCHEMA.value,
    AssetType.TABLE.value,
    AssetType.VIEW.value,
    AssetType.ROUTINE.value,
)


def _counts(
    databases: Sequence[DatabaseMetadata],
    schemas: Sequence[SchemaMetadata],
    tables: Sequence[TableMetadata],
    routines: Sequence[RoutineMetadata],
) -> dict[str, int]:
    counts = {
        AssetType.DATABASE.value: len(databases),
        AssetType.SCHEMA.value: len(schemas),
        AssetType.TABLE.value: 0,
        AssetType.VIEW.value: 0,
        AssetType.COLUMN.value: 0,
        AssetType.CONSTRAINT.value: 0,
        AssetType.INDEX.value: 0,
        AssetType.ROUTINE.value: len(routines),
    }
    for table in tables:
        counts[table.table_type.asset_type.value] += 1
        counts[AssetType.COLUMN.value] += len(table.columns)
        counts[AssetType.CONSTRAINT.value] += len(table.constraints)
        counts[AssetType.INDEX.value] += len(table.indexes)
    return counts


def extraction_status(found: bool, errors: Sequence[ExtractionError]) -> ExtractionStatus:
    """Failed if the whole source failed, or something failed and nothing was found; partial if a
    scope failed; else success. Warnings count for nothing."""
    has_error = any(e.severity is Severity.ERROR for e in errors)
    whole_source_failed = any(e.severity is Severity.ERROR and not e.scope for e in errors)
    if whole_source_failed or (has_error and not found):
        return ExtractionStatus.FAILED
    if has_error:
        return ExtractionStatus.PARTIAL
    return ExtractionStatus.SUCCESS


def asset_path(database: str, schema_name: str | None, *rest: str) -> tuple[str, ...]:
    return (database, *((schema_name,) if schema_name is not None else ()), *rest)


def qualified_name(path: tuple[str, ...] | list[str]) -> str:
    """A stable, unambiguous name for an asset path: any name may hold dots, quotes or spaces.

    Parts are joined with dots; a part that is not a plain identifier is double-quoted with inner
    quotes doubled, as SQL does, so `a.b` and `"a.b"` never collide.
    """
    return ".".join(_quote(part) for part in path)


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _quote(part: str) -> str:
    # isidentifier() on ASCII is a C-speed subset of _PLAIN (which also allows `$`): every field
    # path and qualified name goes through here.
    if (part.isascii() and part.isidentifier()) or _PLAIN.fullmatch(part):
        return part
    return '"' + part.replace('"', '""') + '"'


def utcnow() -> datetime:
    return datetime.now(UTC)


# Field paths --------------------------------------------------------------------------------------
#
# A nested field is addressed by the names from its top-level column down, joined with dots, each
# quoted as in `qualified_name` when it is not a plain identifier. A repeated (array) field's
# children follow `[]`, a map's children `{}`: `address.city`, `items[].sku`, `tags{}.value`,
# `"a.b"[]."x[]"`. Markers are never inside quotes, so names holding dots or brackets survive.

ARRAY_MARKER = "[]"
MAP_MARKER = "{}"


def child_marker(field: ColumnMetadata) -> str:
    """What separates a field from its children in their paths: `[]`, `{}` or nothing."""
    if field.data_type is DataType.ARRAY:
        return ARRAY_MARKER
    if field.data_type is DataType.MAP:
        return MAP_MARKER
    return ""


def field_path(parent_path: str | None, parent_marker: str, name: str) -> str:
    """The path of field `name` under `parent_path` (None for a top-level column)."""
    if parent_path is None:
        return _quote(name)
    return f"{parent_path}{parent_marker}.{_quote(name)}"


class FieldPathError(ValueError):
    pass


def split_field_path(path: str) -> list[tuple[str, str]]:
    """The (name, marker) steps of a field path, the inverse of `field_path`.

    `items[].sku` -> [("items", "[]"), ("sku", "")]. Raises FieldPathError for a malformed path.
    """
    steps: list[tuple[str, str]] = []
    position, end = 0, len(path)
    while True:
        if position < end and path[position] == '"':
            closing = position + 1
            name_chars = []
            while True:
                quote = path.find('"', closing)
                if quote < 0:
                    raise FieldPathError(f"unterminated quote in field path {path!r}")
                name_chars.append(path[closing:quote])
                if path.startswith('""', quote):
                    name_chars.append('"')
                    closing = quote + 2
                    continue
                position = quote + 1
                break
            name = "".join(name_chars)
        else:
            match = _PLAIN.match(path, position)
            if match is None:
                raise FieldPathError(f"expected a field name at offset {position} of {path!r}")
            name, position = match.group(), match.end()
        marker = ""
        for candidate in (ARRAY_MARKER, MAP_MARKER):
            if path.startswith(candidate, position):
                marker, position = candidate, position + len(candidate)
                break
        steps.append((name, marker))
        if position == end:
            if marker:
                raise FieldPathError(f"field path {path!r} ends with {marker!r} and no child")
            return steps
        if path[position] != ".":
            raise FieldPathError(f"expected '.' at offset {position} of {path!r}")
        position += 1


def iter_fields(
    columns: Sequence[ColumnMetadata],
) -> Iterator[tuple[str, str | None, int, ColumnMetadata]]:
    """Every field under `columns`, depth first in given order: (path, parent path, depth, field).

    Depth is 0 for top-level columns; a field's children come before its next sibling. Raises
    ValueError past MAX_FIELD_DEPTH, which also stops a cycle made by mutating fields after
    validation.
    """
    for column in columns:
        name = column.name
        # _quote inlined for the common plain name: this runs once per column of every sync.
        path = name if name.isascii() and name.isidentifier() else _quote(name)
        yield path, None, 0, column
        if column.children:
            yield from _fields_below(path, column, 1)


def _fields_below(
    path: str, column: ColumnMetadata, depth: int
) -> Iterator[tuple[str, str | None, int, ColumnMetadata]]:
    if depth >= MAX_FIELD_DEPTH:
        raise ValueError(f"field {path} is nested deeper than {MAX_FIELD_DEPTH} levels")
    marker = child_marker(column)
    for child in column.children:
        child_path = field_path(path, marker, child.name)
        yield child_path, path, depth, child
        if child.children:
            yield from _fields_below(child_path, child, depth + 1)


def _height(fields: Sequence[ColumnMetadata]) -> int:
    """Levels of fields below and including `fields` (1 for flat ones)."""
    return 1 + max((_height(f.children) for f in fields if f.children), default=0)


def _check_siblings(parent_path: str | None, siblings: Sequence[ColumnMetadata]) -> None:
    if len({column.name for column in siblings}) == len(siblings):
        return
    seen: set[str] = set()
    for column in siblings:
        if column.name in seen:
            where = f"under {parent_path}" if parent_path else "among siblings"
            raise ValueError(f"duplicate field name {column.name!r} {where}")
        seen.add(column.name)
