"""How the command line shows catalog records to people: aligned tables (as `kubectl get` and
`gh` print them) and key/value blocks. `--json` output bypasses this module."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import click
from tabulate import tabulate

from metadata_pipelines.catalog.records import AssetDetail, ConnectorRun, DataSource
from metadata_pipelines.orchestration.summary import CHANGE_SECTIONS

EMPTY = "-"
SHORT_ID = 8  # as the Dagster UI shortens run ids

# What an operator can do about a failed run, by the connector run's error code.
NEXT_STEPS = {
    "invalid_config": "fix the config with `metadata-pipelines sources update {name} --config ...`",
    "unknown_connector": "install the connector's package, or register the source with a known --type",
    "authentication_failed": "fix the credentials with `metadata-pipelines sources update {name} "
    "--credentials-file FILE`, then `metadata-pipelines sources test {name}`",
    "missing_privilege": "grant the login read access to the metadata (see docs/connectors), then "
    "sync again",
    "source_unavailable": "check that the source is up and reachable from here, then "
    "`metadata-pipelines sources test {name}`",
    "timeout": "check the source's load and network, then sync again",
    "throttled": "sync again later, or lower the connector's concurrency in its config",
    "malformed_response": "the source answered something unexpected; report it with the Dagster run's "
    "event log",
}


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns aligned under upper-case headers, two spaces apart, no borders."""
    cells = [[EMPTY if cell is None or cell == "" else cell for cell in row] for row in rows]
    return tabulate(
        cells, headers=[h.upper() for h in headers], tablefmt="plain", disable_numparse=True
    )


def fields(pairs: Iterable[tuple[str, Any]], indent: str = "  ") -> str:
    """`label  value` lines with the values aligned; None values are left out."""
    shown = [(label, value) for label, value in pairs if value is not None]
    width = max((len(label) for label, _ in shown), default=0)
    return "\n".join(f"{indent}{label:{width}}  {value}" for label, value in shown)


