"""Snowflake test servers: one fakesnow per session, behind a fresh front per test.

fakesnow runs in server mode (`fakesnow -s`) from this project's virtualenv on a free loopback port;
the real snowflake-connector-python talks to it over HTTP. Each test gets a `SnowflakeFront` (see
fakes/snowflake_front.py) with no users, limits or policies, and creates databases named with its
own prefix, since the fakesnow instance is shared by the session.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from snowflake import connector as snowflake_connector

from metadata_pipelines_tests.fakes.snowflake_front import SnowflakeFront
from metadata_pipelines_tests.support.local_server import (
    LocalServer,
    free_port,
    port_open,
    running,
    unavailable,
)

ACCOUNT = "fakesnow"


def _fakesnow_command() -> str | None:
    beside = Path(sys.executable).parent / "fakesnow"
    return str(beside) if beside.exists() else shutil.which("fakesnow")


@pytest.fixture(scope="session")
def fakesnow() -> Iterator[int]:
    """A running fakesnow server for the whole session; its port."""
    command = _fakesnow_command()
    if command is None:
        unavailable("fakesnow is not installed (pip install 'fakesnow[server]==0.12.1')")
    port = free_port()
    server = LocalServer(
        name="fakesnow",
        command=[command, "-s", "--host", "127.0.0.1", "-p", str(port)],
        ready=lambda: port_open(port),
        startup_timeout=90,
    )
    with running(server):
        yield port


@pytest.fixture
def snowflake(fakesnow: int) -> Iterator[SnowflakeFront]:
    """A fresh front on the session's fakesnow: no users (any login passes), no policies."""
    front = SnowflakeFront(upstream=f"http://127.0.0.1:{fakesnow}").start()
    yield front
    front.stop()


@pytest.fixture
def snowflake_prefix() -> str:
    """Databases of one test share fakesnow with the others: name them with this prefix."""
    return f"T{uuid.uuid4().hex[:8].upper()}_"


def admin(port: int) -> Any:
    """A connection straight to fakesnow, for setting up objects (not through the front)."""
    return snowflake_connector.connect(
        user="ADMIN",
        password="unused",
        account=ACCOUNT,
        host="127.0.0.1",
        port=port,
        protocol="http",
        login_timeout=30,
    )


def run(port: int, *statements: str) -> None:
    connection = admin(port)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def source_config(front: SnowflakeFront, prefix: str, **config: Any) -> dict[str, Any]:
    """A data source config reading the databases named with `prefix` through `front`."""
    return {
        "account": ACCOUNT,
        "host": "127.0.0.1",
        "port": front.port,
        "protocol": "http",
        "include_databases": [f"{prefix}.*"],
        "login_timeout": 20,
        "network_timeout": 30,
        **config,
    }
