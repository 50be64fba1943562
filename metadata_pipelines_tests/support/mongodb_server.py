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

import datetime
import ipaddress
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pymongo import MongoClient

from metadata_pipelines_tests.support.local_server import (
    LocalServer,
    free_port,
    port_open,
    running,
)

ADMIN = ("admin", "admin-pw-0d5e7c")
READER = ("reader", "reader-pw-81f3aa")
#: The only database READER may read.
READER_DATABASE = "readable"
#: The subject of the X.509 client certificate, and so its user name in `$external`.
X509_SUBJECT = "CN=reader,O=metadata-pipelines"


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


def server_command(port: int, storage: Path, *flags: str) -> list[str]:
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


def answers(port: int) -> bool:
    with MongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=500
    ) as client:
        client.admin.command("ping")
    return True


def _server(port: int, storage: Path, *flags: str) -> LocalServer:
    return LocalServer(
        name="secantusd-py",
        command=server_command(port, storage, *flags),
        ready=lambda: answers(port),
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


@dataclass
class TlsServer:
    """A server that requires TLS with a client certificate signed by `ca_file` (MONGODB-X509)."""

    port: int
    ca_file: Path
    client_pem: str

    def config(self, **settings: Any) -> dict[str, Any]:
        uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true&tls=true&tlsCAFile={self.ca_file}"
        return {"connection_string": uri, "server_selection_timeout_seconds": 5, **settings}


def _pem(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificates(directory: Path) -> tuple[Path, Path, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate for X509_SUBJECT:
    (CA file, server PEM file with its key, client PEM with its key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metadata-pipelines test CA")])

    def issue(subject: x509.Name, key: ec.EllipticCurvePrivateKey, *extensions: Any):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    ca = issue(ca_name, ca_key, (x509.BasicConstraints(ca=True, path_length=None), True))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
        server_key,
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "metadata-pipelines"),
                x509.NameAttribute(NameOID.COMMON_NAME, "reader"),
            ]
        ),
        client_key,
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_file = directory / "server.pem"
    server_file.write_bytes(_pem(server, server_key))
    server_file.chmod(0o600)
    return ca_file, server_file, _pem(client, client_key).decode()


@pytest.fixture(scope="module")
def mongodb_tls_server() -> Iterator[TlsServer]:
    """TLS required, client certificates checked against the test CA, `--auth` on; the user
    X509_SUBJECT in `$external` has `read` on READER_DATABASE, which holds one document."""
    directory = Path(tempfile.mkdtemp(prefix="mp-mongodb-tls-"))
    storage = directory / "data"
    port = free_port()
    try:
        ca_file, server_file, client_pem = certificates(directory)
        with running(_server(port, storage)), MongoServer(port).client() as client:
            client["$external"].command(
                "createUser",
                X509_SUBJECT,
                roles=[{"role": "read", "db": READER_DATABASE}],
                mechanisms=["MONGODB-X509"],
            )
            client[READER_DATABASE].things.insert_one({"a": 1})
        tls = ("--tls-cert-file", str(server_file), "--tls-key-file", str(server_file))
        flags = (*tls, "--tls-ca-file", str(ca_file), "--tls-require-client-cert", "--auth")
        server = LocalServer(
            name="secantusd-py (TLS)",
            command=server_command(port, storage, *flags),
            ready=lambda: port_open(port),
        )
        with running(server):
            yield TlsServer(port, ca_file, client_pem)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
