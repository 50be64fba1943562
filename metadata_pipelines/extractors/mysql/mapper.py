"""Turns the rows of one database's information_schema queries into the shared models.

Pure functions over tuples: no connection, no I/O, so every rule here (type normalization, default
quoting, broken-view detection, key assembly) is testable on its own. Rows arrive in the column order
of queries.py and are unpacked positionally.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from metadata_pipelines.extractors.identifiers import backtick
from metadata_pipelines.extractors.mysql.config import MySQLConfig
from metadata_pipelines.extractors.mysql.queries import Capabilities
from metadata_pipelines.models import (
    AssetType,
    ColumnMetadata,
    ConstraintMetadata,
    ConstraintType,
    DatabaseMetadata,
    DataType,
    ExtractionError,
    IndexMetadata,
    RoutineMetadata,
    RoutineType,
    Severity,
    TableMetadata,
    TableType,
)

Row = tuple[Any, ...]


@dataclass
class DatabaseRows:
    """Everything read for one database, one list per query (queries skipped leave theirs empty)."""

    name: str
    tables: list[Row] = field(default_factory=list)
    columns: list[Row] = field(default_factory=list)
    statistics: list[Row] = field(default_factory=list)
    key_columns: list[Row] = field(default_factory=list)
    referential: list[Row] = field(default_factory=list)
    checks: list[Row] = field(default_factory=list)
    views: list[Row] = field(default_factory=list)
    partitions: list[Row] = field(default_factory=list)
    routines: list[Row] = field(default_factory=list)
    parameters: list[Row] = field(default_factory=list)


@dataclass
class DatabaseExtract:
    tables: list[TableMetadata]
    routines: list[RoutineMetadata]
    errors: list[ExtractionError]


# Types ------------------------------------------------------------------------------------------

_TYPE_FAMILIES: dict[str, DataType] = {
    **dict.fromkeys(
        ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"), DataType.INTEGER
    ),
    **dict.fromkeys(("decimal", "numeric", "dec", "fixed"), DataType.DECIMAL),
    **dict.fromkeys(("float", "double", "real", "double precision"), DataType.FLOAT),
    **dict.fromkeys(
        (
            "char",
            "varchar",
            "tinytext",
            "text",
            "mediumtext",
            "longtext",
            "uuid",
            "inet4",
            "inet6",
        ),
        DataType.STRING,
    ),
    **dict.fromkeys(
        ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), DataType.BINARY
    ),
    "date": DataType.DATE,
    "time": DataType.TIME,
    "datetime": DataType.TIMESTAMP,
    "timestamp": DataType.TIMESTAMP,
    "json": DataType.JSON,
    "enum": DataType.ENUM,
    "set": DataType.SET,
    "bool": DataType.BOOLEAN,
    "boolean": DataType.BOOLEAN,
    **dict.fromkeys(
        (
            "geometry",
            "point",
            "linestring",
            "polygon",
            "multipoint",
            "multilinestring",
            "multipolygon",
            "geometrycollection",
            "geomcollection",
        ),
        DataType.GEOMETRY,
    ),
}


def normalize_type(data_type: str, column_type: str) -> DataType | None:
    """The type family of a column, or None when the type is unknown to this connector.

    `tinyint(1)` and `bit(1)` are booleans (what BOOLEAN is stored as); other widths are numbers.
    """
    base = data_type.lower()
    full = column_type.lower()
    if base == "tinyint" and full.startswith("tinyint(1)"):
        return DataType.BOOLEAN
    if base == "bit":
        return DataType.BOOLEAN if full.startswith("bit(1)") else DataType.BINARY
    return _TYPE_FAMILIES.get(base)


#: Every property key the mapper sets on a column after validation (see _add_columns).
COLUMN_PROPERTY_KEYS = (
    "character_set",
    "collation",
    "auto_increment",
    "generation_expression",
    "generated_stored",
    "on_update",
    "invisible",
)
_ON_UPDATE = re.compile(r"on update (\S+)", re.IGNORECASE)

_NUMERIC = {DataType.INTEGER, DataType.DECIMAL, DataType.FLOAT, DataType.BOOLEAN}
_CURRENT_TIMESTAMP = re.compile(r"current_timestamp(\(\d*\))?", re.IGNORECASE)


def normalize_default(
    raw: str | None, data_type: DataType | None, extra: str, caps: Capabilities
) -> str | None:
    """The column default as SQL text (`'abc'`, `0`, `current_timestamp()`), None when none or NULL.

    MariaDB already reports SQL text and the word NULL for a NULL default; MySQL reports the bare
    value, so string literals are quoted here to make both servers produce the same text.
    """
    if raw is None:
        return None
    if caps.mariadb:
        return None if raw == "NULL" else raw
    if "DEFAULT_GENERATED" in extra.upper() or _CURRENT_TIMESTAMP.fullmatch(raw):
        return raw
    if data_type in _NUMERIC:
        return raw
    return "'" + raw.replace("'", "''") + "'"


# Tables -----------------------------------------------------------------------------------------

_TABLE_TYPES = {
    "BASE TABLE": TableType.TABLE,
    "SYSTEM VERSIONED": TableType.TABLE,
    "VIEW": TableType.VIEW,
    "SYSTEM VIEW": TableType.SYSTEM_VIEW,
}


def build_database(row: Row) -> DatabaseMetadata:  # (name, charset, collation, comment)
    name, charset, collation, comment = row
    return DatabaseMetadata(
        name=name,
        comment=comment or None,
        properties={"default_character_set": charset, "default_collation": collation},
    )


def build_database_contents(
    rows: DatabaseRows, config: MySQLConfig, caps: Capabilities
) -> DatabaseExtract:
    """Assemble the tables (with columns, keys, indexes) and routines of one database."""
    database = rows.name
    errors: list[ExtractionError] = []
    tables: dict[str, TableMetadata] = {}
    for table_row in rows.tables:
        table, error = _table(database, table_row, config)
        if table is not None:
            tables[table.name] = table
        if error is not None:
            errors.append(error)

    _add_columns(database, tables, rows.columns, caps, errors)
    _drop_vanished(database, tables, errors)
    _add_views(tables, rows.views)
    _add_partitions(tables, rows.partitions)
    _add_keys(tables, rows.key_columns, rows.referential)
    _add_checks(tables, rows.checks)
    _add_indexes(tables, rows.statistics)

    routines = (
        _routines(database, rows.routines, rows.parameters) if config.include_routines else []
    )
    ordered = [tables[name] for name in sorted(tables)]
    return DatabaseExtract(tables=ordered, routines=routines, errors=errors)


def _table(
    database: str, row: Row, config: MySQLConfig
) -> tuple[TableMetadata | None, ExtractionError | None]:
    (
        name,
        native_type,
        engine,
        row_format,
        collation,
        create_options,
        comment,
        created,
        rows,
        avg_row_length,
        data_length,
        index_length,
        data_free,
        auto_increment,
        updated,
    ) = row
    table_type = _TABLE_TYPES.get(native_type, TableType.OTHER)
    if table_type is TableType.VIEW and not config.include_views:
        return None, None
    if not config.wants_table(database, name):
        return None, None

    error = None
    if table_type is TableType.VIEW:
        # A view's TABLE_COMMENT is always 'VIEW'; anything else is the server's error text for a
        # view it cannot open (a dropped base table, a lost privilege): warning 1356.
        if comment not in (None, "", "VIEW"):
            error = _scoped_error(
                (database, name),
                AssetType.VIEW,
                comment,
                "broken_view",
                "its columns were not read",
            )
        comment = None
    elif engine is None and table_type is TableType.TABLE and comment:
        # A base table without an engine could not be opened (missing engine, corrupt definition).
        error = _scoped_error(
            (database, name), AssetType.TABLE, comment, "unreadable_table", "not fully read"
        )
        comment = None

    properties: dict[str, Any] = {
        "engine": engine,
        "row_format": row_format,
        "collation": collation,
        "create_options": create_options or None,
    }
    if config.include_statistics and table_type is not TableType.VIEW:
        properties.update(
            auto_increment=auto_increment,
            data_length=data_length,
            index_length=index_length,
            data_free=data_free,
            avg_row_length=avg_row_length,
        )
    size = None
    if data_length is not None or index_length is not None:
        size = (data_length or 0) + (index_length or 0)
    table = TableMetadata(
        database=database,
        name=name,
        table_type=table_type,
        native_type=native_type,
        comment=comment or None,
        row_count=rows if table_type is not TableType.VIEW else None,
        size_bytes=size if table_type is not TableType.VIEW else None,
        created_at=_utc(created),
        updated_at=_utc(updated),
        properties={k: v for k, v in properties.items() if v is not None},
    )
    return table, error


def _scoped_error(
    scope: tuple[str, ...], asset_type: AssetType, server_text: str, code: str, consequence: str
) -> ExtractionError:
    what = "view" if asset_type is AssetType.VIEW else "table"
    return ExtractionError(
        scope=scope,
        asset_type=asset_type,
        message=f"{what} {'.'.join(scope)} could not be opened, {consequence}: {server_text}",
        retryable=False,
        severity=Severity.ERROR,
        code=code,
    )


def _add_columns(
    database: str,
    tables: dict[str, TableMetadata],
    rows: list[Row],
    caps: Capabilities,
    errors: list[ExtractionError],
) -> None:
    per_table: dict[str, list[ColumnMetadata]] = defaultdict(list)
    types: dict[tuple[str, str], DataType | None] = {}
    for (
        table_name,
        name,
        ordinal,
        raw_default,
        is_nullable,
        data_type,
        column_type,
        charset,
        collation,
        extra,
        comment,
        generation,
    ) in rows:
        if table_name not in tables:
            continue
        key = (data_type, column_type)
        if key in types:
            family = types[key]
        else:
            family = types[key] = normalize_type(data_type, column_type)
        if family is None:
            errors.append(
                ExtractionError(
                    scope=(database, table_name, name),
                    asset_type=AssetType.COLUMN,
                    message=f"column {database}.{table_name}.{name} has type {column_type!r}, "
                    "unknown to the connector; kept as its raw type",
                    severity=Severity.WARNING,
                    code="unknown_type",
                )
            )
        column = ColumnMetadata(
            name=name,
            ordinal=ordinal,
            native_type=column_type,
            data_type=family or DataType.UNKNOWN,
            nullable=is_nullable == "YES",
            default=None if generation else normalize_default(raw_default, family, extra, caps),
            comment=comment or None,
        )
        # Set after validation: these keys are fixed names (COLUMN_PROPERTY_KEYS), so the
        # models' secret-key redaction has nothing to do here, and skipping it halves the cost of
        # building 40,000 columns. test_mysql_mapper checks the keys against that redaction.
        properties = column.properties
        if charset is not None:
            properties["character_set"] = charset
        if collation is not None:
            properties["collation"] = collation
        if extra:
            upper_extra = extra.upper()
            if "AUTO_INCREMENT" in upper_extra:
                properties["auto_increment"] = True
            if generation:
                properties["generation_expression"] = generation
                properties["generated_stored"] = (
                    "STORED" in upper_extra or "PERSISTENT" in upper_extra
                )
            if "ON UPDATE" in upper_extra:
                on_update = _ON_UPDATE.search(extra)
                if on_update:
                    properties["on_update"] = on_update.group(1)
            if "INVISIBLE" in upper_extra:
                properties["invisible"] = True
        per_table[table_name].append(column)
    for table_name, columns in per_table.items():
        columns.sort(key=lambda c: c.ordinal)
        tables[table_name].columns = columns


def _drop_vanished(
    database: str, tables: dict[str, TableMetadata], errors: list[ExtractionError]
) -> None:
    """Leave out, with an error that keeps it as the catalog has it, a listed table that came back
    without a single column: MariaDB and MySQL tables and views always have one, so it was dropped
    or its privilege revoked between the listing and the read (a large database is read in parts,
    so that window is the length of its read). Stored without columns it would lose them all."""
    flagged = {error.scope[1] for error in errors if len(error.scope) == 2}
    for name in [n for n, table in tables.items() if not table.columns and n not in flagged]:
        del tables[name]
        errors.append(
            ExtractionError(
                scope=(database, name),
                asset_type=AssetType.TABLE,
                message=f"{database}.{name} was listed but none of its columns could be read "
                "(dropped, or a privilege revoked, while the sync ran); kept as it was",
                retryable=True,
                severity=Severity.ERROR,
                code="table_vanished",
            )
        )


def _add_views(tables: dict[str, TableMetadata], rows: list[Row]) -> None:
    for name, definition, check_option, updatable, definer, security in rows:
        table = tables.get(name)
        if table is None:
            continue
        table.view_definition = definition
        table.properties.update(
            check_option=check_option,
            is_updatable=updatable == "YES",
            definer=definer,
            security_type=security,
        )


def _add_partitions(tables: dict[str, TableMetadata], rows: list[Row]) -> None:
    per_table: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row[0] in tables:
            per_table[row[0]].append(row)
    for name, parts in per_table.items():
        parts.sort(key=lambda r: (r[3] or 0, r[4] or 0))
        first = parts[0]
        properties = tables[name].properties
        properties["partition_method"] = first[5]
        properties["partition_expression"] = first[7]
        properties["partition_names"] = list(dict.fromkeys(r[1] for r in parts))
        if first[6]:
            properties["subpartition_method"] = first[6]
            properties["subpartition_expression"] = first[8]
            properties["subpartition_names"] = [r[2] for r in parts if r[2] is not None]
        properties["partition_descriptions"] = [r[9] for r in parts if r[2] is None or r[4] == 1]


def _add_keys(
    tables: dict[str, TableMetadata], key_rows: list[Row], referential: list[Row]
) -> None:
    rules = {(table, name): (upd, dele, match) for table, name, upd, dele, match in referential}
    grouped: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in key_rows:
        if row[0] in tables:
            grouped[(row[0], row[1])].append(row)
    per_table: dict[str, list[ConstraintMetadata]] = defaultdict(list)
    for (table_name, name), parts in grouped.items():
        parts.sort(key=lambda r: r[3])
        columns = [r[2] for r in parts]
        if parts[0][5] is not None:
            on_update, on_delete, _ = rules.get((table_name, name), (None, None, None))
            constraint = ConstraintMetadata(
                name=name,
                constraint_type=ConstraintType.FOREIGN_KEY,
                columns=columns,
                referenced_database=parts[0][4],
                referenced_table=parts[0][5],
                referenced_columns=[r[6] for r in parts],
                on_delete=on_delete,
                on_update=on_update,
            )
        elif name == "PRIMARY":
            constraint = ConstraintMetadata(
                name=name, constraint_type=ConstraintType.PRIMARY_KEY, columns=columns
            )
            key = set(columns)
            for column in tables[table_name].columns:
                if column.name in key:
                    column.is_primary_key = True
        else:
            constraint = ConstraintMetadata(
                name=name, constraint_type=ConstraintType.UNIQUE, columns=columns
            )
        per_table[table_name].append(constraint)
    for table_name, constraints in per_table.items():
        tables[table_name].constraints.extend(constraints)
        tables[table_name].constraints.sort(key=_constraint_order)


_TYPE_ORDER = {
    ConstraintType.PRIMARY_KEY: 0,
    ConstraintType.UNIQUE: 1,
    ConstraintType.FOREIGN_KEY: 2,
    ConstraintType.CHECK: 3,
}


def _constraint_order(constraint: ConstraintMetadata) -> tuple[int, str]:
    return _TYPE_ORDER[constraint.constraint_type], constraint.name or ""


def _add_checks(tables: dict[str, TableMetadata], rows: list[Row]) -> None:
    for table_name, name, clause in rows:
        table = tables.get(table_name)
        if table is None:
            continue
        table.constraints.append(
            ConstraintMetadata(name=name, constraint_type=ConstraintType.CHECK, expression=clause)
        )
        table.constraints.sort(key=_constraint_order)
        # MariaDB's JSON is LONGTEXT plus an automatic column CHECK named after the column.
        for column in table.columns:
            if column.name == name and clause == f"json_valid({backtick(name)})":
                column.data_type = DataType.JSON


def _add_indexes(tables: dict[str, TableMetadata], rows: list[Row]) -> None:
    grouped: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row[0] in tables:
            grouped[(row[0], row[1])].append(row)
    per_table: dict[str, list[IndexMetadata]] = defaultdict(list)
    for (table_name, name), parts in grouped.items():
        parts.sort(key=lambda r: r[3])
        first = parts[0]
        properties: dict[str, Any] = {"index_type": first[8]}
        if first[9]:
            properties["comment"] = first[9]
        if any(r[6] is not None for r in parts):
            properties["prefix_lengths"] = [r[6] for r in parts]
        if any(r[7] == "D" for r in parts):
            properties["descending"] = [r[7] == "D" for r in parts]
        if first[10] is not None:
            # MySQL: IS_VISIBLE; MariaDB: NOT IGNORED (queries.py turns both into YES / NO).
            properties["visible"] = first[10] == "YES"
        per_table[table_name].append(
            IndexMetadata(
                name=name,
                columns=[r[4] if r[4] is not None else f"({r[5]})" for r in parts],
                unique=not int(first[2]),
                kind=(first[8] or "").upper() or None,
                properties=properties,
            )
        )
    for table_name, indexes in per_table.items():
        indexes.sort(key=lambda i: i.name)
        tables[table_name].indexes = indexes


# Routines ---------------------------------------------------------------------------------------


def _routines(database: str, rows: list[Row], parameter_rows: list[Row]) -> list[RoutineMetadata]:
    parameters: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in parameter_rows:
        parameters[(row[0], row[1])].append(row)
    routines = []
    for (
        name,
        routine_type,
        return_type,
        body,
        definition,
        deterministic,
        data_access,
        security,
        definer,
        comment,
        created,
        altered,
        specific_name,
    ) in rows:
        params = sorted(parameters.get((specific_name, routine_type), []), key=lambda r: r[2])
        routines.append(
            RoutineMetadata(
                database=database,
                name=name,
                routine_type=RoutineType(routine_type.lower()),
                return_type=return_type if routine_type == "FUNCTION" else None,
                language=body,
                definition=definition,
                comment=comment or None,
                created_at=_utc(created),
                updated_at=_utc(altered),
                properties={
                    "deterministic": deterministic == "YES",
                    "sql_data_access": data_access,
                    "security_type": security,
                    "definer": definer,
                    "parameters": [{"name": p[4], "mode": p[3], "type": p[5]} for p in params],
                },
            )
        )
    routines.sort(key=lambda r: (r.name, r.routine_type.value))
    return routines


def _utc(value: datetime | None) -> datetime | None:
    """information_schema times are in the session time zone, which the extractor sets to UTC."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else None
