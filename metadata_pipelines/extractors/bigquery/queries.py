"""The INFORMATION_SCHEMA queries the connector runs: a fixed few per dataset, one per region.

Each reads a whole view of one dataset (`SELECT *`, read by column name, so a server that has fewer
columns, such as an emulator, or more, such as a newer BigQuery, is still read), never one table.
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


def quote_path(*parts: str) -> str:
    """A backquoted path; names cannot hold backquotes (BigQuery forbids them), checked anyway."""
    for part in parts:
        if "`" in part or "\\" in part:
            raise ValueError(f"unexpected character in BigQuery name {part!r}")
    return "`" + ".".join(parts) + "`"


def dataset_view(project: str, dataset: str, view: str) -> str:
    return f"SELECT * FROM {quote_path(project, dataset, 'INFORMATION_SCHEMA', view)}"


def table_storage(project: str, location: str, datasets: list[str]) -> str:
    """Storage statistics of the region's tables in the given datasets (one job per region)."""
    names = ", ".join("'" + name.replace("'", "\\'") + "'" for name in sorted(datasets))
    region = f"region-{location.lower()}"
    return (
        "SELECT table_schema, table_name, total_rows, total_logical_bytes, total_physical_bytes "
        f"FROM {quote_path(project, region, 'INFORMATION_SCHEMA', 'TABLE_STORAGE')} "
        f"WHERE table_schema IN ({names}) AND NOT deleted"
    )
