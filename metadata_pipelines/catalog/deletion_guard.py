"""The deletion fail-safe: a sync that would remove too much holds those removals until confirmed.

A source that suddenly lists much less is more often misconfigured or partly unreadable (a revoked
database vanishes from the listing; an include pattern that matches nothing lists nothing) than
emptied. Before persisting, the removals a result implies are compared with what the catalog holds:

- a top-level container (a database, catalog or project) that would disappear is held, with all it
  holds;
- if more than `max_share` of the source's live assets would go (and more than `min_count`), or all
  of them, every removal is held.

Held removals become scoped extraction errors (code `deletion_held`), which persistence already
honours: nothing inside a failed scope is deleted, everything else is written as usual, and the run
ends `partial` with a message naming what was held and how to confirm it. A sync run with
confirmation (`metadata-pipelines sync --confirm-deletions`, run tag
`metadata_pipelines/confirm_deletions=true`, `run_metadata_sync(..., confirm_deletions=True)`)
deletes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from metadata_pipelines.catalog.asset_rows import desired_keys
from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.catalog.scopes import covered, stored_path
from metadata_pipelines.models import (
    ExtractionError,
    ExtractionResult,
    ExtractionStatus,
    qualified_name,
)
from metadata_pipelines.settings import get_settings

MIN_COUNT = 10  # the share rule never holds fewer removals than this (small sources change)
HELD = "deletion_held"
HOW_TO_CONFIRM = (
    "to delete them, sync with --confirm-deletions (run tag metadata_pipelines/confirm_deletions="
    "true, or run_metadata_sync(..., confirm_deletions=True))"
)


@dataclass(frozen=True)
class DeletionPolicy:
    max_share: float = 0.2
    min_count: int = MIN_COUNT

    @classmethod
    def from_settings(cls) -> DeletionPolicy:
        return cls(max_share=get_settings().max_delete_share)


def hold_deletions(
    engine: sa.Engine,
    tenant_id: str,
    data_source_id: str,
    result: ExtractionResult,
    policy: DeletionPolicy | None = None,
) -> tuple[ExtractionResult, list[ExtractionError]]:
    """(the result with held removals as scoped errors, those errors); unchanged if none held.

    For a whole result; a streamed sync applies `held_removals` once persistence has seen every
    batch."""
    live = _live_paths(engine, tenant_id, data_source_id)
    desired = desired_keys(result)
    failed = result.failed_scopes
    removed = [
        path for name, path in live.items() if name not in desired and not covered(path, failed)
    ]
    errors = held_removals(live, removed, policy)
    if not errors:
        return result, []
    return (
        result.model_copy(
            update={"status": ExtractionStatus.PARTIAL, "errors": [*result.errors, *errors]}
        ),
        errors,
    )


def held_removals(
    live: Mapping[str, tuple[str, ...]],
    removed: Sequence[tuple[str, ...]],
    policy: DeletionPolicy | None = None,
) -> list[ExtractionError]:
    """The removals to hold, as scoped errors: `live` maps the source's live assets to their paths,
    `removed` is the paths of those a sync would delete (none covered by an extraction error)."""
    policy = policy or DeletionPolicy.from_settings()
    if not live or not removed:
        return []
    containers = sorted({path[:1] for path in removed})
    if len(removed) == len(live) or (
        len(removed) > policy.min_count and len(removed) / len(live) > policy.max_share
    ):
        held = containers
        why = (
            f"{len(removed)} of the source's {len(live)} assets would be deleted "
            f"(more than {policy.max_share:.0%})"
        )
    else:
        removed_set = set(removed)
        held = [path for path in containers if path in removed_set]
        why = "a whole top-level container would be deleted"
    return [
        ExtractionError(
            scope=scope,
            message=(
                f"deletion held: {why}; {qualified_name(scope)} and "
                f"{sum(1 for path in removed if path[:1] == scope)} asset(s) in it kept; "
                f"{HOW_TO_CONFIRM}"
            ),
            code=HELD,
        )
        for scope in held
    ]


def _live_paths(
    engine: sa.Engine, tenant_id: str, data_source_id: str
) -> dict[str, tuple[str, ...]]:
    query = sa.select(
        assets.c.qualified_name,
        assets.c.asset_type,
        assets.c.name,
        assets.c.database_name,
        assets.c.schema_name,
    ).where(
        assets.c.tenant_id == tenant_id,
        assets.c.data_source_id == data_source_id,
        assets.c.deleted_at.is_(None),
    )
    with engine.connect() as connection:
        return {row.qualified_name: stored_path(row) for row in connection.execute(query)}
