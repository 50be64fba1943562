"""Settings of sensors and schedules, read from the environment when the code location loads.

Defaults suit production; tests and small deployments shorten the sensor interval.
"""

from __future__ import annotations

import os

from croniter import croniter

SENSOR_INTERVAL_ENV = "METADATA_PIPELINES_SENSOR_INTERVAL_SECONDS"
DAILY_SYNC_CRON_ENV = "METADATA_PIPELINES_DAILY_SYNC_CRON"
SCHEDULE_TIMEZONE_ENV = "METADATA_PIPELINES_SCHEDULE_TIMEZONE"

DEFAULT_SENSOR_INTERVAL_SECONDS = 30
DEFAULT_DAILY_SYNC_CRON = "0 2 * * *"
DEFAULT_SCHEDULE_TIMEZONE = "UTC"


def sensor_interval_seconds() -> int:
    """Minimum seconds between two ticks of each of our sensors (at least 1)."""
    raw = os.environ.get(SENSOR_INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_SENSOR_INTERVAL_SECONDS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{SENSOR_INTERVAL_ENV} must be a whole number of seconds") from None
    return max(value, 1)


def daily_sync_cron() -> str:
    cron = os.environ.get(DAILY_SYNC_CRON_ENV, "").strip() or DEFAULT_DAILY_SYNC_CRON
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise ValueError(f"{DAILY_SYNC_CRON_ENV}={cron!r} is not a 5-field cron expression")
    return cron


def schedule_timezone() -> str:
    return os.environ.get(SCHEDULE_TIMEZONE_ENV, "").strip() or DEFAULT_SCHEDULE_TIMEZONE
