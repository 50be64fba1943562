"""A private PostgreSQL cluster for the tests the shared server cannot host.

The shared server at 127.0.0.1:5432 trusts every local login (a wrong password is accepted there)
and must never be stopped, so authentication, pg_hba, TLS and stop / kill tests run against a cluster
of their own: `initdb -A scram-sha-256` in a temporary directory, a self-signed CA and server
certificate made with `cryptography`, and `postgres` started in the foreground on a free port through
`LocalServer` (its process group is stopped at the end, so nothing outlives the session). PostgreSQL
refuses to run as root, so when the tests run as root the cluster's files belong to the `postgres`
user and its programs run through `runuser`.

pg_hba.conf of the cluster:
- `tls_only` may log in over TLS only (`hostssl`, and no other line names it);
- `rejected` is rejected by a `reject` line;
- the superuser `postgres` logs in with SCRAM and `superuser_password`; no other role has a line.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from metadata_pipelines_tests.support.local_server import (
    LocalServer,
    free_port,
    running,
    unavailable,
)

TLS_ONLY = "tls_only"
REJECTED = "rejected"


def _bin_dir() -> Path | None:
    try:
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        found = ""
    candidates = [Path(found)] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    return None


@dataclass
class PrivateCluster:
    """A running private cluster: where it listens and how to log in to it."""

    directory: Path
    port: int
    superuser_password: str
    ca_file: Path
    server: LocalServer | None = None

    host = "127.0.0.1"

    def connect(self, database: str = "postgres") -> psycopg2.extensions.connection:
        connection = psycopg2.connect(
            host=self.host,
            port=self.port,
            dbname=database,
            user="postgres",
            password=self.superuser_password,
            connect_timeout=5,
        )
        connection.autocommit = True
        return connection

    def execute(self, *statements: str, database: str = "postgres") -> None:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()


def _as_postgres(command: Sequence[str]) -> list[str]:
    """Run a PostgreSQL program as the `postgres` user when we are root (it refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for item in [path, *path.rglob("*")]:
            os.chown(item, user.pw_uid, user.pw_gid)


def _certificates(directory: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 / localhost; returns the CA file."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metadata-pipelines test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "server.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "server.key").chmod(0o600)
    ca_file = directory.parent / "ca.crt"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_file


def _initdb(bin_dir: Path, directory: Path, password: str, extra_conf: str) -> None:
    pwfile = directory.parent / "pwfile"
    pwfile.write_text(password + "\n")
    _own(directory.parent)
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(directory),
                "-A",
                "scram-sha-256",
                "-U",
                "postgres",
                "--pwfile",
                str(pwfile),
                "--no-sync",
                "-E",
                "UTF8",
                "--locale",
                "C.UTF-8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    pwfile.unlink()
    (directory / "pg_hba.conf").write_text(
        "local all postgres scram-sha-256\n"
        f"hostssl all {TLS_ONLY} 127.0.0.1/32 scram-sha-256\n"
        f"host all {REJECTED} 127.0.0.1/32 reject\n"
        "host all postgres 127.0.0.1/32 scram-sha-256\n"
    )
    with (directory / "postgresql.conf").open("a") as conf:
        conf.write(
            "\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{directory}'\n"
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
            "fsync = off\nmax_connections = 20\nshared_buffers = 16MB\n"
            "log_min_messages = warning\n" + extra_conf
        )


@contextmanager
def private_cluster(
    extra_conf: str = "", signal_files: Sequence[str] = ()
) -> Iterator[PrivateCluster]:
    """Make, start and finally stop and remove a private cluster (see the module docstring).

    `signal_files` are created in the data directory before start (`standby.signal` starts it
    in recovery)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL server programs (initdb, postgres) are not installed")
    root = Path(tempfile.mkdtemp(prefix="mp-pg-cluster-"))
    directory = root / "data"
    password = secrets.token_urlsafe(12)
    try:
        directory.mkdir(mode=0o700)
        try:
            _initdb(bin_dir, directory, password, extra_conf)
        except (OSError, subprocess.CalledProcessError) as error:
            stderr = getattr(error, "stderr", b"") or b""
            unavailable(f"initdb failed: {error} {stderr.decode(errors='replace')[-500:]}")
        ca_file = _certificates(directory)
        for name in signal_files:
            (directory / name).touch()
        _own(root)
        port = free_port()
        cluster = PrivateCluster(directory, port, password, ca_file)
        server = LocalServer(
            name="private PostgreSQL cluster",
            command=_as_postgres(
                [str(bin_dir / "postgres"), "-D", str(directory), "-p", str(port)]
            ),
            ready=lambda: _answers(cluster, allow_rejection=bool(signal_files)),
            startup_timeout=60,
        )
        with running(server):
            cluster.server = server
            yield cluster
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _answers(cluster: PrivateCluster, allow_rejection: bool) -> bool:
    try:
        cluster.connect().close()
        return True
    except psycopg2.OperationalError as error:
        # A standby without hot_standby answers, but only to say it is not accepting connections.
        return allow_rejection and "not accepting connections" in str(error)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PrivateCluster]:
    """One private cluster for the session's authentication, pg_hba and TLS tests."""
    with private_cluster() as cluster:
        cluster.execute(
            f"CREATE ROLE {TLS_ONLY} LOGIN PASSWORD 'tls-only-pw'",
            f"CREATE ROLE {REJECTED} LOGIN PASSWORD 'rejected-pw'",
        )
        yield cluster
