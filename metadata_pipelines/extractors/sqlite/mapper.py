"""Turns the rows the reader fetched into models, and scoped errors for what it could not read."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from metadata_pipelines.extractors.sqlite.affinity import affinity, normalize_type
from metadata_pipelines.extractors.sqlite.config import DATABASE
from metadata_pipelines.extractors.sqlite.reader import Relation, Row, Snapshot
from metadata_pipelines.extractors.sqlite.sqltext import index_parts, view_select
from metadata_pipelines.models import (
    AssetType,
    ColumnMetadata,
    ConstraintMetadata,
    ConstraintType,
    DatabaseMetadata,
    ExtractionError,
    IndexMetadata,
    Severity,
    TableMetadata,
    TableType,
    asset_path,
)

_HIDDEN = {1: ("hidden", True), 2: ("generated", "virtual"), 3: ("generated", "stored")}


def _columns(relation: Relation, rows: list[Row]) -> list[ColumnMetadata]:
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
    relation: Relation, message: str, code: str, severity: Severity = Severity.ERROR
) -> ExtractionError:
    return ExtractionError(
        scope=asset_path(DATABASE, None, relation.name),
        asset_type=AssetType.VIEW if relation.kind == "view" else AssetType.TABLE,
        message=message,
        retryable=False,
        severity=severity,
        code=code,
    )


def to_models(
    snapshot: Snapshot,
) -> tuple[DatabaseMetadata, list[TableMetadata], list[ExtractionError]]:
    """The database, its tables and views, and the errors scoped to single relations."""
    database = DatabaseMetadata(
        name=DATABASE,
        updated_at=datetime.fromtimestamp(snapshot.modified_at, UTC),
        properties=snapshot.database_properties,
    )
    columns_by_table = _group(snapshot.column_rows)
    primary_keys = {
        table: [row[2] for row in sorted((r for r in rows if r[6]), key=lambda r: r[6])]
        for table, rows in _group(snapshot.column_rows + snapshot.parent_key_rows).items()
    }
    fks_by_table, indexes_by_table = _group(snapshot.foreign_key_rows), _group(snapshot.index_rows)

    tables: list[TableMetadata] = []
    errors: list[ExtractionError] = []
    for relation in snapshot.relations:
        name = relation.name
        what = "view" if relation.kind == "view" else "table"
        for failures, part in (
            (snapshot.column_failures, "columns"),
            (snapshot.foreign_key_failures, "foreign keys"),
            (snapshot.index_failures, "indexes"),
        ):
            if name in failures:
                errors.append(
                    _scoped(
                        relation,
                        f"could not read the {part} of {what} {name!r}: {failures[name]}",
                        code="invalid_view" if relation.kind == "view" else "unreadable_table",
                    )
                )
        if name in snapshot.row_count_failures:
            errors.append(
                _scoped(
                    relation,
                    f"could not count the rows of {name!r}: {snapshot.row_count_failures[name]}",
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
                row_count=snapshot.row_counts.get(name),
                columns=columns,
                constraints=[*_primary_key(columns), *uniques, *foreign_keys],
                indexes=indexes,
                properties=properties,
            )
        )
    return database, tables, errors
