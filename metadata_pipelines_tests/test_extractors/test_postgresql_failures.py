"""How the PostgreSQL extractor fails, against real servers.

Authentication, pg_hba and TLS run against a private cluster (`initdb -A scram-sha-256`, see
support/postgresql_cluster.py): the shared server trusts every login. Locks, timeouts, a killed
session and throttling run on the shared server inside this session's own fixture databases and
roles; recovery mode on a private standby.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
)
from metadata_pipelines.extractors.postgresql import PostgreSQLCredentials, PostgreSQLExtractor
from metadata_pipelines.extractors.postgresql.extractor import APPLICATION_NAME
from metadata_pipelines.models import ExtractionStatus, Severity
from metadata_pipelines_tests.support.postgresql_cluster import (
    REJECTED,
    TLS_ONLY,
    PrivateCluster,
    private_cluster,
)
from metadata_pipelines_tests.support.postgresql_source import (
    HOST,
    PORT,
    PostgresFixture,
    admin_config,
    admin_credentials,
    q,
)

SECRET = "s3cr3t-Pa55'\"`;"


def failure(extractor: PostgreSQLExtractor) -> ExtractorError:
    with pytest.raises(ExtractorError) as caught:
        asyncio.run(extractor.extract_metadata())
    return caught.value


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    rendered = [str(error), repr(error), *(str(a) for a in error.args)]
    for secret in secrets:
        assert all(secret not in text for text in rendered)
    assert error.__cause__ is None  # driver exceptions are not chained into what leaves


def cluster_config(cluster: PrivateCluster, **overrides: Any) -> dict[str, Any]:
    return {"host": cluster.host, "port": cluster.port, "connect_timeout": 5, **overrides}


# Config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field", "says"),
    [
        ({}, "host", "Field required"),
        ({"host": "db", "port": 70000}, "port", "less than or equal to 65535"),
        ({"host": "db", "sslmode": "sometimes"}, "sslmode", "Input should be 'disable'"),
        ({"host": "db", "statement_timeout": 0}, "statement_timeout", "greater than 0"),
        ({"host": "db", "max_concurrent_databases": 0}, "max_concurrent_databases", "greater"),
        ({"host": "db", "include_schemas": ["(unclosed"]}, "include_schemas.0", "invalid regular"),
        ({"host": "db", "sslrootcert": "/ca.pem"}, "(root)", "only applies when sslmode"),
        ({"host": "db", "database": "a", "include_databases": ["b"]}, "(root)", "leave include"),
        ({"host": "db", "dbname": "x"}, "dbname", "Extra inputs are not permitted"),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        PostgreSQLExtractor(config, {"username": "u"})
    message = str(caught.value)
    assert message.startswith("invalid postgresql config: ")
    assert f"{field}: " in message and says in message


def test_credentials_are_validated_and_never_shown() -> None:
    with pytest.raises(ConfigurationError) as caught:
        PostgreSQLExtractor({"host": "db"}, {"password": SECRET})
    assert "username: Field required" in str(caught.value)
    assert SECRET not in str(caught.value)
    credentials = PostgreSQLCredentials(username="u", password=SECRET)
    assert SECRET not in repr(credentials) and SECRET not in str(credentials)
    assert credentials.secret_values() == [SECRET]


# Authentication, pg_hba, TLS (private cluster) --------------------------------------------------


def test_wrong_password_is_a_permanent_authentication_error(
    postgres_cluster: PrivateCluster,
) -> None:
    wrong = postgres_cluster.superuser_password + "-wrong"
    extractor = PostgreSQLExtractor(
        cluster_config(postgres_cluster), {"username": "postgres", "password": wrong}
    )
    error = failure(extractor)
    assert isinstance(error, AuthenticationError)
    assert error.retryable is False
    assert 'password authentication failed for user "postgres"' in str(error)
    assert_no_secret(error, wrong, postgres_cluster.superuser_password)
    ok, message = asyncio.run(extractor.test_connection())
    assert ok is False and message is not None and "authentication failed" in message


def test_password_is_scrubbed_even_if_the_server_echoed_it(
    postgres_cluster: PrivateCluster,
) -> None:
    # A user name equal to the password: the server's message names the user.
    extractor = PostgreSQLExtractor(
        cluster_config(postgres_cluster), {"username": SECRET, "password": SECRET}
    )
    error = failure(extractor)
    assert isinstance(error, AuthenticationError)
    assert_no_secret(error, SECRET)
    assert "***" in str(error)


def test_pg_hba_rejection_is_permanent(postgres_cluster: PrivateCluster) -> None:
    extractor = PostgreSQLExtractor(
        cluster_config(postgres_cluster), {"username": REJECTED, "password": "rejected-pw"}
    )
    error = failure(extractor)
    assert isinstance(error, AuthenticationError)
    assert error.retryable is False
    assert "pg_hba.conf rejects connection" in str(error)


def test_tls_required_by_the_server(postgres_cluster: PrivateCluster) -> None:
    credentials = {"username": TLS_ONLY, "password": "tls-only-pw"}
    plain = PostgreSQLExtractor(cluster_config(postgres_cluster, sslmode="disable"), credentials)
    error = failure(plain)
    assert isinstance(error, AuthenticationError)
    assert error.retryable is False
    assert "no pg_hba.conf entry" in str(error) and "no encryption" in str(error)
    assert "over TLS only: check sslmode" in str(error)
    for mode in ("prefer", "require"):
        extractor = PostgreSQLExtractor(cluster_config(postgres_cluster, sslmode=mode), credentials)
        assert asyncio.run(extractor.test_connection()) == (True, None), mode
    verified = PostgreSQLExtractor(
        cluster_config(
            postgres_cluster, sslmode="verify-full", sslrootcert=str(postgres_cluster.ca_file)
        ),
        credentials,
    )
    assert asyncio.run(verified.test_connection()) == (True, None)
    result = asyncio.run(verified.extract_metadata())
    assert [d.name for d in result.databases] == ["postgres"]


def test_untrusted_certificate_is_a_configuration_error(postgres_cluster: PrivateCluster) -> None:
    # The system trust store does not know the cluster's private CA.
    extractor = PostgreSQLExtractor(
        cluster_config(postgres_cluster, sslmode="verify-full"),
        {"username": TLS_ONLY, "password": "tls-only-pw"},
    )
    error = failure(extractor)
    assert isinstance(error, ConfigurationError)
    assert error.retryable is False
    assert "certificate verify failed" in str(error)
    missing = PostgreSQLExtractor(
        cluster_config(postgres_cluster, sslmode="verify-ca", sslrootcert="/nonexistent/ca.pem"),
        {"username": TLS_ONLY, "password": "tls-only-pw"},
    )
    error = failure(missing)
    assert isinstance(error, ConfigurationError)
    assert "root certificate file" in str(error)


def test_tls_required_but_not_offered_is_refused() -> None:
    # The shared server has ssl = off.
    extractor = PostgreSQLExtractor(
        {"host": HOST, "port": PORT, "sslmode": "require"}, admin_credentials()
    )
    error = failure(extractor)
    assert isinstance(error, ConfigurationError)
    assert "server does not support SSL" in str(error)


# Configuration and network ----------------------------------------------------------------------


def test_unknown_database_is_a_configuration_error(postgres_source: PostgresFixture) -> None:
    missing = f"{postgres_source.prefix}missing"
    error = failure(
        PostgreSQLExtractor(admin_config(postgres_source, database=missing), admin_credentials())
    )
    assert isinstance(error, ConfigurationError)
    assert "PostgreSQL error 3D000" in str(error) and missing in str(error)


def test_host_that_does_not_resolve_is_a_configuration_error() -> None:
    extractor = PostgreSQLExtractor(
        {"host": "no-such-host.invalid", "connect_timeout": 2}, {"username": "u"}
    )
    error = failure(extractor)
    assert isinstance(error, ConfigurationError)
    assert error.retryable is False
    assert "host name does not resolve" in str(error)


def test_refused_connection_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    extractor = PostgreSQLExtractor(
        {"host": "127.0.0.1", "port": closed_port}, {"username": "u", "password": SECRET}
    )
    error = failure(extractor)
    assert isinstance(error, SourceUnavailableError)
    assert error.retryable is True
    assert "Connection refused" in str(error)
    assert_no_secret(error, SECRET)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_server_that_never_answers_times_out(silent_server: int) -> None:
    extractor = PostgreSQLExtractor(
        {"host": "127.0.0.1", "port": silent_server, "connect_timeout": 1, "sslmode": "disable"},
        {"username": "u", "password": SECRET},
    )
    error = failure(extractor)
    assert isinstance(error, SourceTimeoutError)
    assert error.retryable is True
    assert "timeout expired" in str(error)


@pytest.fixture
def throttled_role(postgres_server: sa.Engine) -> Iterator[str]:
    role = f"mp_pg_limited_{uuid.uuid4().hex[:6]}"
    with postgres_server.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {q(role)} LOGIN CONNECTION LIMIT 0")
    yield role
    with postgres_server.connect() as connection:
        connection.exec_driver_sql(f"DROP ROLE IF EXISTS {q(role)}")


def test_too_many_connections_is_throttling(throttled_role: str) -> None:
    error = failure(PostgreSQLExtractor({"host": HOST, "port": PORT}, {"username": throttled_role}))
    assert isinstance(error, ThrottledError)
    assert error.retryable is True
    assert "too many connections for role" in str(error)


def test_server_in_recovery_is_transient() -> None:
    with private_cluster(extra_conf="hot_standby = off\n", signal_files=["standby.signal"]) as c:
        extractor = PostgreSQLExtractor(cluster_config(c), {"username": "postgres"})
        error = failure(extractor)
    assert isinstance(error, SourceUnavailableError)
    assert error.retryable is True
    assert "PostgreSQL error 57P03" in str(error)


# Sessions: settings, locks, timeouts, a killed session, concurrency ------------------------------


class _Observed(PostgreSQLExtractor):
    """Looks at its own session from the inside and from pg_stat_activity before each statement."""

    admin: sa.Engine
    seen: list[dict[str, Any]]
    peak_connections: int = 0

    def _query(self, connection, database, sql, args, where):  # type: ignore[no-untyped-def]
        with self._lock:
            self.peak_connections = max(self.peak_connections, len(self._open))
        if sql.strip().startswith("SELECT n.oid, n.nspname"):  # the schemas query, mid-transaction
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('transaction_isolation'),"
                    " current_setting('transaction_read_only'),"
                    " current_setting('statement_timeout'), current_setting('lock_timeout'),"
                    " current_setting('search_path'), current_setting('TimeZone')"
                )
                settings = cursor.fetchone()
            with self.admin.connect() as admin:
                activity = admin.exec_driver_sql(
                    "SELECT application_name, state FROM pg_stat_activity WHERE pid = %(pid)s",
                    {"pid": connection.info.backend_pid},
                ).one()
            self.seen.append(
                {"pid": connection.info.backend_pid, "settings": settings, "activity": activity}
            )
        return super()._query(connection, database, sql, args, where)


def test_each_database_is_read_in_one_read_only_snapshot_then_closed(
    postgres_server: sa.Engine, postgres_source: PostgresFixture
) -> None:
    extractor = _Observed(
        admin_config(postgres_source, statement_timeout=45, lock_timeout=3), admin_credentials()
    )
    extractor.admin, extractor.seen = postgres_server, []
    asyncio.run(extractor.extract_metadata())
    assert len(extractor.seen) == 3
    for seen in extractor.seen:
        assert seen["settings"] == ("repeatable read", "on", "45s", "3s", "pg_catalog", "UTC")
        # Between two of its statements: inside its transaction, waiting for the next one.
        assert tuple(seen["activity"]) == (APPLICATION_NAME, "idle in transaction")
    pids = [seen["pid"] for seen in extractor.seen]
    # Every session closed, so nothing is left idle in a transaction (a backend needs a moment
    # to exit after its client says goodbye).
    deadline = time.monotonic() + 10
    while True:
        with postgres_server.connect() as connection:
            left = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%(pids)s)", {"pids": pids}
            ).scalar()
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == 0


@pytest.mark.parametrize("bound", [1, 2])
def test_databases_are_read_concurrently_up_to_the_bound(
    postgres_server: sa.Engine, postgres_source: PostgresFixture, bound: int
) -> None:
    extractor = _Observed(
        admin_config(postgres_source, max_concurrent_databases=bound), admin_credentials()
    )
    extractor.admin, extractor.seen = postgres_server, []
    result = asyncio.run(extractor.extract_metadata())
    assert len(result.databases) == 3
    assert extractor.peak_connections <= bound


class _MapsWhileReading(PostgreSQLExtractor):
    """Holds each database's mapping until another database's read has started (or 10 s pass)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads_started = 0
        self.overlapped: list[bool] = []
        self._started = threading.Condition()

    def _read_database(self, caps, listed, connection):  # type: ignore[no-untyped-def]
        with self._started:
            self.reads_started += 1
            self._started.notify_all()
        return super()._read_database(caps, listed, connection)

    def _batches(self, caps, outcome):  # type: ignore[no-untyped-def]
        with self._started:
            seen = self.reads_started
            last = seen == len(self.listed_names)
            self.overlapped.append(
                last or self._started.wait_for(lambda: self.reads_started > seen, timeout=10)
            )
        yield from super()._batches(caps, outcome)


