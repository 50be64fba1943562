"""Real-database fixtures shared by every test module.

Servers are found through environment variables with the project machines' defaults. Outside CI a
missing server skips the tests that need it; in CI (CI=true) it fails them, so a green run always means
the real servers were exercised.
"""

from __future__ import annotations

import gc
import os
import tempfile
import uuid
from collections.abc import Iterator

# Before any project import: fast op retries, and a private home so no test touches ~/.
os.environ.setdefault("METADATA_PIPELINES_RETRY_DELAY_SECONDS", "0.1")
os.environ["METADATA_PIPELINES_HOME"] = tempfile.mkdtemp(prefix="mp-test-home-")
os.environ.pop("METADATA_PIPELINES_CATALOG_URL", None)
os.environ.pop("DAGSTER_HOME", None)

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines_tests.fakes.unity_catalog_server import FakeUnityCatalog
from metadata_pipelines_tests.support.leftovers import lease_threads
from metadata_pipelines_tests.support.local_server import unavailable
from metadata_pipelines_tests.test_extractors.databricks_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN,
)

# Server fixtures of the connectors, usable from every test package, and the check that no test
# leaves a process behind.
pytest_plugins = [
    "pytester",
    "metadata_pipelines_tests.support.process_hygiene",
    "metadata_pipelines_tests.support.bigquery_server",
    "metadata_pipelines_tests.support.celery_workers",
    "metadata_pipelines_tests.support.mongodb_server",
    "metadata_pipelines_tests.support.postgresql_source",
    "metadata_pipelines_tests.support.postgresql_cluster",
    "metadata_pipelines_tests.support.kafka_broker",
    "metadata_pipelines_tests.support.s3_server",
    "metadata_pipelines_tests.support.snowflake_server",
]

MYSQL_URL = os.environ.get(
    "METADATA_PIPELINES_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"
)
POSTGRES_URL = os.environ.get(
    "METADATA_PIPELINES_TEST_POSTGRES_URL",
    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
)


def _require_server(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, pool_pre_ping=True, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as error:
        engine.dispose()
        unavailable(f"{what} is not reachable at {sa.make_url(url).render_as_string()}: {error}")
    return engine


@pytest.fixture(autouse=True)
def settings_read_afresh() -> Iterator[None]:
    """Each test reads the environment as its fixtures set it; the product reads it once per
    process, so a test that changes it midway calls `get_settings.cache_clear()` itself."""
    from metadata_pipelines.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def no_sync_step_left_open() -> Iterator[None]:
    """However a sync step ends in this process, nothing of it stays behind: a thread renewing a
    lease would touch the catalog (and the settings) of the tests that follow, and a collector
    left frozen would stop collecting anything the process holds."""
    yield
    assert not lease_threads(), "a sync step ended without stopping its lease"
    assert gc.get_freeze_count() == 0, "a sync step ended with the collector frozen"


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[sa.Engine]:
    """An AUTOCOMMIT engine on the MariaDB / MySQL server, as an administrator."""
    engine = _require_server(MYSQL_URL, "MariaDB")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[sa.Engine]:
    """An AUTOCOMMIT engine on the PostgreSQL server's maintenance database."""
    engine = _require_server(POSTGRES_URL, "PostgreSQL")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def mysql_schema(mysql_server: sa.Engine):
    """The MySQL connector's fixture schema (test_extractors/mysql_fixture.py), created once per test
    module and dropped afterwards."""
    from metadata_pipelines_tests.test_extractors.mysql_fixture import create, drop, new_fixture

    fx = new_fixture()
    try:
        create(mysql_server, fx)
        yield fx
    finally:
        drop(mysql_server, fx)


@pytest.fixture
def postgres_database_url(postgres_server: sa.Engine) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"mp_test_{uuid.uuid4().hex[:12]}"
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request) -> str:
    """A fresh, empty catalog database URL; tests using it run on both SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_database_url")
    return request.getfixturevalue("postgres_database_url")


@pytest.fixture
def cipher():
    from metadata_pipelines.catalog.secrets import CredentialCipher

    return CredentialCipher([Fernet.generate_key().decode()])


@pytest.fixture
def catalog(catalog_url, cipher):
    """A migrated catalog on SQLite and on PostgreSQL, with the scripted test connector known."""
    from metadata_pipelines.catalog.database import CatalogDatabase
    from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH, SCRIPTED

    database = CatalogDatabase(catalog_url, cipher)
    database.factory.register(SCRIPTED, IMPORT_PATH)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def tenant_id() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def embedded_home(tmp_path, monkeypatch):
    """The embedded default in a temporary home: SQLite catalog, key file, Dagster instance."""
    monkeypatch.setenv("METADATA_PIPELINES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.delenv("METADATA_PIPELINES_SECRET_KEY", raising=False)
    monkeypatch.delenv("METADATA_PIPELINES_CATALOG_URL", raising=False)
    return tmp_path / "home"


def _fresh_postgres_database(server: sa.Engine, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return name


@pytest.fixture
def production_home(tmp_path, monkeypatch, postgres_server):
    """The README's production configuration, named only by its documented environment variables:
    a PostgreSQL catalog (METADATA_PIPELINES_CATALOG_URL, METADATA_PIPELINES_SECRET_KEY) and a
    Dagster instance home holding the repository's dagster.yaml on PostgreSQL (DAGSTER_HOME,
    DAGSTER_PG_*)."""
    from pathlib import Path

    catalog_db = _fresh_postgres_database(postgres_server, "mp_prod_catalog")
    storage_db = _fresh_postgres_database(postgres_server, "mp_prod_dagster")
    server_url = sa.make_url(POSTGRES_URL)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    repository_yaml = Path(__file__).resolve().parents[1] / "dagster.yaml"
    (dagster_home / "dagster.yaml").write_text(repository_yaml.read_text())
    environment = {
        "METADATA_PIPELINES_HOME": str(tmp_path / "home"),
        "METADATA_PIPELINES_CATALOG_URL": server_url.set(database=catalog_db).render_as_string(
            hide_password=False
        ),
        "METADATA_PIPELINES_SECRET_KEY": Fernet.generate_key().decode(),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_HOST": server_url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(server_url.port or 5432),
        "DAGSTER_PG_USER": server_url.username or "postgres",
        "DAGSTER_PG_PASSWORD": server_url.password or "",
        "DAGSTER_PG_DB": storage_db,
        "METADATA_PIPELINES_MAX_CONCURRENT_RUNS": "4",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    yield tmp_path / "home"
    with postgres_server.connect() as connection:
        for name in (catalog_db, storage_db):
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["embedded", "production"])
def configured_home(request):
    """Each documented configuration in turn: the embedded default and the production one."""
    return request.getfixturevalue(f"{request.param}_home")


@pytest.fixture
def fake() -> Iterator[FakeUnityCatalog]:
    """An empty fake Databricks workspace accepting TOKEN and the OAuth client; asserts it never
    drifted from the Unity Catalog API spec."""
    server = FakeUnityCatalog(
        tokens={TOKEN}, oauth_clients={CLIENT_ID: CLIENT_SECRET}, tables_page_size=2
    ).start()
    yield server
    server.stop()
    assert server.violations == []
