"""End to end over HTTP: a source registered through the API is synced by the real daemon (its first
sync requested by the API, launched by run_request_sensor), a sync requested with
`POST /data_sources/{id}/run` likewise, and both read back over HTTP until they succeed."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.sample import SAMPLE_TABLES, create_sample_database
from metadata_pipelines_tests.conftest import POSTGRES_URL
from metadata_pipelines_tests.support.dagster_deployment import running_deployment, wait_for
from metadata_pipelines_tests.test_api.conftest import running_api

# Bounds for a loaded 2-core machine (see test_orchestration/test_e2e_daemon.py): two runs, each a
# process loading the code; they only matter when something is stuck.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def e2e_catalog_url(postgres_server):
    name = f"mp_e2e_api_catalog_{uuid.uuid4().hex[:10]}"
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _finished_run(client: httpx.Client, run_id: str) -> dict | None:
    run = client.get(f"/api/v1/connector_runs/{run_id}").json()
    return run if run["status"] not in ("pending", "running") else None


def test_runs_requested_over_http_are_launched_by_the_daemon_and_read_back(
    tmp_path, postgres_database_url, e2e_catalog_url
):
    key = Fernet.generate_key().decode()
    catalog = CatalogDatabase(e2e_catalog_url, CredentialCipher([key]))
    catalog.upgrade()
    _, api_key = catalog.api_keys.create("acme", "e2e")
    sample = create_sample_database(tmp_path / "shop.db")

    with running_deployment(
        tmp_path / "dagster_home", postgres_database_url, e2e_catalog_url, key
    ) as deployment:
        with (
            running_api(
                e2e_catalog_url,
                key,
                tmp_path / "api_home",
                METADATA_PIPELINES_DAGSTER_UI_URL=deployment.url,
            ) as server,
            httpx.Client(
                base_url=server.base_url,  # type: ignore[attr-defined]
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=60,
            ) as client,
        ):
            try:
                created = client.post(
                    "/api/v1/data_sources",
                    json={
                        "name": "shop",
                        "connector_type": "sqlite",
                        "config": {"path": str(sample)},
                    },
                )
                assert created.status_code == 201, created.text
                source = created.json()
                first = wait_for(
                    "the first sync",
                    lambda: _finished_run(client, source["first_run"]["id"]),
                    timeout=300,
                    interval=1,
                )
                requested = client.post(
                    f"/api/v1/data_sources/{source['id']}/run", json={"run_type": "metadata"}
                )
                assert requested.status_code == 202, requested.text
                second = wait_for(
                    "the requested sync",
                    lambda: _finished_run(client, requested.json()["id"]),
                    timeout=300,
                    interval=1,
                )
                history = client.get(f"/api/v1/data_sources/{source['id']}/runs").json()
                tables = client.get(
                    f"/api/v1/data_sources/{source['id']}/assets",
                    params={"type": "table", "limit": 100},
                ).json()["items"]
                orders = client.get(
                    f"/api/v1/assets/{next(t['id'] for t in tables if t['name'] == 'orders')}"
                ).json()
            except Exception:
                print(deployment.log_tail())
                print(server.log_tail())
                raise

        # The first sync is the API's request, unless data_source_sensor ticked between the
        # source's insert and that request: then the API returned the sensor's pending run.
        assert first["trigger"] in ("application", "sensor")
        assert second["trigger"] == "application"
        for run in (first, second):
            assert run["status"] == "succeeded", run
            assert run["attempts"] == 1
            assert run["error"] is None
            assert run["stats"]["extracted"]["table"] == len(SAMPLE_TABLES)
            assert run["links"]["dagster_run"] == f"{deployment.url}/runs/{run['dagster_run_id']}"
            dagster_run = deployment.instance.get_run_by_id(run["dagster_run_id"])
            assert dagster_run.tags[run_tags.CONNECTOR_RUN_ID] == run["id"]
            assert dagster_run.tags["dagster/partition"] == source["partition_key"]
            assert dagster_run.tags[run_tags.DATA_SOURCE_ID] == source["id"]
        assert first["stats"]["inserted"] > 0
        assert second["stats"]["inserted"] == 0  # nothing changed in between
        assert [run["id"] for run in history["items"]] == [second["id"], first["id"]]
        assert sorted(t["name"] for t in tables) == sorted(SAMPLE_TABLES)
        assert [f["name"] for f in orders["fields"]][:2] == ["order_id", "customer_id"]
        assert orders["constraints"]
    catalog.dispose()
