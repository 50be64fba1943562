"""The HTTP API under test: a real uvicorn server (`metadata-pipelines api`) on a free port, on a
PostgreSQL catalog, called with httpx. One server for the whole package; every test gets its own
tenant (and key), so tests never see each other's data."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.conftest import POSTGRES_URL
from metadata_pipelines_tests.support.local_server import LocalServer, free_port, running

MAX_BODY_BYTES = 64 * 1024
DAGSTER_UI_URL = "http://dagster.internal:3000"
# A password that must never come back in a response or show in the server's log.
CANARY = f"canary-{uuid.uuid4().hex}"
METRICS_TOKEN = f"metrics-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def api_catalog_url(postgres_server: sa.Engine) -> Iterator[str]:
    name = f"mp_test_api_{uuid.uuid4().hex[:10]}"
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def api_secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def api_catalog(api_catalog_url: str, api_secret_key: str) -> Iterator[CatalogDatabase]:
    """The server's catalog, opened by the tests too (to seed assets, create keys, check rows)."""
    catalog = CatalogDatabase(api_catalog_url, CredentialCipher([api_secret_key]))
    catalog.upgrade()
    yield catalog
    catalog.dispose()


@contextmanager
def running_api(catalog_url: str, secret_key: str, home: Path, **env: str) -> Iterator[LocalServer]:
    """`metadata-pipelines api` (two workers) on a free port, serving `catalog_url`."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = LocalServer(
        name="metadata-pipelines api",
        command=[
            str(Path(sys.executable).with_name("metadata-pipelines")),
            "api",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        ready=lambda: httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200,
        env={
            "METADATA_PIPELINES_HOME": str(home),
            "METADATA_PIPELINES_CATALOG_URL": catalog_url,
            "METADATA_PIPELINES_SECRET_KEY": secret_key,
            "METADATA_PIPELINES_API_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            **env,
        },
        startup_timeout=120,
    )
    server.base_url = base_url  # type: ignore[attr-defined]
    with running(server):
        yield server


@pytest.fixture(scope="session")
def api_server(
    api_catalog: CatalogDatabase, api_catalog_url: str, api_secret_key: str, tmp_path_factory
) -> Iterator[LocalServer]:
    with running_api(
        api_catalog_url,
        api_secret_key,
        tmp_path_factory.mktemp("api_home"),
        METADATA_PIPELINES_DAGSTER_UI_URL=DAGSTER_UI_URL + "/",
        METADATA_PIPELINES_METRICS_TOKEN=METRICS_TOKEN,
        METADATA_PIPELINES_LOG_FORMAT="json",
    ) as server:
        yield server


@pytest.fixture
def new_client(
    api_server: LocalServer, api_catalog: CatalogDatabase
) -> Iterator[Callable[..., httpx.Client]]:
    """Makes clients: `new_client()` for a new tenant with its own key, `new_client(key=...)`."""
    clients: list[httpx.Client] = []

    def make(tenant_id: str | None = None, key: str | None = None) -> httpx.Client:
        if key is None:
            tenant_id = tenant_id or f"tenant-{uuid.uuid4().hex[:8]}"
            _, key = api_catalog.api_keys.create(tenant_id, "tests")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.Client(
            base_url=api_server.base_url,  # type: ignore[attr-defined]
            headers=headers,
            timeout=60,
        )
        client.tenant_id = tenant_id  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(new_client) -> httpx.Client:
    return new_client()


@pytest.fixture(scope="session")
def sample_path(tmp_path_factory) -> str:
    return str(create_sample_database(tmp_path_factory.mktemp("sample") / "shop.db"))


@pytest.fixture
def make_source(client: httpx.Client, sample_path: str) -> Callable[..., dict]:
    """Register a SQLite source over the API (as `client`'s tenant) and return its body."""

    def make(name: str | None = None, via: httpx.Client | None = None, **body) -> dict:
        payload = {
            "name": name or f"shop-{uuid.uuid4().hex[:6]}",
            "connector_type": "sqlite",
            "config": {"path": sample_path},
            **body,
        }
        response = (via or client).post("/api/v1/data_sources", json=payload)
        assert response.status_code == 201, response.text
        return response.json()

    return make


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"]
    return body
