"""Sync requests (`POST /data_sources/{id}/run`) and connector runs."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines_tests.test_api.conftest import DAGSTER_UI_URL, assert_problem

SOURCES = "/api/v1/data_sources"
RUN = {"run_type": "metadata"}


def test_a_request_while_one_is_active_returns_that_run(client, make_source, api_catalog):
    source = make_source(enabled=False)
    client.patch(f"{SOURCES}/{source['id']}", json={"enabled": True})
    url = f"{SOURCES}/{source['id']}/run"

    first = client.post(url, json=RUN)
    assert first.status_code == 202, first.text
    run = first.json()
    assert first.headers["location"] == f"/api/v1/connector_runs/{run['id']}"
    assert run["status"] == "pending"
    assert run["trigger"] == "application"
    assert run["run_type"] == "metadata"
    assert run["links"]["self"] == f"/api/v1/connector_runs/{run['id']}"
    assert run["links"]["dagster_run"] is None  # no Dagster run yet

    again = client.post(url, json=RUN)
    assert again.status_code == 200
    assert again.json()["id"] == run["id"]
    assert client.post(url).json()["id"] == run["id"]  # the body is optional

    # Still the same run while it is running; a new one once it finished.
    api_catalog.connector_runs.open_for_dagster_run(
        tenant_id=client.tenant_id,
        data_source_id=source["id"],
        dagster_run_id=f"dagster-{uuid.uuid4().hex}",
        pending_run_id=run["id"],
    )
    running = client.post(url, json=RUN)
    assert (running.status_code, running.json()["id"], running.json()["status"]) == (
        200,
        run["id"],
        "running",
    )
    api_catalog.connector_runs.finish(run["id"], RunStatus.SUCCEEDED, stats={"inserted": 3})
    after = client.post(url, json=RUN)
    assert after.status_code == 202
    assert after.json()["id"] != run["id"]


def test_unknown_run_type_and_bad_bodies_are_422(client, make_source):
    url = f"{SOURCES}/{make_source()['id']}/run"
    assert_problem(client.post(url, json={"run_type": "profile"}), 422, "validation_failed")
    assert_problem(client.post(url, json={"run_type": 1}), 422, "validation_failed")
    assert_problem(
        client.post(url, json={"run_type": "metadata", "x": 1}), 422, "validation_failed"
    )
    assert_problem(
        client.post(url, content=b"{", headers={"content-type": "application/json"}),
        400,
        "malformed_json",
    )


def test_a_disabled_or_unknown_source_cannot_be_synced(client, make_source):
    disabled = make_source(enabled=False)
    assert_problem(
        client.post(f"{SOURCES}/{disabled['id']}/run", json=RUN), 409, "data_source_disabled"
    )
    assert_problem(
        client.post(f"{SOURCES}/{uuid.uuid4()}/run", json=RUN), 404, "data_source_not_found"
    )


def test_hundred_concurrent_requests_make_exactly_one_pending_run(client, make_source, api_catalog):
    source = make_source(enabled=False)
    client.patch(f"{SOURCES}/{source['id']}", json={"enabled": True})
    url = f"{SOURCES}/{source['id']}/run"

    def request(_: int) -> httpx.Response:
        return client.post(url, json=RUN)

    with ThreadPoolExecutor(max_workers=100) as pool:
        responses = list(pool.map(request, range(100)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 99 + [202], statuses
    assert len({r.json()["id"] for r in responses}) == 1
    runs = api_catalog.connector_runs.list(data_source_id=source["id"])
    assert [(run.status, run.trigger) for run in runs] == [(RunStatus.PENDING, "application")]


def test_idempotency_key_replays_the_first_answer(client, make_source, api_catalog):
    source = make_source(enabled=False)
    client.patch(f"{SOURCES}/{source['id']}", json={"enabled": True})
    url = f"{SOURCES}/{source['id']}/run"
    key = {"Idempotency-Key": f"run-{uuid.uuid4()}"}
    first = client.post(url, json=RUN, headers=key)
    assert first.status_code == 202
    api_catalog.connector_runs.finish(first.json()["id"], RunStatus.FAILED, error_code="boom")
    # The same key: the same run and status code, even though that run has finished meanwhile.
    replayed = client.post(url, json=RUN, headers=key)
    assert (replayed.status_code, replayed.json()["id"]) == (202, first.json()["id"])
    assert replayed.json()["status"] == "failed"
    # Without the key, a new run; the key on another source is refused.
    assert client.post(url, json=RUN).json()["id"] != first.json()["id"]
    other = make_source()
    assert_problem(
        client.post(f"{SOURCES}/{other['id']}/run", json=RUN, headers=key),
        422,
        "idempotency_key_reused",
    )
    assert_problem(
        client.post(url, json=RUN, headers={"Idempotency-Key": "k" * 256}),
        422,
        "validation_failed",
    )


def test_connector_runs_read_back_with_errors_stats_and_dagster_links(
    client, make_source, api_catalog
):
    source = make_source()
    pending_id = source["first_run"]["id"]
    dagster_run_id = f"dagster-{uuid.uuid4().hex}"
    api_catalog.connector_runs.open_for_dagster_run(
        tenant_id=client.tenant_id,
        data_source_id=source["id"],
        dagster_run_id=dagster_run_id,
        pending_run_id=pending_id,
    )
    stats = {"inserted": 5, "extracted": {"table": 2}, "changes": {"tables_added": ["a", "b"]}}
    api_catalog.connector_runs.finish(
        pending_id,
        RunStatus.PARTIAL,
        error_code="partial",
        error_message="1 schema failed",
        stats=stats,
        extraction_errors=[{"scope": ["shop"], "message": "denied"}],
    )
    run = client.get(f"/api/v1/connector_runs/{pending_id}").json()
    assert run["status"] == "partial"
    assert run["attempts"] == 1
    assert run["error"] == {"code": "partial", "message": "1 schema failed"}
    assert run["stats"] == {"inserted": 5, "extracted": {"table": 2}}
    assert run["changes"] == {"tables_added": ["a", "b"]}
    assert run["extraction_errors"] == [{"scope": ["shop"], "message": "denied"}]
    assert run["dagster_run_id"] == dagster_run_id
    assert run["links"]["dagster_run"] == f"{DAGSTER_UI_URL}/runs/{dagster_run_id}"
    assert run["started_at"] and run["finished_at"]
    assert_problem(
        client.get(f"/api/v1/connector_runs/{uuid.uuid4()}"), 404, "connector_run_not_found"
    )


def test_run_history_pages_newest_first(client, make_source, api_catalog):
    source = make_source()
    ids = [source["first_run"]["id"]]
    for _ in range(4):
        api_catalog.connector_runs.finish(ids[-1], RunStatus.SUCCEEDED)
        ids.append(client.post(f"{SOURCES}/{source['id']}/run", json=RUN).json()["id"])
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{SOURCES}/{source['id']}/runs", params=params).json()
        seen.extend(run["id"] for run in page["items"])
        if not (cursor := page["next_cursor"]):
            break
    assert seen == list(reversed(ids))
    assert_problem(
        client.get(f"{SOURCES}/{source['id']}/runs", params={"cursor": "eyJhIjoiYiJ9"}),
        400,
        "invalid_cursor",
    )
    assert_problem(client.get(f"{SOURCES}/{uuid.uuid4()}/runs"), 404, "data_source_not_found")
