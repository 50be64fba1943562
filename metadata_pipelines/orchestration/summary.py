"""A markdown summary of what a sync changed, shown as op output metadata in the Dagster UI."""

from __future__ import annotations

from metadata_pipelines.catalog.persistence import PersistStats
from metadata_pipelines.models import ExtractionResult

CHANGE_SECTIONS = (
    ("tables_added", "Tables and views added"),
    ("tables_removed", "Tables and views removed"),
    ("columns_added", "Columns and nested fields added"),
    ("columns_removed", "Columns and nested fields removed"),
    ("columns_retyped", "Columns and nested fields retyped"),
)


def changes_markdown(stats: PersistStats, result: ExtractionResult) -> str:
    totals = stats.totals()
    lines = [
        "### Changes since the previous sync",
        "",
        "| inserted | updated | unchanged | deleted | restored |",
        "|---:|---:|---:|---:|---:|",
        "| {inserted} | {updated} | {unchanged} | {deleted} | {restored} |".format(**totals),
        "",
    ]
    changes = stats.changes
    if not changes.counts:
        lines.append("No tables or columns were added, removed or retyped.")
    for key, title in CHANGE_SECTIONS:
        count = changes.counts.get(key, 0)
        if not count:
            continue
        items = getattr(changes, key)
        lines.append(f"**{title} ({count})**")
        lines.extend(f"- `{item}`" for item in items)
        if count > len(items):
            lines.append(f"- ... and {count - len(items)} more")
        lines.append("")
    if result.errors:
        lines.append(f"**Extraction errors and warnings ({len(result.errors)})**")
        lines.extend(
            f"- {e.severity.value} in `{'.'.join(e.scope) or 'source'}`: {e.message}"
            for e in result.errors[:20]
        )
    return "\n".join(lines)
