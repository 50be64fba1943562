"""Real-database fixtures shared by every test module.

Servers are found through environment variables with the project machines' defaults. Outside CI a
missing server skips the tests that need it; in CI (CI=true) it fails them, so a green run always means
the real servers were exercised.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

MYSQL_URL = os.environ.get("METADATA_PIPELINES_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
POSTGRES_URL = os.environ.get(
    "METADATA_PIPELINES_TEST_POSTGRES_URL",
    "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _require_server(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, pool_pre_ping=True, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as error:
        engine.dispose()
        message = f"{what} is not reachable at {sa.make_url(url).render_as_string()}: {error}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return engine


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