def test_one_database_is_mapped_while_the_next_is_read(
    postgres_server: sa.Engine, postgres_source: PostgresFixture
) -> None:
    extractor = _MapsWhileReading(
        admin_config(postgres_source, max_concurrent_databases=1), admin_credentials()
    )
    extractor.listed_names = sorted(postgres_source.databases)
    result = asyncio.run(extractor.extract_metadata())
    assert len(result.databases) == 3
    # Every database but the last was mapped while the next one was being read, one connection
    # at a time all along.
    assert extractor.overlapped == [True, True, True]


@pytest.fixture
def locked_customers(postgres_source: PostgresFixture) -> Iterator[None]:
    """An administrator holding ACCESS EXCLUSIVE on shop.customers, as a long ALTER TABLE would."""
    connection = psycopg2.connect(
        postgres_source.url(postgres_source.main).replace("+psycopg2", "")
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE shop.customers IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        connection.rollback()
        connection.close()


@pytest.mark.parametrize(
    ("timeouts", "says"),
    [
        ({"lock_timeout": 0.5}, "lock timeout"),
        # Long enough for the other databases' statements even on a loaded machine.
        ({"statement_timeout": 3, "lock_timeout": 60}, "statement timeout"),
    ],
)
def test_a_locked_table_times_out_its_database_only(
    postgres_source: PostgresFixture, locked_customers: None, timeouts: dict, says: str
) -> None:
    fx = postgres_source
    extractor = PostgreSQLExtractor(admin_config(fx, **timeouts), admin_credentials())
    result = asyncio.run(extractor.extract_metadata())
    assert result.status is ExtractionStatus.PARTIAL
    assert len(result.errors) == 1
    error = result.errors[0]
    assert (error.scope, error.severity, error.code, error.retryable) == (
        (fx.main,),
        Severity.ERROR,
        "timeout",
        True,
    )
    assert says in error.message and f"of database {fx.main!r}" in error.message
    assert {t.database for t in result.tables} == {fx.other, fx.secret}
    assert fx.main in {d.name for d in result.databases}  # kept, so nothing under it is deleted


class _KilledBefore(PostgreSQLExtractor):
    """Has the administrator terminate this extractor's session just before its n-th statement."""

    admin: sa.Engine
    kill_before: int
    killed: int | None = None

    def _query(self, connection, database, sql, args, where):  # type: ignore[no-untyped-def]
        if self.statements_sent + 1 == self.kill_before:
            self.killed = connection.info.backend_pid
            with self.admin.connect() as admin:
                admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(self.killed)})")
        return super()._query(connection, database, sql, args, where)


