"""The process log format: the sync's fields from the context, event fields, scrubbing, the switch."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from metadata_pipelines.logs import (
    SYNC_FIELDS,
    ProcessHandler,
    SyncJsonFormatter,
    formatter,
    log_context,
    scrubbing,
)

CANARY = "canary-Secret-88d1e0"


@pytest.fixture
def json_lines():
    """A logger that prints JSON lines into a buffer; returns (logger, lines reader)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SyncJsonFormatter())
    logger = logging.getLogger("metadata_pipelines.tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_a_record_inside_a_sync_context_carries_every_sync_field(json_lines):
    logger, lines = json_lines
    context = {
        "tenant_id": "acme",
        "data_source_id": "ds-1",
        "data_source_name": "sales",
        "connector_type": "mysql",
        "connector_run_id": "cr-1",
        "run_id": "run-1",
        "step": "extract_metadata",
    }

    async def connector_task():  # a connector's asyncio task inherits the context
        logger.info("listed %d databases", 3, extra={"databases": 3})

    with log_context(**context, attempt=2):
        asyncio.run(connector_task())
    logger.info("outside")

    inside, outside = lines()
    assert {field: inside[field] for field in SYNC_FIELDS} == context
    assert inside["attempt"] == 2 and inside["databases"] == 3
    assert inside["message"] == "listed 3 databases" and inside["level"] == "INFO"
    assert inside["logger"] == "metadata_pipelines.tests.logs" and inside["time"]
    assert not set(SYNC_FIELDS) & outside.keys()


def test_secrets_are_scrubbed_from_messages_fields_and_tracebacks(json_lines):
    logger, lines = json_lines
    secrets: list[str] = []
    with log_context(data_source_id="ds-1"), scrubbing(secrets):
        secrets.append(CANARY)  # filled once the extractor decrypted its credentials
        logger.warning("login with %s failed", CANARY, extra={"dsn": f"mysql://u:{CANARY}@h"})
        try:
            raise RuntimeError(f"refused for {CANARY}")
        except RuntimeError:
            logger.exception("connection error", extra={"nested": {"password": [CANARY]}})
    logger.warning("after the step: %s", "no secrets bound")

    printed = json.dumps(lines())
    assert CANARY not in printed
    first, second, third = lines()
    assert first["message"] == "login with *** failed" and first["dsn"] == "mysql://u:***@h"
    assert "***" in second["exc_info"] and second["nested"] == {"password": ["***"]}
    assert third["message"] == "after the step: no secrets bound"


def test_the_format_switch(monkeypatch):
    from metadata_pipelines.settings import get_settings

    assert isinstance(formatter(), logging.Formatter)
    assert not isinstance(formatter(), SyncJsonFormatter)  # text by default
    monkeypatch.setenv("METADATA_PIPELINES_LOG_FORMAT", "JSON")
    get_settings.cache_clear()
    assert isinstance(formatter(), SyncJsonFormatter)
    monkeypatch.setenv("METADATA_PIPELINES_LOG_FORMAT", "xml")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="METADATA_PIPELINES_LOG_FORMAT='xml'"):
        formatter()


def test_the_process_handler_leaves_records_a_dagster_run_already_printed():
    stream = io.StringIO()
    handler = ProcessHandler(stream)
    logger = logging.getLogger("metadata_pipelines.tests.process")
    logger.addHandler(handler)
    try:
        logger.warning("printed")
        logger.warning("forwarded", extra={"dagster_meta": {"run_id": "r"}})
    finally:
        logger.removeHandler(handler)
    assert "printed" in stream.getvalue() and "forwarded" not in stream.getvalue()
