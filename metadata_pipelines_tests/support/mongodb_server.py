"""SecantusDB (MongoDB's wire protocol on WiredTiger) on loopback, for the MongoDB connector's tests.

- `mongodb_server`: one server per session, no authentication; tests use databases of their own.
- `mongodb_auth_server`: one server per session with `--auth`. SecantusDB provisions users the way
  mongod does before access control is on: the fixture starts it once without `--auth`, creates an
  administrator and a user with the built-in `read` role on one database, and restarts it with
  `--auth` on the same storage, so logins are checked with SCRAM-SHA-256 and privileges enforced.
- `private_mongodb`: a server of the test's own with `--enable-test-commands`, for faults injected
  with mongod's `failCommand` fail point (never armed on the shared servers).

Every server is a subprocess in its own process group, stopped at the end (see local_server.py).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from metadata_pipelines_tests.support.local_server import LocalServer, free_port, running

ADMIN = ("admin", "admin-pw-0d5e7c")
READER = ("reader", "reader-pw-81f3aa")
#: The only database READER may read.
READER_DATABASE = "readable"


@dataclass
class MongoServer:
    port: int
    auth: bool = False

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def client(self, user: tuple[str, str] | None = None, **options: Any) -> MongoClient:
        """A synchronous client for setting data up (as the administrator on an auth server)."""
        user = user or (ADMIN if self.auth else None)
        if user:
            options.update(username=user[0], password=user[1], authSource="admin")
        return MongoClient(self.uri, serverSelectionTimeoutMS=5000, **options)

    def config(self, **settings: Any) -> dict[str, Any]:
        return {"connection_string": self.uri, "server_selection_timeout_seconds": 5, **settings}

    def fail_command(self, commands: list[str], *, times: int | None = None, **data: Any) -> None:
        """Arm mongod's `failCommand` fail point (a private server started with test commands)."""
        mode: Any = {"times": times} if times else "alwaysOn"
        with self.client() as client:
            client.admin.command(
                "configureFailPoint",
                "failCommand",
                mode=mode,
                data={"failCommands": commands, **data},
            )

    def clear_faults(self) -> None:
        with self.client() as client:
            client.admin.command("configureFailPoint", "failCommand", mode="off")


def _command(port: int, storage: Path, *flags: str) -> list[str]:
    script = shutil.which("secantusd-py", path=str(Path(sys.executable).parent))
    return [
        script or "secantusd-py",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(storage),
        "--log-level",
        "WARNING",
        *flags,
    ]


def _answers(port: int) -> bool:
    with MongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=500
    ) as client:
        client.admin.command("ping")
    return True


def _server(port: int, storage: Path, *flags: str) -> LocalServer:
    return LocalServer(
        name="secantusd-py", command=_command(port, storage, *flags), ready=lambda: _answers(port)
    )


@contextmanager
def mongod(*flags: str) -> Iterator[MongoServer]:
    """A server on a free port with its own storage, stopped and removed at the end."""
    storage = Path(tempfile.mkdtemp(prefix="mp-mongodb-"))
    port = free_port()
    try:
        with running(_server(port, storage, *flags)):
            yield MongoServer(port)
    finally:
        shutil.rmtree(storage, ignore_errors=True)


@pytest.fixture(scope="session")
def mongodb_server() -> Iterator[MongoServer]:
    with mongod() as server:
        yield server


@pytest.fixture(scope="module")
def private_mongodb() -> Iterator[MongoServer]:
    """A server for one test module's fault injections; each test clears its faults."""
    with mongod("--enable-test-commands") as server:
        yield server


@pytest.fixture(scope="session")
def mongodb_auth_server() -> Iterator[MongoServer]:
    storage = Path(tempfile.mkdtemp(prefix="mp-mongodb-auth-"))
    port = free_port()
    try:
        with running(_server(port, storage)), MongoServer(port).client() as client:
            client.admin.command("createUser", ADMIN[0], pwd=ADMIN[1], roles=["root"])
            client.admin.command(
                "createUser",
                READER[0],
                pwd=READER[1],
                roles=[{"role": "read", "db": READER_DATABASE}],
            )
        with running(_server(port, storage, "--auth")):
            yield MongoServer(port, auth=True)
    finally:
        shutil.rmtree(storage, ignore_errors=True)
