"""`/api/v1/data_sources`: create, list, read, change, remove, test the connection."""

from __future__ import annotations

import uuid

import httpx

from metadata_pipelines_tests.test_api.conftest import CANARY, MAX_BODY_BYTES, assert_problem

SOURCES = "/api/v1/data_sources"


def test_create_returns_the_source_and_requests_its_first_sync(client, sample_path, api_catalog):
    response = client.post(
        SOURCES,
        json={
            "name": "shop",
            "connector_type": "sqlite",
            "config": {"path": sample_path},
            "sync_schedule": "0 3 * * *",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{SOURCES}/{body['id']}"
    assert body["name"] == "shop"
    assert body["partition_key"] == f"{client.tenant_id}/shop"
    assert body["connector_type"] == "sqlite"
    assert body["config"] == {"path": sample_path}
    assert body["has_credentials"] is False
    assert body["enabled"] is True
    assert body["sync_schedule"] == "0 3 * * *"
    assert body["links"]["runs"] == f"{SOURCES}/{body['id']}/runs"
    first = body["first_run"]
    assert first["status"] == "pending"
    assert first["trigger"] == "application"
    assert first["data_source_id"] == body["id"]
    # What the catalog holds agrees, and there is exactly one pending run.
    stored = api_catalog.data_sources.get(body["id"], client.tenant_id)
    assert stored.sync_schedule == "0 3 * * *"
    runs = api_catalog.connector_runs.list(tenant_id=client.tenant_id, data_source_id=body["id"])
    assert [run.id for run in runs] == [first["id"]]


def test_a_disabled_source_gets_no_first_sync(client, make_source):
    body = make_source(enabled=False)
    assert body["enabled"] is False
    assert body["first_run"] is None


def test_create_refuses_bad_input_with_a_clear_problem(client, sample_path, make_source):
    make_source(name="taken")
    valid = {"name": "new", "connector_type": "sqlite", "config": {"path": sample_path}}
    cases = [
        ({**valid, "name": "taken"}, 409, "data_source_exists"),
        ({**valid, "connector_type": "oracle"}, 422, "invalid_config"),
        ({**valid, "config": {"path": ""}}, 422, "invalid_config"),
        ({**valid, "config": {"path": sample_path, "unknown_option": 1}}, 422, "invalid_config"),
        ({**valid, "sync_schedule": "every day"}, 422, "validation_failed"),
        ({**valid, "surprise": True}, 422, "validation_failed"),
        ({**valid, "config": "path=/tmp/x"}, 422, "validation_failed"),
        ({**valid, "enabled": "maybe"}, 422, "validation_failed"),
        ({**valid, "name": ""}, 422, "validation_failed"),
        ({"connector_type": "sqlite", "config": {}}, 422, "validation_failed"),
        ([valid], 422, "validation_failed"),
    ]
    for payload, status, code in cases:
        body = assert_problem(client.post(SOURCES, json=payload), status, code)
        if code == "validation_failed":
            assert body["errors"] and all(set(e) == {"loc", "msg", "type"} for e in body["errors"])
    surprise = client.post(SOURCES, json={**valid, "surprise": True}).json()
    assert surprise["errors"][0]["loc"] == ["body", "surprise"]
    listed = client.get(SOURCES).json()["items"]
    assert [s["name"] for s in listed] == ["taken"]


def test_malformed_json_is_a_400(client):
    response = client.post(
        SOURCES, content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_json")


def test_oversize_bodies_are_refused_declared_or_chunked(client, sample_path):
    big = {
        "name": "big",
        "connector_type": "sqlite",
        "config": {"path": sample_path, "padding": "x" * MAX_BODY_BYTES},
    }
    assert_problem(client.post(SOURCES, json=big), 413, "body_too_large")

    def chunks():
        yield b'{"name": "big", "connector_type": "sqlite", "config": {"path": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"x" * 1024
        yield b'"}}'

    response = client.post(SOURCES, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "body_too_large")
    # A body just under the limit is read normally.
    response = client.post(
        SOURCES, json={**big, "config": {"path": sample_path, "x": "y" * (MAX_BODY_BYTES // 2)}}
    )
    assert_problem(response, 422, "invalid_config")
    assert client.get(SOURCES).json()["items"] == []


def test_list_pages_by_name_with_an_opaque_cursor_and_filters_by_type(client, make_source):
    names = [f"src-{i:02d}" for i in range(7)]
    for name in reversed(names):
        make_source(name=name)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(SOURCES, params=params).json()
        seen.extend(s["name"] for s in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 3
    assert seen == names
    assert client.get(SOURCES, params={"connector_type": "mysql"}).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert len(client.get(SOURCES, params={"connector_type": "sqlite"}).json()["items"]) == 7
    for bad in ("not-base64!", "e30", "eyJuYW1lIjogMX0"):  # garbage, {}, {"name": 1}
        assert_problem(client.get(SOURCES, params={"cursor": bad}), 400, "invalid_cursor")
    for limit in (0, 501, "many"):
        assert_problem(client.get(SOURCES, params={"limit": limit}), 422, "validation_failed")


def test_get_patch_and_delete(client, make_source, api_catalog):
    source = make_source()
    url = f"{SOURCES}/{source['id']}"
    fetched = client.get(url).json()
    assert {k: v for k, v in fetched.items()} == {
        k: v for k, v in source.items() if k != "first_run"
    }

    changed = client.patch(url, json={"sync_schedule": "*/5 * * * *", "enabled": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["sync_schedule"] == "*/5 * * * *"
    assert changed.json()["enabled"] is False
    # Fields not given keep their value; an explicit null removes the schedule.
    cleared = client.patch(url, json={"sync_schedule": None}).json()
    assert cleared["sync_schedule"] is None
    assert cleared["enabled"] is False
    assert client.patch(url, json={"config": {"path": "/elsewhere.db"}}).json()["config"] == {
        "path": "/elsewhere.db"
    }
    assert_problem(client.patch(url, json={"config": {"path": ""}}), 422, "invalid_config")
    assert_problem(client.patch(url, json={"config": None}), 422, "invalid_config")
    assert_problem(client.patch(url, json={"sync_schedule": "0 0"}), 422, "validation_failed")
    assert_problem(client.patch(url, json={"name": "renamed"}), 422, "validation_failed")
    assert_problem(client.patch(url, json={"enabled": [1]}), 422, "validation_failed")
    assert api_catalog.data_sources.get(source["id"]).config == {"path": "/elsewhere.db"}

    assert client.delete(url).status_code == 204
    assert_problem(client.get(url), 404, "data_source_not_found")
    assert_problem(client.delete(url), 404, "data_source_not_found")
    assert_problem(client.patch(url, json={"enabled": True}), 404, "data_source_not_found")
    # Its runs went with it.
    assert api_catalog.connector_runs.list(data_source_id=source["id"]) == []


def test_unknown_ids_and_routes_are_problems_too(client):
    assert_problem(client.get(f"{SOURCES}/{uuid.uuid4()}"), 404, "data_source_not_found")
    assert_problem(client.get(f"{SOURCES}/{'x' * 65}"), 422, "validation_failed")
    assert_problem(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_problem(client.put(SOURCES, json={}), 405, "method_not_allowed")


def test_idempotency_key_replays_a_create(client, sample_path):
    payload = {"name": "once", "connector_type": "sqlite", "config": {"path": sample_path}}
    headers = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = client.post(SOURCES, json=payload, headers=headers)
    again = client.post(SOURCES, json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["first_run"]["id"] == first.json()["first_run"]["id"]
    other = client.post(SOURCES, json={**payload, "name": "twice"}, headers=headers)
    assert_problem(other, 422, "idempotency_key_reused")
    assert [s["name"] for s in client.get(SOURCES).json()["items"]] == ["once"]


def test_connection_test_reports_success_and_failure(client, make_source, mysql_server):
    ok = make_source()
    assert client.post(f"{SOURCES}/{ok['id']}/test").json() == {"ok": True, "message": None}

    missing = make_source(config={"path": "/nonexistent/gone.db"})
    result = client.post(f"{SOURCES}/{missing['id']}/test").json()
    assert result["ok"] is False
    assert "not found" in result["message"]

    url = mysql_server.url
    denied = make_source(
        connector_type="mysql",
        config={"host": url.host, "port": url.port or 3306, "connection_timeout": 10},
        credentials={"username": f"nobody_{uuid.uuid4().hex[:6]}", "password": CANARY},
    )
    response = client.post(f"{SOURCES}/{denied['id']}/test")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert response.json()["message"]
    assert CANARY not in response.text


def test_credentials_are_stored_encrypted_and_never_returned(client, make_source, api_catalog):
    source = make_source(
        connector_type="mysql",
        config={"host": "db.internal"},
        credentials={"username": "reader", "password": CANARY},
    )
    url = f"{SOURCES}/{source['id']}"
    responses = [
        client.get(url),
        client.get(SOURCES),
        client.patch(url, json={"credentials": {"username": "reader", "password": CANARY + "2"}}),
        client.patch(url, json={"credentials": {"username": "reader", "password": 5}}),
        client.patch(url, json={"credentials": {"password": CANARY}}),
        client.get(f"{url}/runs"),
    ]
    assert source["has_credentials"] is True
    assert "credentials" not in source
    for response in responses:
        assert CANARY not in response.text, response.request.url
        assert "reader" not in response.text
    assert responses[2].status_code == 200
    assert responses[3].status_code == 422
    assert responses[4].status_code == 422
    assert api_catalog.data_sources.credentials(source["id"], client.tenant_id) == {
        "username": "reader",
        "password": CANARY + "2",
    }
    with api_catalog.engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT credentials_encrypted FROM data_sources WHERE id = %s", (source["id"],)
        ).scalar_one()
    assert CANARY not in stored


def test_openapi_document_and_docs_are_served(api_server):
    base = api_server.base_url
    spec = httpx.get(f"{base}/api/v1/openapi.json").json()
    assert {
        "/api/v1/data_sources",
        "/api/v1/data_sources/{source_id}",
        "/api/v1/data_sources/{source_id}/run",
        "/api/v1/data_sources/{source_id}/test",
        "/api/v1/data_sources/{source_id}/runs",
        "/api/v1/data_sources/{source_id}/assets",
        "/api/v1/connector_runs/{run_id}",
        "/api/v1/assets/{asset_id}",
    } <= set(spec["paths"])
    assert "ApiKey" in spec["components"]["securitySchemes"]
    run = spec["paths"]["/api/v1/data_sources/{source_id}/run"]["post"]["responses"]
    assert set(run) == {"200", "202", "4XX", "5XX"}
    assert run["4XX"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("Problem")
    docs = httpx.get(f"{base}/api/v1/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
