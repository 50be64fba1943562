"""Run tags: what operators filter runs by in the UI. None of them carries a secret."""

from __future__ import annotations

from metadata_pipelines.catalog.records import DataSource
from metadata_pipelines.orchestration.dagster_api import (
    BACKFILL_TAG,
    SCHEDULE_NAME_TAG,
    SENSOR_NAME_TAG,
)

PREFIX = "metadata_pipelines"
TENANT = f"{PREFIX}/tenant_id"
DATA_SOURCE_ID = f"{PREFIX}/data_source_id"
DATA_SOURCE_NAME = f"{PREFIX}/data_source_name"
CONNECTOR_TYPE = f"{PREFIX}/connector_type"
TRIGGER = f"{PREFIX}/trigger"
CONNECTOR_RUN_ID = f"{PREFIX}/connector_run_id"
#: "true": delete what the deletion fail-safe would hold (catalog/deletion_guard.py).
CONFIRM_DELETIONS = f"{PREFIX}/confirm_deletions"

TRIGGERS = ("sensor", "schedule", "backfill", "manual", "application")


def source_tags(source: DataSource) -> dict[str, str]:
    return {
        TENANT: source.tenant_id,
        DATA_SOURCE_ID: source.id,
        DATA_SOURCE_NAME: source.name,
        CONNECTOR_TYPE: source.connector_type,
    }


def trigger_of(tags: dict[str, str]) -> str:
    """The trigger a launcher recorded; runs launched from the UI carry none of ours."""
    if TRIGGER in tags:
        return tags[TRIGGER]
    if BACKFILL_TAG in tags:
        return "backfill"
    if SCHEDULE_NAME_TAG in tags:
        return "schedule"
    if SENSOR_NAME_TAG in tags:
        return "sensor"
    return "manual"
