"""When an asset was last seen, without rewriting unchanged rows on every sync.

A sync writes an asset row only when it inserts, changes or restores it, and sets the row's
`last_seen_at` then: an unchanged re-sync writes nothing (issue 11). A live asset was also seen by
every later sync of its source that persisted (connector run succeeded or partial), unless an
extraction error of that run covered it (the run then kept it without seeing it). Its last sighting
is therefore the newer of its row's `last_seen_at` and the finish of the newest such run whose
errors do not cover it; the listings and the HTTP API report that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from metadata_pipelines.catalog.connector_runs import MAX_STORED_ERRORS
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import connector_runs
from metadata_pipelines.catalog.scopes import covered, stored_path
from metadata_pipelines.models import Severity

#: Runs looked at per source; an asset covered by the errors of all of them keeps its row's time.
RECENT_RUNS = 20

_Sighting = tuple[datetime, list[tuple[str, ...]]]


def _sightings(connection: sa.Connection, data_source_id: str) -> list[_Sighting]:
    """The source's newest persisted runs, newest first, with the scopes their errors covered."""
    rows = connection.execute(
        sa.select(connector_runs.c.finished_at, connector_runs.c.extraction_errors)
        .where(
            connector_runs.c.data_source_id == data_source_id,
            connector_runs.c.status.in_([RunStatus.SUCCEEDED, RunStatus.PARTIAL]),
            connector_runs.c.finished_at.is_not(None),
        )
        .order_by(connector_runs.c.finished_at.desc())
        .limit(RECENT_RUNS)
    )
    sightings = []
    for finished_at, errors in rows:
        errors = errors or []
        if len(errors) >= MAX_STORED_ERRORS:
            continue  # the stored errors were capped: what the run covered is not known
        scopes = [
            tuple(error.get("scope") or ())
            for error in errors
            if error.get("severity", Severity.ERROR.value) == Severity.ERROR.value
        ]
        sightings.append((finished_at, scopes))
    return sightings


def with_last_seen(
    connection: sa.Connection, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`rows` (asset columns) with `last_seen_at` moved to the asset's last sighting."""
    cache: dict[str, list[_Sighting]] = {}
    out = []
    for row in rows:
        values = dict(row)
        if values["deleted_at"] is None:
            source = values["data_source_id"]
            if source not in cache:
                cache[source] = _sightings(connection, source)
            path = stored_path(SimpleNamespace(**values))
            for finished_at, scopes in cache[source]:
                if not covered(path, scopes):
                    values["last_seen_at"] = max(values["last_seen_at"], finished_at)
                    break
        out.append(values)
    return out