def when(moment: datetime | None) -> str | None:
    """UTC in ISO 8601 with a Z (the catalog stores UTC; SQLite returns it without a zone)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def duration(run: ConnectorRun) -> str | None:
    if not (run.started_at and run.finished_at):
        return None
    return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"


def short(identifier: str | None) -> str | None:
    return identifier[:SHORT_ID] if identifier else None


def extracted(run: ConnectorRun) -> str | None:
    """What the connector read, e.g. "7 table, 2 view, 47 column"."""
    if not run.stats:
        return None
    counts = run.stats.get("extracted", {})
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "nothing"


def catalog_changes(run: ConnectorRun) -> str | None:
    if not run.stats:
        return None
    keys = ("inserted", "updated", "unchanged", "deleted", "restored")
    return ", ".join(f"{run.stats.get(key, 0)} {key}" for key in keys)


def runs_table(runs: Sequence[ConnectorRun]) -> str:
    return table(
        (
            "connector run",
            "dagster run",
            "status",
            "trigger",
            "started",
            "duration",
            "attempts",
            "tables",
            "columns",
            "error",
        ),
        (
            (
                run.id,
                short(run.dagster_run_id),
                run.status.value,
                run.trigger,
                when(run.started_at or run.created_at),
                duration(run),
                run.attempts,
                _extracted_count(run, "table", "view"),
                _extracted_count(run, "column"),
                _one_line(run.error_message),
            )
            for run in runs
        ),
    )


def run_block(run: ConnectorRun, source: DataSource | None = None) -> str:
    header = f"connector run {run.id}: {run.status.value.upper()}"
    body = fields(
        [
            ("source", f"{source.name} ({source.id})" if source else run.data_source_id),
            ("dagster run", run.dagster_run_id),
            ("trigger", run.trigger),
            ("started", when(run.started_at)),
            ("finished", when(run.finished_at)),
            ("duration", duration(run)),
            ("attempts", run.attempts),
            ("extracted", extracted(run)),
            ("catalog", catalog_changes(run)),
            ("error", f"{run.error_code}: {run.error_message}" if run.error_message else None),
        ]
    )
    problems = [
        f"  {e.get('severity', 'error')} in {'.'.join(e.get('scope') or []) or 'source'}: "
        f"{e.get('message')}"
        for e in run.extraction_errors or []
    ]
    return "\n".join([header, body, *(["extraction errors:", *problems] if problems else [])])


def failure_summary(run: ConnectorRun, source: DataSource) -> str:
    """A failed sync in a few lines: what failed, the code, the message, and what to do next."""
    code = run.error_code or "failed"
    step = NEXT_STEPS.get(code, "look at the Dagster run's event log (`metadata-pipelines ui`)")
    return "\n".join(
        [
            f"sync of {source.name!r} failed after {run.attempts} attempt(s)",
            fields(
                [
                    ("error", f"{code}: {_one_line(run.error_message) or 'no message'}"),
                    ("what to do", step.format(name=source.name)),
                    ("connector run", run.id),
                    ("dagster run", f"{run.dagster_run_id} (its event log has the details)"),
                ]
            ),
        ]
    )


def asset_block(asset: AssetDetail, source: DataSource) -> str:
    details = asset.details
    parts = [
        f"{asset.asset_type} {asset.qualified_name}",
        fields(
            [
                ("source", f"{source.name} ({source.connector_type})"),
                ("kind", asset.table_type or asset.native_type),
                ("owner", asset.owner),
                ("description", asset.description),
                ("rows", details.get("row_count")),
                ("size", _bytes(details.get("size_bytes"))),
                ("created", details.get("created_at")),
                ("updated", details.get("updated_at")),
                ("first seen", when(asset.first_seen_at)),
                ("last seen", when(asset.last_seen_at)),
            ]
        ),
    ]
    if asset.fields:
        parts += [
            "",
            table(
                ("column", "type", "nullable", "key", "default", "comment"),
                (
                    (
                        "  " * f.depth + f.name + ("[]" if f.repeated else ""),
                        f.native_type or f.data_type,
                        "yes" if f.nullable else "no",
                        "PK" if f.is_primary_key else None,
                        f.default_value,
                        _one_line(f.description),
                    )
                    for f in asset.fields
                ),
            ),
        ]
    if details.get("indexes"):
        parts += [
            "",
            "indexes:",
            _indented(
                table(
                    ("name", "columns", "unique", "kind"),
                    (
                        (
                            i.get("name"),
                            ", ".join(i.get("columns") or []),
                            "yes" if i.get("unique") else "no",
                            i.get("kind"),
                        )
                        for i in details["indexes"]
                    ),
                )
            ),
        ]
    if details.get("constraints"):
        parts += [
            "",
            "constraints:",
            _indented(
                table(
                    ("type", "name", "columns", "references"),
                    (
                        (
                            c.get("constraint_type"),
                            c.get("name"),
                            ", ".join(c.get("columns") or []),
                            _reference(c),
                        )
                        for c in details["constraints"]
                    ),
                )
            ),
        ]
    if details.get("view_definition"):
        parts += ["", "definition:", _indented(details["view_definition"].strip())]
    return "\n".join(parts)


def changes_block(run: ConnectorRun) -> str:
    """The change summary the persist step stored on the run."""
    lines = [
        f"changes of connector run {run.id} ({run.status.value}, {when(run.finished_at) or '-'})",
        catalog_changes(run) or "no statistics recorded",
    ]
    summary = (run.stats or {}).get("changes") or {}
    counts: dict[str, int] = summary.get("counts", {})
    if not any(counts.values()):
        lines.append("No tables or columns were added, removed or retyped.")
    for key, title in CHANGE_SECTIONS:
        count = counts.get(key, 0)
        if not count:
            continue
        items = summary.get(key, [])
        lines.append(f"{title} ({count}):")
        lines.extend(f"  {item}" for item in items)
        if count > len(items):
            lines.append(f"  ... and {count - len(items)} more")
    return "\n".join(lines)


def echo_json(value: Any) -> None:
    import json

    click.echo(json.dumps(value, indent=2, default=str))


def _extracted_count(run: ConnectorRun, *kinds: str) -> int | None:
    if not run.stats:
        return None
    counts = run.stats.get("extracted", {})
    return sum(counts.get(kind, 0) for kind in kinds)


def _one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _reference(constraint: dict[str, Any]) -> str | None:
    target = constraint.get("referenced_table")
    if not target:
        return constraint.get("expression")
    owner = constraint.get("referenced_schema") or constraint.get("referenced_database")
    columns = ", ".join(constraint.get("referenced_columns") or [])
    return f"{owner + '.' if owner else ''}{target}({columns})"


def _bytes(size: int | None) -> str | None:
    return None if size is None else f"{size:,} bytes"
