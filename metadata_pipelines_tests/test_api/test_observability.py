"""The served API's /metrics (behind its token) and its logs as JSON lines (the server runs with
METADATA_PIPELINES_LOG_FORMAT=json, see conftest)."""

from __future__ import annotations

import json

import httpx
from prometheus_client.parser import text_string_to_metric_families

from metadata_pipelines_tests.test_api.conftest import METRICS_TOKEN


def test_metrics_answer_the_scraper_token_only(api_server, client, make_source):
    source = make_source()
    url = f"{api_server.base_url}/metrics"
    assert httpx.get(url, timeout=30).status_code == 401
    # A tenant's API key is no metrics token: the metrics name every tenant's sources.
    assert client.get("/metrics").status_code == 401

    response = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30)

    assert response.status_code == 200
    enabled = {
        sample.labels["data_source_id"]: sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "metadata_pipelines_data_source_enabled"
    }
    assert enabled[source["id"]].labels["tenant_id"] == client.tenant_id
    assert enabled[source["id"]].labels["data_source"] == source["name"]
    assert enabled[source["id"]].value == 1


def test_the_server_logs_json_lines(api_server, client):
    client.get("/api/v1/data_sources")

    lines = api_server.log_path.read_text(errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len([line for line in lines if line.strip()]), lines
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("GET /api/v1/data_sources" in r["message"] for r in access)
    assert {"time", "level", "logger", "message"} <= records[0].keys()
