"""A sync's logs: JSON lines with the sync's fields, connector loggers in the run's event log,
and a canary password in neither. The Dagster instance takes `python_logs` from the shipped
embedded instance config, so these tests fail if that config stops forwarding the connectors."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import dagster as dg
import pytest
import yaml

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.logs import SYNC_FIELDS
from metadata_pipelines.orchestration.instance import EMBEDDED_INSTANCE_YAML
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines.settings import get_settings
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED, table, write_source

CANARY = "canary-Pw-7f3a91c2e4"
CONNECTOR_LOGGER = "metadata_pipelines.extractors.scripted"


PRODUCTION_YAML = Path(__file__).parents[2] / "dagster.yaml"


def _python_logs(text: str) -> dict:
    return yaml.safe_load(text)["python_logs"]


EMBEDDED_PYTHON_LOGS = _python_logs(
    files("metadata_pipelines.orchestration").joinpath(EMBEDDED_INSTANCE_YAML).read_text()
)


def test_both_instance_configs_forward_the_connector_loggers():
    assert _python_logs(PRODUCTION_YAML.read_text()) == EMBEDDED_PYTHON_LOGS
    assert "metadata_pipelines" in EMBEDDED_PYTHON_LOGS["managed_python_loggers"]


@pytest.fixture
def logging_instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    overrides = {"python_logs": EMBEDDED_PYTHON_LOGS}
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        yield instance


def _source(catalog, tenant_id, tmp_path, **config):
    source_file = write_source(tmp_path / "source.json", [table("orders", {"id": "bigint"})])
    return catalog.data_sources.create(
        tenant_id=tenant_id,
        name="logged",
        connector_type=SCRIPTED,
        config={
            "source_file": str(source_file),
            "attempts_file": str(tmp_path / "attempts.txt"),
            "log_password": True,
            **config,
        },
        credentials={"password": CANARY},
    )


def _json_logs(monkeypatch):
    monkeypatch.setenv("METADATA_PIPELINES_LOG_FORMAT", "json")
    get_settings.cache_clear()  # the fixtures read the settings already


def _sync(source, instance, job_resources):
    return execute_sync(
        source.id,
        source.tenant_id,
        instance=instance,
        resources=job_resources,
        log_level="INFO",
    )


def test_a_json_sync_prints_parseable_lines_with_every_sync_field(
    job_catalog, logging_instance, job_resources, tenant_id, tmp_path, monkeypatch, capsys
):
    _json_logs(monkeypatch)
    source = _source(job_catalog, tenant_id, tmp_path, failure="transient", fail_times=1)

    outcome = _sync(source, logging_instance, job_resources)

    assert outcome.connector_run.status is RunStatus.SUCCEEDED
    printed = capsys.readouterr().err
    assert CANARY not in printed
    lines = [json.loads(line) for line in printed.splitlines() if line.strip()]
    expected = {
        "tenant_id": tenant_id,
        "data_source_id": source.id,
        "data_source_name": "logged",
        "connector_type": SCRIPTED,
        "connector_run_id": outcome.connector_run.id,
        "run_id": outcome.dagster_run_id,
    }
    events = {line.get("event"): line for line in lines if line.get("event")}
    assert {"retry", "connected", "extracted", "persisted"} <= events.keys()
    for name, step in [
        ("retry", "extract_metadata"),
        ("connected", "check_connection"),
        ("extracted", "extract_metadata"),
        ("persisted", "persist_metadata"),
    ]:
        line = events[name]
        assert {field: line[field] for field in expected} == expected
        assert line["step"] == step and line["level"] and line["time"] and line["message"]
    assert events["retry"]["error_code"] == "source_unavailable"
    assert events["retry"]["attempt"] == 1 and events["extracted"]["attempt"] == 2
    assert events["extracted"]["extracted"]["table"] == 1
    assert events["persisted"]["inserted"] > 0 and events["persisted"]["duration_seconds"] >= 0
    connector = [line for line in lines if line["logger"] == CONNECTOR_LOGGER]
    assert connector, "the connector's own logger line reached the run's console"
    for line in connector:
        assert set(SYNC_FIELDS) <= line.keys()
        assert {field: line[field] for field in expected} == expected
        assert line["step"] == "extract_metadata"
        assert "***" in line["message"] and "***" in line["connection"]


def test_a_connector_logger_line_is_in_the_run_event_log_and_scrubbed(
    job_catalog, logging_instance, job_resources, tenant_id, tmp_path
):
    source = _source(job_catalog, tenant_id, tmp_path)

    outcome = _sync(source, logging_instance, job_resources)

    assert outcome.dagster_success
    entries = logging_instance.all_logs(outcome.dagster_run_id)
    connector = [
        entry for entry in entries if "scripted source opened with password" in entry.user_message
    ]
    assert len(connector) == 1
    assert connector[0].step_key == "extract_metadata"
    assert connector[0].level == 30  # WARNING, as the connector logged it
    assert "***" in connector[0].user_message
    assert not [entry for entry in entries if CANARY in dg.serialize_value(entry)]


def test_the_json_console_follows_the_log_level(
    job_catalog, logging_instance, job_resources, tenant_id, tmp_path, monkeypatch, capsys
):
    _json_logs(monkeypatch)
    source = _source(job_catalog, tenant_id, tmp_path)

    quiet = execute_sync(
        source.id,
        source.tenant_id,
        instance=logging_instance,
        resources=job_resources,
        log_level="ERROR",
    )
    at_error = capsys.readouterr().err
    chatty = _sync(source, logging_instance, job_resources)
    at_info = capsys.readouterr().err

    def run_lines(printed, run_id):
        lines = [json.loads(line) for line in printed.splitlines() if line.strip()]
        return [line for line in lines if line.get("run_id") == run_id]

    assert quiet.dagster_success and chatty.dagster_success
    assert run_lines(at_error, quiet.dagster_run_id) == []
    assert {line["level"] for line in run_lines(at_info, chatty.dagster_run_id)} == {
        "INFO",
        "WARNING",
    }
