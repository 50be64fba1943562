"""Turns the rows of one database's pg_catalog queries into the shared models.

Pure functions over tuples: no connection, no I/O, so every rule here (type families, composite
members as nested fields, partition trees, key assembly) is testable on its own. Rows arrive in the
column order of queries.py and are unpacked positionally.

`select_relations` decides, from the relations query alone, which relations become tables (patterns,
views, sequences, partitions folded into their parent or not), so the later queries ask only for
those. `DatabaseContents` then builds the models, a slice of tables at a time, so a database of a
hundred thousand tables is handed over in batches rather than held whole as models.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from metadata_pipelines.extractors.postgresql.config import PostgreSQLConfig
from metadata_pipelines.extractors.postgresql.queries import FIRST_NORMAL_OID, Capabilities
from metadata_pipelines.models import (
    MAX_FIELD_DEPTH,
    ColumnMetadata,
    ConstraintMetadata,
    ConstraintType,
    DatabaseMetadata,
    DataType,
    ExtractionBatch,
    ExtractionError,
    IndexMetadata,
    RoutineMetadata,
    RoutineType,
    SchemaMetadata,
    TableMetadata,
    TableType,
)

Row = tuple[Any, ...]


# Databases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedDatabase:
    """A database from `pg_database`, and whether this role may connect to it."""

    metadata: DatabaseMetadata
    may_connect: bool
    allows_connections: bool


def listed_database(row: Row) -> ListedDatabase:
    (
        name,
        owner,
        encoding,
        collation,
        ctype,
        provider,
        allow_connections,
        connection_limit,
        comment,
        may_connect,
    ) = row
    properties: dict[str, Any] = {"encoding": encoding, "collation": collation, "ctype": ctype}
    if provider is not None:
        properties["locale_provider"] = {"c": "libc", "i": "icu", "b": "builtin"}.get(
            provider, provider
        )
    if connection_limit is not None and connection_limit >= 0:
        properties["connection_limit"] = connection_limit
    if not allow_connections:
        properties["allow_connections"] = False
    metadata = DatabaseMetadata(
        name=name, owner=owner, comment=comment or None, properties=properties
    )
    return ListedDatabase(metadata, bool(may_connect), bool(allow_connections))


# Types ------------------------------------------------------------------------------------------

_FAMILY_BY_NAME: dict[str, DataType] = {
    "bool": DataType.BOOLEAN,
    **dict.fromkeys(("int2", "int4", "int8", "oid"), DataType.INTEGER),
    **dict.fromkeys(("numeric", "money"), DataType.DECIMAL),
    **dict.fromkeys(("float4", "float8"), DataType.FLOAT),
    **dict.fromkeys(
        (
            "text",
            "varchar",
            "bpchar",
            "char",
            "name",
            "citext",
            "uuid",
            "xml",
            "inet",
            "cidr",
            "macaddr",
            "macaddr8",
            "tsvector",
            "tsquery",
            "jsonpath",
            "pg_lsn",
        ),
        DataType.STRING,
    ),
    **dict.fromkeys(("bytea", "bit", "varbit"), DataType.BINARY),
    "date": DataType.DATE,
    **dict.fromkeys(("time", "timetz"), DataType.TIME),
    **dict.fromkeys(("timestamp", "timestamptz"), DataType.TIMESTAMP),
    "interval": DataType.INTERVAL,
    **dict.fromkeys(("json", "jsonb"), DataType.JSON),
    **dict.fromkeys(
        (
            "point",
            "line",
            "lseg",
            "box",
            "path",
            "polygon",
            "circle",
            "geometry",
            "geography",
            "box2d",
            "box3d",
        ),
        DataType.GEOMETRY,
    ),
    "hstore": DataType.MAP,
}
#: pg_type.typcategory, for types not named above (extension and user-defined base types).
_FAMILY_BY_CATEGORY: dict[str, DataType] = {
    "B": DataType.BOOLEAN,
    "N": DataType.DECIMAL,
    "S": DataType.STRING,
    "D": DataType.TIMESTAMP,
    "T": DataType.INTERVAL,
    "G": DataType.GEOMETRY,
    "I": DataType.STRING,
    "V": DataType.BINARY,
    "E": DataType.ENUM,
    "C": DataType.STRUCT,
    "A": DataType.ARRAY,
}


def type_family(typname: str, category: str) -> DataType:
    """The family of a type by its name, else its category; UNKNOWN for ranges and the like (the
    exact type is always in the column's native_type)."""
    return _FAMILY_BY_NAME.get(typname) or _FAMILY_BY_CATEGORY.get(category, DataType.UNKNOWN)


@dataclass(frozen=True)
class TypeFacts:
    """What a column learns from its type: family, nested members, and type properties."""

    family: DataType
    children: tuple[ColumnMetadata, ...] = ()
    properties: tuple[tuple[str, Any], ...] = ()


_UNKNOWN = TypeFacts(DataType.UNKNOWN)


class TypeResolver:
    """Resolves user-defined types (the TYPES query's rows) into families and nested fields.

    Domains take their base type's family and members; enums carry their labels; composite types
    become STRUCTs whose attributes are children; arrays are ARRAYs whose children are their
    element's members. Results are cached per type: a composite used by a thousand columns is
    built once (its member models are shared, and never mutated after mapping).
    """

    def __init__(self, rows: list[Row]) -> None:
        self._rows = {row[0]: row for row in rows}
        self._cache: dict[int, TypeFacts] = {}

    def column_type(self, oid: int, typname: str, category: str, element: str | None) -> TypeFacts:
        cached = self._cache.get(oid)
        if cached is not None:
            return cached
        if oid >= FIRST_NORMAL_OID:
            return self.resolve(oid, 0)
        facts = TypeFacts(DataType.ARRAY if category == "A" else type_family(typname, category))
        self._cache[oid] = facts
        return facts

    def resolve(self, oid: int, depth: int) -> TypeFacts:
        cached = self._cache.get(oid)
        if cached is not None:
            return cached
        row = self._rows.get(oid)
        if row is None or depth >= MAX_FIELD_DEPTH - 1:
            return _UNKNOWN
        facts = self._facts(row, depth)
        self._cache[oid] = facts
        return facts

    def _facts(self, row: Row, depth: int) -> TypeFacts:
        (
            oid,
            schema,
            typname,
            typtype,
            category,
            element,
            base,
            base_format,
            not_null,
            _default,
            labels,
            checks,
            attributes,
            _comment,
        ) = row
        if typtype == "d":
            base_facts = self.resolve(base, depth) if base >= FIRST_NORMAL_OID else None
            if base_facts is None:
                base_row = self._rows.get(base)
                base_facts = (
                    TypeFacts(type_family(base_row[2], base_row[4])) if base_row else _UNKNOWN
                )
            properties = dict(base_facts.properties)
            properties.update(domain=f"{schema}.{typname}", domain_base_type=base_format)
            if checks:
                properties["domain_constraints"] = list(checks)
            if not_null:
                properties["domain_not_null"] = True
            return TypeFacts(base_facts.family, base_facts.children, tuple(properties.items()))
        if typtype == "e":
            return TypeFacts(DataType.ENUM, (), (("enum_labels", list(labels or ())),))
        if typtype == "c":
            return TypeFacts(DataType.STRUCT, self._members(attributes or [], depth))
        if typtype == "b" and category == "A":
            if element >= FIRST_NORMAL_OID:
                inner = self.resolve(element, depth)
                return TypeFacts(DataType.ARRAY, inner.children, inner.properties)
            return TypeFacts(DataType.ARRAY)
        if oid < FIRST_NORMAL_OID and category == "A":
            return TypeFacts(DataType.ARRAY)
        return TypeFacts(type_family(typname, category))

    def _members(self, attributes: list[list[Any]], depth: int) -> tuple[ColumnMetadata, ...]:
        members = []
        for ordinal, (name, native_type, type_oid, collation, comment) in enumerate(attributes, 1):
            type_row = self._rows.get(type_oid)
            if type_oid >= FIRST_NORMAL_OID:
                facts = self.resolve(type_oid, depth + 1)
            elif type_row is not None:
                facts = TypeFacts(
                    DataType.ARRAY if type_row[4] == "A" else type_family(type_row[2], type_row[4])
                )
            else:
                facts = _UNKNOWN
            member = ColumnMetadata(
                name=name,
                ordinal=ordinal,
                native_type=native_type,
                data_type=facts.family,
                comment=comment or None,
                **({"children": facts.children} if facts.children else {}),
            )
            member.properties.update(facts.properties)
            if collation is not None:
                member.properties["collation"] = collation
            members.append(member)
        return tuple(members)


# Relations in scope -----------------------------------------------------------------------------

_TABLE_TYPES = {
    "r": (TableType.TABLE, "table"),
    "p": (TableType.TABLE, "partitioned table"),
    "v": (TableType.VIEW, "view"),
    "m": (TableType.MATERIALIZED_VIEW, "materialized view"),
    "f": (TableType.FOREIGN_TABLE, "foreign table"),
    "S": (TableType.OTHER, "sequence"),
}
_PERSISTENCE = {"p": "permanent", "u": "unlogged", "t": "temporary"}


@dataclass
class RelationSelection:
    """The relations of one database that become tables, and what the later queries need."""

    schemas: dict[int, str]
    relations: dict[int, Row]
    tables: list[int]

    @property
    def with_columns(self) -> list[int]:
        return [oid for oid in self.tables if self.relations[oid][3] != "S"]

    @property
    def with_keys(self) -> list[int]:
        return [oid for oid in self.tables if self.relations[oid][3] in ("r", "p", "f")]

    @property
    def with_indexes(self) -> list[int]:
        return [oid for oid in self.tables if self.relations[oid][3] in ("r", "p", "m")]

    @property
    def views(self) -> list[int]:
        return [oid for oid in self.tables if self.relations[oid][3] in ("v", "m")]


def select_relations(
    database: str, schemas: dict[int, str], rows: list[Row], config: PostgreSQLConfig
) -> RelationSelection:
    relations = {row[0]: row for row in rows}
    tables = []
    for oid, row in relations.items():
        kind, is_partition = row[3], row[5]
        if kind in ("v", "m") and not config.include_views:
            continue
        if kind == "S" and (not config.include_sequences or row[31] is not None):
            continue  # a sequence owned by a column (serial, identity) is that column's detail
        if is_partition and not config.include_partitions:
            continue  # folded into its parent's `partitions`
        if config.wants_table(database, schemas[row[1]], row[2]):
            tables.append(oid)
    tables.sort(key=lambda oid: (schemas[relations[oid][1]], relations[oid][2]))
    return RelationSelection(schemas, relations, tables)


# Building models --------------------------------------------------------------------------------


@dataclass
class DatabaseRows:
    """Everything read for one database, one list per query (queries skipped leave theirs empty)."""

    listed: ListedDatabase
    size_bytes: int | None = None
    block_size: int = 8192
    schemas: list[Row] = field(default_factory=list)
    selection: RelationSelection | None = None
    view_definitions: list[Row] = field(default_factory=list)
    columns: list[Row] = field(default_factory=list)
    types: list[Row] = field(default_factory=list)
    constraints: list[Row] = field(default_factory=list)
    indexes: list[Row] = field(default_factory=list)
    routines: list[Row] = field(default_factory=list)


class DatabaseContents:
    """Builds one database's models from its rows, `batch_tables` tables per batch.

    Rows are grouped by relation once; each batch then builds only its own tables' models, so the
    models of a huge database never all exist at once (the consumer persists and drops each batch).
    """

    def __init__(self, rows: DatabaseRows, config: PostgreSQLConfig, caps: Capabilities) -> None:
        self.rows = rows
        self.config = config
        self.caps = caps
        self.name = rows.listed.metadata.name
        self.selection = rows.selection or RelationSelection({}, {}, [])
        self.types = TypeResolver(rows.types)
        self._columns = _group(rows.columns)
        self._constraints = _group(rows.constraints)
        self._indexes = _group(rows.indexes)
        self._definitions = {oid: text for oid, text in rows.view_definitions}
        self._children: dict[int, list[int]] = defaultdict(list)
        for oid, row in self.selection.relations.items():
            if row[5] and row[19]:
                self._children[row[19][0]].append(oid)

    def batches(self, errors: list[ExtractionError]) -> Iterator[ExtractionBatch]:
        """The database, its schemas and routines with the first tables, then the rest in slices."""
        database = self.rows.listed.metadata.model_copy(deep=True)
        if self.rows.size_bytes is not None:
            database.properties["size_bytes"] = self.rows.size_bytes
        tables = self.selection.tables
        size = self.config.batch_tables
        first = ExtractionBatch(
            databases=[database],
            schemas=self._schemas(),
            routines=self._routines(),
            tables=self._tables(tables[:size]),
            errors=errors,
        )
        yield first
        for start in range(size, len(tables), size):
            yield ExtractionBatch(tables=self._tables(tables[start : start + size]))

    def _schemas(self) -> list[SchemaMetadata]:
        return [
            SchemaMetadata(database=self.name, name=name, owner=owner, comment=comment or None)
            for _oid, name, owner, comment in sorted(self.rows.schemas, key=lambda r: r[1])
        ]

    def _tables(self, oids: list[int]) -> list[TableMetadata]:
        return [self._table(oid) for oid in oids]

    def _table(self, oid: int) -> TableMetadata:
        row = self.selection.relations[oid]
        (
            _oid,
            schema_oid,
            name,
            kind,
            persistence,
            is_partition,
            owner,
            comment,
            _reltuples,
            _pages,
            _toast_pages,
            row_security,
            force_row_security,
            populated,
            access_method,
            tablespace,
            options,
            partition_key,
            partition_bound,
            parents,
            _index_pages,
            foreign_server,
            foreign_wrapper,
            foreign_options,
        ) = row[:24]
        table_type, native_type = _TABLE_TYPES[kind]
        properties: dict[str, Any] = {}
        if kind in ("r", "p", "m"):
            properties["persistence"] = _PERSISTENCE.get(persistence, persistence)
        if kind in ("r", "p"):
            properties["row_level_security"] = bool(row_security)
            if force_row_security:
                properties["force_row_level_security"] = True
        if access_method:
            properties["access_method"] = access_method
        if tablespace:
            properties["tablespace"] = tablespace
        if options:
            properties["options"] = list(options)
        if kind == "m":
            properties["populated"] = bool(populated)
        if partition_key:
            properties["partition_key"] = partition_key
            properties["partitions"] = self._partition_tree(oid)
        if is_partition:
            parent = self.selection.relations.get(parents[0])
            if parent is not None:
                properties["partition_of"] = self._qualified(parent)
            properties["partition_bound"] = partition_bound
        elif parents:
            properties["inherits"] = [
                self._qualified(self.selection.relations[p])
                for p in parents
                if p in self.selection.relations
            ]
        if kind == "f":
            properties.update(
                foreign_server=foreign_server,
                foreign_data_wrapper=foreign_wrapper,
                foreign_options=_options(foreign_options),
            )
        if kind == "S":
            properties.update(self._sequence(row))

        row_count = size = None
        if self.config.include_statistics and kind in ("r", "p", "m"):
            row_count, table_pages, idx_pages = self._volume(oid)
            block = self.rows.block_size
            size = (table_pages + idx_pages) * block
            properties.update(table_size_bytes=table_pages * block)
            properties["indexes_size_bytes"] = idx_pages * block
            properties.update(self._activity(oid))

        table = TableMetadata(
            database=self.name,
            schema_name=self.selection.schemas[schema_oid],
            name=name,
            table_type=table_type,
            native_type=native_type,
            comment=comment or None,
            owner=owner,
            view_definition=_definition(self._definitions.get(oid)),
            row_count=row_count,
            size_bytes=size,
            properties=properties,
        )
        table.columns = self._columns_of(oid)
        table.constraints = self._constraints_of(oid, table.columns)
        table.indexes = self._indexes_of(oid)
        return table

    def _qualified(self, row: Row) -> str:
        return f"{self.selection.schemas.get(row[1], '?')}.{row[2]}"

    def _sequence(self, row: Row) -> dict[str, Any]:
        data_type, start, increment, minimum, maximum, cache, cycle = row[24:31]
        properties = {
            "data_type": data_type,
            "start": start,
            "increment": increment,
            "minimum": minimum,
            "maximum": maximum,
            "cache": cache,
            "cycle": bool(cycle),
        }
        return properties

    def _volume(self, oid: int) -> tuple[int | None, int, int]:
        """Estimated rows, table pages and index pages; a partitioned table sums its leaves."""
        row = self.selection.relations[oid]
        if row[3] != "p":
            return self._estimate(row[8], row[9]), row[9] + row[10], row[20] or 0
        total_rows: int | None = None
        table_pages = index_pages = 0
        for leaf in self._leaves(oid):
            leaf_row = self.selection.relations[leaf]
            estimate = self._estimate(leaf_row[8], leaf_row[9])
            if estimate is not None:
                total_rows = (total_rows or 0) + estimate
            table_pages += leaf_row[9] + leaf_row[10]
            index_pages += leaf_row[20] or 0
        if total_rows is None:
            total_rows = self._estimate(row[8], 1)
        return total_rows, table_pages, index_pages

    def _estimate(self, reltuples: float, pages: int) -> int | None:
        """`reltuples` as a row count: -1 (14+) means never vacuumed or analysed: unknown."""
        if reltuples is None or reltuples < 0:
            return None
        if not self.caps.reltuples_unknown_is_negative and reltuples == 0 and pages == 0:
            return None  # before 14, an unanalysed table reads 0 rows in 0 pages
        return int(reltuples)

    def _leaves(self, oid: int) -> Iterator[int]:
        for child in self._children.get(oid, ()):
            if self.selection.relations[child][3] == "p":
                yield from self._leaves(child)
            else:
                yield child

    def _partition_tree(self, oid: int) -> list[dict[str, Any]]:
        """Every partition below a partitioned table, depth first, each with its bound."""
        tree: list[dict[str, Any]] = []
        parent_name = self._qualified(self.selection.relations[oid])

        def walk(parent: int, parent_qualified: str, level: int) -> None:
            children = sorted(
                self._children.get(parent, ()),
                key=lambda c: (
                    self.selection.relations[c][18] == "DEFAULT",
                    self._qualified(self.selection.relations[c]),
                ),
            )
            for child in children:
                child_row = self.selection.relations[child]
                qualified = self._qualified(child_row)
                entry: dict[str, Any] = {"name": qualified, "bound": child_row[18]}
                if level > 1:
                    entry["parent"] = parent_qualified
                if child_row[17]:
                    entry["partition_key"] = child_row[17]
                tree.append(entry)
                walk(child, qualified, level + 1)

        walk(oid, parent_name, 1)
        return tree

    def _activity(self, oid: int) -> dict[str, Any]:
        seq_scan, idx_scan, vacuum, autovacuum, analyze, autoanalyze = self.selection.relations[
            oid
        ][32:38]
        activity: dict[str, Any] = {"seq_scan": seq_scan, "idx_scan": idx_scan}
        for key, value in (
            ("last_vacuum", vacuum),
            ("last_autovacuum", autovacuum),
            ("last_analyze", analyze),
            ("last_autoanalyze", autoanalyze),
        ):
            if value is not None:
                activity[key] = _iso(value)
        return activity

    def _columns_of(self, oid: int) -> list[ColumnMetadata]:
        columns = []
        for (
            _relid,
            ordinal,
            name,
            native_type,
            not_null,
            default,
            identity,
            generated,
            collation,
            comment,
            type_oid,
            typname,
            category,
            element,
        ) in sorted(self._columns.get(oid, ()), key=lambda r: r[1]):
            facts = self.types.column_type(type_oid, typname, category, element)
            domain_not_null = any(k == "domain_not_null" for k, _ in facts.properties)
            column = ColumnMetadata(
                name=name,
                ordinal=ordinal,
                native_type=native_type,
                data_type=facts.family,
                nullable=not (not_null or domain_not_null),
                default=None if generated else default,
                comment=comment or None,
                # Only when there are any: the tree check runs for every column given children,
                # and was a third of the mapping's CPU time when given an empty tuple.
                **({"children": facts.children} if facts.children else {}),
            )
            # Set after validation: fixed keys (COLUMN_PROPERTY_KEYS and the type's), so the
            # models' secret-key redaction has nothing to do; test_postgresql_mapper checks them.
            properties = column.properties
            if facts.properties:
                properties.update(facts.properties)
            if identity:
                properties["identity"] = "always" if identity == "a" else "by default"
            if generated:
                properties["generation_expression"] = default
                properties["generated"] = "stored" if generated == "s" else "virtual"
            if collation is not None:
                properties["collation"] = collation
            columns.append(column)
        return columns

    def _constraints_of(self, oid: int, columns: list[ColumnMetadata]) -> list[ConstraintMetadata]:
        constraints = []
        for (
            _relid,
            name,
            kind,
            keys,
            ref_schema,
            ref_table,
            ref_keys,
            on_update,
            on_delete,
            definition,
        ) in self._constraints.get(oid, ()):
            constraint_type = _CONSTRAINT_TYPES[kind]
            if constraint_type is ConstraintType.FOREIGN_KEY:
                constraints.append(
                    ConstraintMetadata(
                        name=name,
                        constraint_type=constraint_type,
                        columns=list(keys),
                        referenced_database=self.name,
                        referenced_schema=ref_schema,
                        referenced_table=ref_table,
                        referenced_columns=list(ref_keys),
                        on_delete=_ACTIONS.get(on_delete),
                        on_update=_ACTIONS.get(on_update),
                        expression=definition,
                    )
                )
                continue
            constraints.append(
                ConstraintMetadata(
                    name=name,
                    constraint_type=constraint_type,
                    columns=list(keys or ()),
                    expression=definition,
                )
            )
            if constraint_type is ConstraintType.PRIMARY_KEY:
                key = set(keys)
                for column in columns:
                    if column.name in key:
                        column.is_primary_key = True
        constraints.sort(key=lambda c: (_CONSTRAINT_ORDER[c.constraint_type], c.name or ""))
        return constraints

    def _indexes_of(self, oid: int) -> list[IndexMetadata]:
        indexes = []
        for (
            _relid,
            name,
            method,
            unique,
            primary,
            exclusion,
            immediate,
            valid,
            key_count,
            columns,
            options,
            definition,
            predicate,
            nulls_not_distinct,
            comment,
        ) in self._indexes.get(oid, ()):
            properties: dict[str, Any] = {"definition": definition}
            if primary:
                properties["primary"] = True
            if exclusion:
                properties["exclusion"] = True
            if not immediate:
                properties["deferrable"] = True
            if not valid:
                properties["valid"] = False
            if predicate:
                properties["predicate"] = predicate
            if len(columns) > key_count:
                properties["include"] = list(columns[key_count:])
            if any(o & 1 for o in options):
                properties["descending"] = [bool(o & 1) for o in options]
            if any(bool(o & 1) != bool(o & 2) for o in options):
                # NULLS FIRST is the default for DESC, NULLS LAST for ASC: say it when it differs.
                properties["nulls_first"] = [bool(o & 2) for o in options]
            if nulls_not_distinct:
                properties["nulls_not_distinct"] = True
            if comment:
                properties["comment"] = comment
            indexes.append(
                IndexMetadata(
                    name=name,
                    columns=list(columns[:key_count]),
                    unique=bool(unique),
                    kind=method,
                    properties=properties,
                )
            )
        indexes.sort(key=lambda i: i.name)
        return indexes

    def _routines(self) -> list[RoutineMetadata]:
        routines = []
        for (
            schema_oid,
            name,
            argument_types,
            kind,
            language,
            result,
            arguments,
            volatility,
            strict,
            security_definer,
            parallel,
            owner,
            comment,
            source,
            sql_body,
        ) in self.rows.routines:
            schema = self.selection.schemas.get(schema_oid)
            if schema is None:
                continue
            routine_type = RoutineType.PROCEDURE if kind == "p" else RoutineType.FUNCTION
            routines.append(
                RoutineMetadata(
                    database=self.name,
                    schema_name=schema,
                    name=f"{name}({argument_types})",
                    routine_type=routine_type,
                    return_type=result if routine_type is RoutineType.FUNCTION else None,
                    language=language,
                    definition=sql_body or source or None,
                    comment=comment or None,
                    properties={
                        "routine_name": name,
                        "arguments": arguments,
                        "volatility": _VOLATILITY.get(volatility, volatility),
                        "strict": bool(strict),
                        "security_definer": bool(security_definer),
                        "parallel": _PARALLEL.get(parallel, parallel),
                        "owner": owner,
                    },
                )
            )
        routines.sort(key=lambda r: (r.schema_name or "", r.name, r.routine_type.value))
        return routines


_CONSTRAINT_TYPES = {
    "p": ConstraintType.PRIMARY_KEY,
    "u": ConstraintType.UNIQUE,
    "f": ConstraintType.FOREIGN_KEY,
    "c": ConstraintType.CHECK,
    "x": ConstraintType.EXCLUSION,
}
_CONSTRAINT_ORDER = {kind: position for position, kind in enumerate(_CONSTRAINT_TYPES.values())}
_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
_PARALLEL = {"s": "safe", "r": "restricted", "u": "unsafe"}

#: Every property key the mapper sets on a column after validation (see _columns_of and
#: TypeResolver): checked against the models' secret-key redaction by test_postgresql_mapper.
COLUMN_PROPERTY_KEYS = (
    "identity",
    "generation_expression",
    "generated",
    "collation",
    "domain",
    "domain_base_type",
    "domain_constraints",
    "domain_not_null",
    "enum_labels",
)


def _group(rows: list[Row]) -> dict[int, list[Row]]:
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    return grouped


def _options(options: list[str] | None) -> dict[str, str]:
    """`{key=value, ...}` option arrays as a dict (values may hold '=')."""
    pairs = (option.partition("=") for option in options or ())
    return {key: value for key, _, value in pairs}


def _definition(text: str | None) -> str | None:
    return text.strip() if text else None


def _iso(value: datetime) -> str:
    return value.isoformat()
