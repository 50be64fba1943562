"""Pydantic models for extracted metadata: the contract between extractors and the catalog.

Extractors return flat lists (databases, schemas, tables, routines) rather than a nested tree: SQL
sources answer metadata queries per kind, not per parent, so flat lists are what they can build in bulk,
and what the catalog persists in bulk. Every object names its position with `database` / `schema_name`;
two-level sources (MySQL, SQLite) leave `schema_name` empty.

These models never carry credentials: unknown fields are rejected, and free-form properties whose keys
look like secrets have their values redacted on construction.
"""

from __future__ import annotations

import re
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

JsonScalar = str | int | float | bool | None
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
    """What kind of relation a table is; the source's own word for it is kept in `native_type`."""

    TABLE = "table"
    VIEW = "view"
    MATERIALIZED_VIEW = "materialized_view"
    STREAMING_TABLE = "streaming_table"
    EXTERNAL_TABLE = "external_table"
    SYSTEM_VIEW = "system_view"
    OTHER = "other"

    @property
    def asset_type(self) -> AssetType:
        return AssetType.VIEW if self in _VIEW_LIKE else AssetType.TABLE


_VIEW_LIKE = {TableType.VIEW, TableType.MATERIALIZED_VIEW, TableType.SYSTEM_VIEW}


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


class RoutineType(StrEnum):
    PROCEDURE = "procedure"
    FUNCTION = "function"


class DatabaseMetadata(_WithProperties):
    """A database (MySQL, SQLite) or catalog (Unity Catalog): the top level of a source."""

    name: str
    comment: str | None = None
    owner: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class SchemaMetadata(_WithProperties):
    database: str
    name: str
    comment: str | None = None
    owner: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ColumnMetadata(_WithProperties):
    name: str
    ordinal: Annotated[int, Field(ge=1)]
    native_type: str
    data_type: DataType = DataType.UNKNOWN
    nullable: bool = True
    default: str | None = None
    is_primary_key: bool = False
    comment: str | None = None


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

    @property
    def path(self) -> tuple[str, ...]:
        return asset_path(self.database, self.schema_name, self.name)


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
        counts = {
            AssetType.DATABASE.value: len(self.databases),
            AssetType.SCHEMA.value: len(self.schemas),
            AssetType.TABLE.value: 0,
            AssetType.VIEW.value: 0,
            AssetType.COLUMN.value: 0,
            AssetType.CONSTRAINT.value: 0,
            AssetType.INDEX.value: 0,
            AssetType.ROUTINE.value: len(self.routines),
        }
        for table in self.tables:
            counts[table.table_type.asset_type.value] += 1
            counts[AssetType.COLUMN.value] += len(table.columns)
            counts[AssetType.CONSTRAINT.value] += len(table.constraints)
            counts[AssetType.INDEX.value] += len(table.indexes)
        return counts

    @property
    def failed_scopes(self) -> list[tuple[str, ...]]:
        return [e.scope for e in self.errors if e.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[ExtractionError]:
        return [e for e in self.errors if e.severity is Severity.WARNING]

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
        has_error = any(e.severity is Severity.ERROR for e in errors)
        whole_source_failed = any(e.severity is Severity.ERROR and not e.scope for e in errors)
        if whole_source_failed or (has_error and not found):
            status = ExtractionStatus.FAILED
        elif has_error:
            status = ExtractionStatus.PARTIAL
        else:
            status = ExtractionStatus.SUCCESS
        return cls(
            connector_type=connector_type,
            status=status,
            databases=databases or [],
            schemas=schemas or [],
            tables=tables or [],
            routines=routines or [],
            errors=errors,
            started_at=started_at,
            finished_at=utcnow(),
        )


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
    return part if _PLAIN.fullmatch(part) else '"' + part.replace('"', '""') + '"'


def utcnow() -> datetime:
    return datetime.now(UTC)
