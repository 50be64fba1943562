"""Primary and foreign keys, read in bulk from each catalog's information_schema.

Unity Catalog's REST list calls do not return constraints, and asking per table would be one call per
table. Instead one statement per catalog joins `table_constraints`, `key_column_usage` and
`referential_constraints`; foreign keys are then resolved against the primary keys read (across every
catalog read in the run), pairing columns through `position_in_unique_constraint`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from metadata_pipelines.extractors.errors import SourceResponseError
from metadata_pipelines.extractors.identifiers import backtick
from metadata_pipelines.models import ConstraintMetadata, ConstraintType

TableKey = tuple[str, str, str]
ConstraintKey = tuple[str, str, str]


def constraints_statement(catalog: str) -> str:
    schema = f"{backtick(catalog)}.information_schema"
    return f"""
SELECT tc.constraint_catalog, tc.constraint_schema, tc.constraint_name, tc.constraint_type,
       tc.table_catalog, tc.table_schema, tc.table_name,
       kcu.column_name, kcu.ordinal_position, kcu.position_in_unique_constraint,
       rc.unique_constraint_catalog, rc.unique_constraint_schema, rc.unique_constraint_name,
       rc.update_rule, rc.delete_rule
FROM {schema}.table_constraints AS tc
JOIN {schema}.key_column_usage AS kcu
  ON kcu.constraint_catalog = tc.constraint_catalog
 AND kcu.constraint_schema = tc.constraint_schema
 AND kcu.constraint_name = tc.constraint_name
LEFT JOIN {schema}.referential_constraints AS rc
  ON rc.constraint_catalog = tc.constraint_catalog
 AND rc.constraint_schema = tc.constraint_schema
 AND rc.constraint_name = tc.constraint_name
WHERE tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
ORDER BY tc.table_schema, tc.table_name, tc.constraint_name, kcu.ordinal_position
""".strip()


@dataclass
class _Key:
    kind: str
    table: TableKey
    columns: list[tuple[int, str, int | None]] = field(default_factory=list)
    references: ConstraintKey | None = None
    update_rule: str | None = None
    delete_rule: str | None = None

    def ordered(self) -> list[str]:
        return [name for _, name, _ in sorted(self.columns)]


@dataclass
class UnresolvedForeignKey:
    table: TableKey
    name: str
    reason: str


@dataclass
class KeyCollector:
    """Gathers key rows from any number of catalogs, then builds constraints per table."""

    keys: dict[ConstraintKey, _Key] = field(default_factory=dict)

    def add_rows(self, records: list[dict[str, str | None]], what: str) -> None:
        for record in records:
            try:
                ident = (
                    _req(record, "constraint_catalog"),
                    _req(record, "constraint_schema"),
                    _req(record, "constraint_name"),
                )
                table = (
                    _req(record, "table_catalog"),
                    _req(record, "table_schema"),
                    _req(record, "table_name"),
                )
                kind = _req(record, "constraint_type").upper()
                ordinal = int(_req(record, "ordinal_position"))
                unique_position = record.get("position_in_unique_constraint")
                column = (
                    ordinal,
                    _req(record, "column_name"),
                    int(unique_position) if unique_position not in (None, "") else None,
                )
            except (KeyError, ValueError) as error:
                raise SourceResponseError(f"{what}: unexpected constraint row ({error})") from None
            key = self.keys.setdefault(ident, _Key(kind=kind, table=table))
            key.columns.append(column)
            if kind == "FOREIGN KEY" and record.get("unique_constraint_name"):
                key.references = (
                    record.get("unique_constraint_catalog") or ident[0],
                    record.get("unique_constraint_schema") or ident[1],
                    record["unique_constraint_name"] or "",
                )
                key.update_rule = record.get("update_rule")
                key.delete_rule = record.get("delete_rule")

    def build(
        self,
    ) -> tuple[dict[TableKey, list[ConstraintMetadata]], list[UnresolvedForeignKey]]:
        by_table: dict[TableKey, list[ConstraintMetadata]] = defaultdict(list)
        unresolved: list[UnresolvedForeignKey] = []
        for (_, _, name), key in sorted(self.keys.items()):
            if key.kind == "PRIMARY KEY":
                by_table[key.table].append(
                    ConstraintMetadata(
                        name=name,
                        constraint_type=ConstraintType.PRIMARY_KEY,
                        columns=key.ordered(),
                    )
                )
                continue
            target = self.keys.get(key.references) if key.references else None
            if target is None:
                where = ".".join(key.references) if key.references else "an unknown key"
                unresolved.append(
                    UnresolvedForeignKey(
                        key.table, name, f"it references {where}, which was not read"
                    )
                )
                continue
            target_columns = target.ordered()
            referenced: list[str] = []
            for ordinal, _column, position in sorted(key.columns):
                index = (position if position is not None else ordinal) - 1
                if not 0 <= index < len(target_columns):
                    break
                referenced.append(target_columns[index])
            if len(referenced) != len(key.columns):
                unresolved.append(
                    UnresolvedForeignKey(key.table, name, "its columns do not match the key")
                )
                continue
            by_table[key.table].append(
                ConstraintMetadata(
                    name=name,
                    constraint_type=ConstraintType.FOREIGN_KEY,
                    columns=key.ordered(),
                    referenced_database=target.table[0],
                    referenced_schema=target.table[1],
                    referenced_table=target.table[2],
                    referenced_columns=referenced,
                    on_update=key.update_rule,
                    on_delete=key.delete_rule,
                )
            )
        return dict(by_table), unresolved


def _req(record: dict[str, str | None], name: str) -> str:
    value = record[name]
    if value is None:
        raise ValueError(f"{name} is null")
    return value