@pytest.mark.parametrize("kill_before", [2, 5])
def test_a_session_terminated_mid_extraction_fails_the_sync_as_transient(
    postgres_server: sa.Engine, postgres_source: PostgresFixture, kill_before: int
) -> None:
    # Statement 2 is the first of the database's transaction, 5 its relations query: either way
    # the whole sync fails as retryable rather than a database silently missing.
    fx = postgres_source
    extractor = _KilledBefore(admin_config(fx, database=fx.main), admin_credentials())
    extractor.admin, extractor.kill_before = postgres_server, kill_before
    error = failure(extractor)
    assert extractor.killed is not None
    assert isinstance(error, SourceUnavailableError)
    assert error.retryable is True
    assert f"of database {fx.main!r}" in str(error)


class _DropsAfterListing(PostgreSQLExtractor):
    admin: sa.Engine
    doomed: str

    def _list_databases(self):  # type: ignore[no-untyped-def]
        listing = super()._list_databases()
        with self.admin.connect() as admin:
            admin.exec_driver_sql(f"DROP DATABASE {q(self.doomed)} WITH (FORCE)")
        return listing


def test_a_database_dropped_while_the_sync_runs_is_left_out(
    postgres_server: sa.Engine, postgres_source: PostgresFixture
) -> None:
    fx = postgres_source
    doomed = f"{fx.prefix}doomed"
    with postgres_server.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {q(doomed)}")
    try:
        extractor = _DropsAfterListing(admin_config(fx), admin_credentials())
        extractor.admin, extractor.doomed = postgres_server, doomed
        result = asyncio.run(extractor.extract_metadata())
    finally:
        with postgres_server.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {q(doomed)}")
    assert result.status is ExtractionStatus.SUCCESS
    assert doomed not in {d.name for d in result.databases}
    assert [(e.scope, e.severity, e.code) for e in result.errors] == [
        ((doomed,), Severity.WARNING, "dropped")
    ]
    assert {d.name for d in result.databases} == set(fx.databases)
