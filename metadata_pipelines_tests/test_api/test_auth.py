"""Bearer API keys and tenant isolation: another tenant's ids are 404 on every endpoint."""

from __future__ import annotations

import httpx
import pytest

from metadata_pipelines.catalog.api_keys import key_digest
from metadata_pipelines_tests.test_api.conftest import assert_problem

SOURCES = "/api/v1/data_sources"


def _endpoints(source_id: str, run_id: str, asset_id: str) -> list[tuple[str, str, dict | None]]:
    """Every endpoint of the API, with ids and a valid body where one is needed."""
    source = f"{SOURCES}/{source_id}"
    return [
        ("GET", SOURCES, None),
        ("POST", SOURCES, {"name": "n", "connector_type": "sqlite", "config": {"path": "/x.db"}}),
        ("GET", source, None),
        ("PATCH", source, {"enabled": False}),
        ("DELETE", source, None),
        ("POST", f"{source}/run", {"run_type": "metadata"}),
        ("POST", f"{source}/test", None),
        ("GET", f"{source}/runs", None),
        ("GET", f"{source}/assets", None),
        ("GET", f"/api/v1/connector_runs/{run_id}", None),
        ("GET", f"/api/v1/assets/{asset_id}", None),
    ]


@pytest.fixture
def owned(client, make_source, api_catalog):
    """A source of `client`'s tenant with a run and a synced asset."""
    from metadata_pipelines.models import DatabaseMetadata, ExtractionResult, utcnow

    source = make_source()
    api_catalog.persistence.persist(
        client.tenant_id,
        source["id"],
        ExtractionResult.build("sqlite", utcnow(), databases=[DatabaseMetadata(name="main")]),
    )
    [asset] = client.get(f"{SOURCES}/{source['id']}/assets").json()["items"]
    return source, source["first_run"]["id"], asset["id"]


def test_missing_malformed_unknown_and_revoked_keys_are_401(new_client, owned, api_catalog):
    endpoints = _endpoints(*(owned[0]["id"], owned[1], owned[2]))
    anonymous = new_client(key="")
    unknown = new_client(key="mpk_" + "A" * 40)
    not_ours = new_client(key="not-even-a-key")
    tenant = "revoking-tenant"
    revoked = new_client(tenant_id=tenant)
    [record] = api_catalog.api_keys.list(tenant)
    assert revoked.get(SOURCES).status_code == 200
    api_catalog.api_keys.revoke(tenant, record.prefix)
    for method, url, body in endpoints:
        problem = assert_problem(anonymous.request(method, url, json=body), 401, "missing_api_key")
        assert "Bearer" in problem["detail"]
        for client in (unknown, not_ours, revoked):
            response = client.request(method, url, json=body)
            assert_problem(response, 401, "invalid_api_key")
            assert response.headers["www-authenticate"].startswith("Bearer")
    basic = httpx.get(anonymous.base_url.join(SOURCES), auth=("user", "pass"))
    assert_problem(basic, 401, "missing_api_key")


def test_keys_are_stored_as_digests_only(api_catalog):
    record, key = api_catalog.api_keys.create("digest-tenant", "ci")
    assert key.startswith(record.prefix)
    with api_catalog.engine.connect() as connection:
        row = (
            connection.exec_driver_sql("SELECT * FROM api_keys WHERE id = %s", (record.id,))
            .mappings()
            .one()
        )
    assert key not in [str(value) for value in row.values()]
    assert row["key_hash"] == key_digest(key)


def test_another_tenants_ids_are_not_found_on_every_endpoint(
    client, new_client, owned, api_catalog
):
    source, run_id, asset_id = owned
    intruder = new_client()
    for method, url, body in _endpoints(source["id"], run_id, asset_id):
        response = intruder.request(method, url, json=body)
        if url == SOURCES:
            # Listing and creating work, within the intruder's own tenant only.
            assert response.status_code in (200, 201), response.text
            if method == "GET":
                assert source["id"] not in response.text
            continue
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["code"].endswith("_not_found")
    assert [s["id"] for s in intruder.get(SOURCES).json()["items"]] != [source["id"]]
    # Nothing of the owner's changed.
    stored = api_catalog.data_sources.get(source["id"], client.tenant_id)
    assert stored.enabled is True
    assert [run.id for run in api_catalog.connector_runs.list(data_source_id=source["id"])] == [
        run_id
    ]
    assert client.get(f"/api/v1/assets/{asset_id}").status_code == 200
