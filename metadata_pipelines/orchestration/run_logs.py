"""The `metadata_sync` job's console logger: Dagster's coloured lines, or JSON lines.

Every process that executes a run (the daemon's run workers, the CLI's in-process runs) prints the
run's records through this logger: the ops' `context.log`, Dagster's own events, and the
connectors' Python loggers, which the instance's `python_logs.managed_python_loggers` forwards
into the run (and into its event log). With METADATA_PIPELINES_LOG_FORMAT=json each is one JSON
object carrying the sync's fields (metadata_pipelines/logs.py); with `text`, Dagster's own format.
The process's other records go through the same format (`configure_logging`).
"""

from __future__ import annotations

import logging
import sys

import dagster as dg

from metadata_pipelines.logs import SyncJsonFormatter, configure_logging
from metadata_pipelines.settings import get_settings

# The run config that turns this logger on (Dagster only builds loggers named in the run config).
CONSOLE_LOGGER_CONFIG = {"loggers": {"console": {"config": {}}}}


@dg.logger(
    config_schema={
        "log_level": dg.Field(
            str, is_required=False, description="default: METADATA_PIPELINES_LOG_LEVEL"
        ),
        "name": dg.Field(str, is_required=False, default_value="dagster"),
    },
    description="Dagster's coloured console lines, or JSON lines (METADATA_PIPELINES_LOG_FORMAT).",
)
def sync_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    settings = get_settings()
    config = dict(init_context.logger_config or {})
    config.setdefault("log_level", settings.log_level)
    config.setdefault("name", "dagster")
    configure_logging()
    if settings.log_format != "json":
        return dg.colored_console_logger.logger_fn(
            dg.build_init_logger_context(logger_config=config)
        )
    logger = logging.Logger(config["name"], level=config["log_level"].upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SyncJsonFormatter())
    logger.addHandler(handler)
    return logger
