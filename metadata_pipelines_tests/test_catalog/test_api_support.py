"""Catalog parts the HTTP API stands on, on SQLite and PostgreSQL: atomic sync requests, API keys,
idempotency keys, asset pages."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from metadata_pipelines.catalog.api_keys import ApiKeyNotFound
from metadata_pipelines.catalog.browse import asset_page, escape_like
from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.idempotency import IdempotentResult
from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import api_idempotency_keys
from metadata_pipelines.models import DatabaseMetadata, ExtractionResult, utcnow
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED


@pytest.fixture
def source(catalog, tenant_id):
    return catalog.data_sources.create(
        tenant_id=tenant_id,
        name="s",
        connector_type=SCRIPTED,
        config={"source_file": "/x.json"},
        credentials={"password": "p"},
    )


def test_concurrent_sync_requests_create_one_pending_run(catalog, source, tenant_id):
    start = threading.Barrier(20)
    created: list[bool] = []
    errors: list[BaseException] = []

    def request() -> None:
        start.wait()
        try:
            created.append(catalog.connector_runs.create_pending(tenant_id, source.id, "manual")[1])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=request) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(created) == [False] * 19 + [True]
    [run] = catalog.connector_runs.list(data_source_id=source.id)
    assert run.status is RunStatus.PENDING


def test_a_sync_request_for_another_tenants_source_is_not_found(catalog, source):
    with pytest.raises(DataSourceNotFound):
        catalog.connector_runs.create_pending("someone-else", source.id, "manual")
    assert catalog.connector_runs.list(data_source_id=source.id) == []


def test_api_keys_authenticate_until_revoked(catalog, tenant_id):
    record, key = catalog.api_keys.create(tenant_id, "ci")
    other, _ = catalog.api_keys.create("other-tenant", "ci")
    assert catalog.api_keys.authenticate(key).id == record.id
    assert catalog.api_keys.authenticate(key + "x") is None
    assert catalog.api_keys.authenticate("") is None
    with pytest.raises(ApiKeyNotFound):
        catalog.api_keys.revoke(tenant_id, other.id)  # not this tenant's
    revoked = catalog.api_keys.revoke(tenant_id, record.prefix)
    assert revoked.revoked_at is not None
    assert catalog.api_keys.authenticate(key) is None
    assert catalog.api_keys.revoke(tenant_id, record.id).revoked_at == revoked.revoked_at
    assert [(k.id, k.prefix, k.name) for k in catalog.api_keys.list(tenant_id)] == [
        (record.id, record.prefix, "ci")
    ]


def test_idempotency_keys_keep_the_first_result_for_a_day(catalog, tenant_id):
    first = IdempotentResult(
        request_hash="h", resource_type="connector_run", resource_id="r1", status_code=202
    )
    second = first.model_copy(update={"resource_id": "r2"})
    assert catalog.idempotency.find(tenant_id, "k") is None
    assert catalog.idempotency.remember(tenant_id, "k", first) == first
    assert catalog.idempotency.remember(tenant_id, "k", second) == first  # the first one wins
    assert catalog.idempotency.find(tenant_id, "k") == first
    assert catalog.idempotency.find("other-tenant", "k") is None
    with catalog.engine.begin() as connection:
        connection.execute(
            api_idempotency_keys.update().values(created_at=utcnow() - timedelta(hours=25))
        )
    assert catalog.idempotency.find(tenant_id, "k") is None
    assert catalog.idempotency.remember(tenant_id, "k", second) == second


def test_asset_search_takes_like_wildcards_literally(catalog, source, tenant_id):
    names = ["a_b", "axb", "50%", "5000", "back\\slash"]
    catalog.persistence.persist(
        tenant_id,
        source.id,
        ExtractionResult.build(
            SCRIPTED, utcnow(), databases=[DatabaseMetadata(name=n) for n in names]
        ),
    )

    def search(text: str) -> list[str]:
        return [a.name for a in asset_page(catalog.engine, tenant_id, source.id, search=text)]

    assert search("a_b") == ["a_b"]
    assert search("50%") == ["50%"]
    assert search("\\") == ["back\\slash"]
    assert sorted(search("A")) == ["a_b", "axb", "back\\slash"]
    assert escape_like("5%_\\") == "5\\%\\_\\\\"
