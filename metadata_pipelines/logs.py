"""Process logs: one format switch, the sync's context on every record, secrets scrubbed.

An operator ships these lines to a log platform and filters them by tenant, data source, connector
run or Dagster run, so every record of a sync carries those as fields (`SYNC_FIELDS`), next to the
event's own fields (counts, duration, attempt, error code) passed as `extra=`. METADATA_PIPELINES_
LOG_FORMAT picks `text` (for people, the default) or `json` (one object a line).

The context is bound with `log_context` in a contextvar, which a connector's asyncio tasks and
`asyncio.to_thread` calls inherit, and it is read when a line is formatted, never copied into the
records: Dagster re-logs a record's extras onto its own loggers, and attributes set earlier by a
record factory would collide with them. Records that Dagster forwarded into a run carry its
`dagster_meta` (run id, step, run tags), which fills what the contextvar does not hold.

While a sync step holds decrypted credentials, `scrubbing(secrets)` makes every record created in
that context carry its message scrubbed (a log-record factory, so it happens before any handler:
the Dagster event log included), and the JSON formatter scrubs the record's fields as well. The
same factory notes the name of the project's loggers on their records, so that a connector's line
keeps its logger's name after Dagster forwarded it into a run.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import IO, Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from metadata_pipelines.extractors.errors import scrub
from metadata_pipelines.settings import get_settings

#: The project's loggers; Dagster's `managed_python_loggers` names this one (both instance configs).
LOGGER_NAME = "metadata_pipelines"
#: Fields that tie a record to its sync. The source fields are also run tags
#: `metadata_pipelines/<field>` (orchestration/tags.py), read from records Dagster forwarded.
SOURCE_FIELDS = (
    "tenant_id",
    "data_source_id",
    "data_source_name",
    "connector_type",
    "connector_run_id",
)
SYNC_FIELDS = (*SOURCE_FIELDS, "run_id", "step")
RUN_TAG_PREFIX = "metadata_pipelines/"
_PROJECT_PREFIX = LOGGER_NAME + "."
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_DAGSTER_META = "dagster_meta"
# Dagster re-logs a forwarded record onto its loggers under their own name ("dagster"); the
# project's records carry their logger's name in this attribute, which the re-logged record keeps.
_ORIGIN = "origin_logger"
# Record attributes that are not event fields: logging's own, Dagster's, uvicorn's coloured copy.
_NOT_FIELDS = [
    *RESERVED_ATTRS,
    "taskName",
    _DAGSTER_META,
    _ORIGIN,
    "dagster_event",
    "dagster_event_batch_metadata",
    "color_message",
]

_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar(
    "metadata_pipelines_log_context", default=MappingProxyType({})
)
_SECRETS: ContextVar[Sequence[str]] = ContextVar("metadata_pipelines_log_secrets", default=())
_FACTORY_LOCK = threading.Lock()
_factory_installed = False


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields (None values left out) to every record logged inside the block."""
    token = _CONTEXT.set(
        {**_CONTEXT.get(), **{key: value for key, value in fields.items() if value is not None}}
    )
    try:
        yield
    finally:
        _CONTEXT.reset(token)


@contextmanager
def scrubbing(secrets: Sequence[str]) -> Iterator[None]:
    """Scrub `secrets` from every record logged inside the block.

    `secrets` is read when a record is made, so a list the block fills later (once the extractor
    has decrypted its credentials) protects the records made from then on.
    """
    _install_scrubbing_factory()
    token = _SECRETS.set(secrets)
    try:
        yield
    finally:
        _SECRETS.reset(token)


def _install_scrubbing_factory() -> None:
    global _factory_installed
    with _FACTORY_LOCK:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def project_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if isinstance(record.name, str) and record.name.startswith(_PROJECT_PREFIX):
                setattr(record, _ORIGIN, record.name)
            secrets = _SECRETS.get()
            if secrets:
                try:
                    message = record.getMessage()
                except Exception:  # a malformed call: logging reports it when formatting
                    return record
                cleaned = scrub(message, list(secrets))
                if cleaned != message:
                    record.msg, record.args = cleaned, ()
            return record

        logging.setLogRecordFactory(project_record)
        _factory_installed = True


def _scrubbed(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, Mapping):
        return {key: _scrubbed(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item, secrets) for item in value]
    return value


class SyncJsonFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message, the sync's fields, the event's."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=_NOT_FIELDS,
            timestamp="time",
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["logger"] = getattr(record, _ORIGIN, record.name)
        context = _CONTEXT.get()
        meta = getattr(record, _DAGSTER_META, None)
        if meta:
            # Dagster rewrote the message as "job - run id - step - message": keep the message.
            log_data["message"] = meta.get("orig_message", log_data.get("message"))
            event = meta.get("dagster_event")
            if event is not None:
                log_data["dagster_event"] = event.event_type_value
            tags = meta.get("job_tags") or {}
            known = {field: tags.get(RUN_TAG_PREFIX + field) for field in SOURCE_FIELDS}
            known.update(run_id=meta.get("run_id"), step=meta.get("step_key"))
            known.update(context)
            context = known
        if context:
            for field in SYNC_FIELDS:
                log_data[field] = context.get(field)
            for field, value in context.items():
                log_data.setdefault(field, value)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        secrets = _SECRETS.get()
        if not secrets:
            return log_data
        return _scrubbed(log_data, list(secrets))


def formatter(log_format: str | None = None) -> logging.Formatter:
    """The formatter of METADATA_PIPELINES_LOG_FORMAT (or of `log_format`)."""
    if (log_format or get_settings().log_format) == "json":
        return SyncJsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


class _NotForwarded(logging.Filter):
    """Leaves out records Dagster already forwarded into a run: the run's loggers print them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not hasattr(record, _DAGSTER_META)


class ProcessHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The process's own log handler: on `stream`, else on whatever sys.stderr is when a record
    comes (as logging's last-resort handler: a replaced stderr is followed, never kept closed),
    in the format the settings name when it comes."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream
        self._formats = {"text": formatter("text"), "json": formatter("json")}
        self.addFilter(_NotForwarded())

    def format(self, record: logging.LogRecord) -> str:
        return self._formats[get_settings().log_format].format(record)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        self._fixed = value


def configure_logging(stream: IO[str] | None = None) -> None:
    """Print this process's logs in the configured format: the project's loggers from
    METADATA_PIPELINES_LOG_LEVEL, other libraries' from WARNING. Once per process."""
    root = logging.getLogger()
    if any(isinstance(handler, ProcessHandler) for handler in root.handlers):
        return
    root.addHandler(ProcessHandler(stream))
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger(LOGGER_NAME).setLevel(get_settings().log_level)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's `log_config`: its server and access logs in the configured format too."""
    handler = {"()": ProcessHandler}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"process": handler},
        "loggers": {
            "uvicorn": {"handlers": ["process"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": ["process"], "level": "INFO", "propagate": False},
            LOGGER_NAME: {"level": get_settings().log_level},
        },
        "root": {"handlers": ["process"], "level": "WARNING"},
    }
