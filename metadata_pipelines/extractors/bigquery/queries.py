"""The INFORMATION_SCHEMA queries the connector runs: a fixed few per dataset, one per region.

Each reads a whole view of one dataset, never one table; rows are read by column name.
Every query is billed at least 10 MB (on-demand pricing: 10 MB per table referenced, and per query),
so the connector sends only what it reads:

| view | scope | sent when |
|---|---|---|
| TABLES | dataset | always: table kind, base tables of snapshots and clones |
| COLUMNS | dataset | always: columns, types (nested types in full), partitioning and clustering |
| COLUMN_FIELD_PATHS | dataset | always: descriptions, policy tags and collation of nested fields |
| TABLE_OPTIONS | dataset | always: descriptions, labels, partition expiry, external sources |
| VIEWS | dataset | the dataset lists views |
| TABLE_STORAGE | region | include_statistics: rows, logical and physical bytes of every table of the region |
"""

from __future__ import annotations

DATASET_VIEWS = ("TABLES", "COLUMNS", "COLUMN_FIELD_PATHS", "TABLE_OPTIONS")

#: What each dataset-scoped query selects: only what the mapper reads, as the client library's
#: row decoding costs about as much as everything else of a sync. COLUMNS lists what it leaves out
#: rather than what it keeps, so that `column_default` and `rounding_mode` are read where BigQuery
#: has them and an emulator without them still answers. COLUMN_FIELD_PATHS returns only fields
#: that carry something beyond their type (which COLUMNS already gives in full).
_SELECT = {
    "TABLES": "SELECT table_name, table_type, creation_time, base_table_catalog, "
    "base_table_schema, base_table_name, snapshot_time_ms",
    "COLUMNS": "SELECT * EXCEPT (table_catalog, table_schema, is_generated, "
    "generation_expression, is_stored, is_updatable)",
    "COLUMN_FIELD_PATHS": "SELECT table_name, field_path, description, collation_name, "
    "rounding_mode, policy_tags",
    "TABLE_OPTIONS": "SELECT table_name, option_name, option_type, option_value",
    "VIEWS": "SELECT table_name, view_definition",
}
_WHERE = {
    "COLUMN_FIELD_PATHS": " WHERE description IS NOT NULL OR collation_name IS NOT NULL "
    "OR rounding_mode IS NOT NULL OR ARRAY_LENGTH(policy_tags) > 0",
}


def quote_path(*parts: str) -> str:
    """A backquoted path; names cannot hold backquotes (BigQuery forbids them), checked anyway."""
    for part in parts:
        if "`" in part or "\\" in part:
            raise ValueError(f"unexpected character in BigQuery name {part!r}")
    return "`" + ".".join(parts) + "`"


def dataset_view(project: str, dataset: str, view: str) -> str:
    source = quote_path(project, dataset, "INFORMATION_SCHEMA", view)
    return f"{_SELECT[view]} FROM {source}{_WHERE.get(view, '')}"


def table_storage(project: str, location: str, datasets: list[str]) -> str:
    """Storage statistics of the region's tables in the given datasets (one job per region)."""
    names = ", ".join("'" + name.replace("'", "\\'") + "'" for name in sorted(datasets))
    region = f"region-{location.lower()}"
    return (
        "SELECT table_schema, table_name, total_rows, total_logical_bytes, total_physical_bytes "
        f"FROM {quote_path(project, region, 'INFORMATION_SCHEMA', 'TABLE_STORAGE')} "
        f"WHERE table_schema IN ({names}) AND NOT deleted"
    )
