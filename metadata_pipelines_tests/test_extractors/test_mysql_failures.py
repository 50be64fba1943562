"""How the MySQL extractor fails: config, authentication, privileges, network, a killed session.

Every failure path runs against something real: the MariaDB server, a closed port, a TCP server that
never answers, or a session killed by the administrator between two of the extractor's queries.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
import sqlalchemy as sa

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from metadata_pipelines.extractors.mysql import MySQLCredentials, MySQLExtractor
from metadata_pipelines_tests.test_extractors.mysql_fixture import (
    HOST,
    PORT,
    MySQLFixture,
    root_config,
    root_credentials,
)

SECRET = "s3cr3t-Pa55'\"`;"


def failure(extractor: MySQLExtractor) -> ExtractorError:
    with pytest.raises(ExtractorError) as caught:
        asyncio.run(extractor.extract_metadata())
    return caught.value


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    rendered = [str(error), repr(error), *(str(a) for a in error.args)]
    for secret in secrets:
        assert all(secret not in text for text in rendered)
    assert error.__cause__ is None  # driver exceptions are not chained into what leaves


# Config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field", "says"),
    [
        ({}, "host", "Field required"),
        ({"host": "db", "port": 0}, "port", "greater than or equal to 1"),
        ({"host": "db", "connection_timeout": 0}, "connection_timeout", "greater than 0"),
        ({"host": "db", "include_tables": ["(unclosed"]}, "include_tables.0", "invalid regular"),
        ({"host": "db", "ssl_ca": "/ca.pem"}, "(root)", "only apply when ssl_enabled"),
        ({"host": "db", "ssl_verify": False}, "(root)", "only apply when ssl_enabled"),
        (
            {"host": "db", "database": "a", "include_databases": ["b"]},
            "(root)",
            "leave include_databases",
        ),
        ({"host": "db", "hostname": "x"}, "hostname", "Extra inputs are not permitted"),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        MySQLExtractor(config, {"username": "u"})
    message = str(caught.value)
    assert message.startswith("invalid mysql config: ")
    assert f"{field}: " in message and says in message


def test_credentials_are_validated_and_never_shown() -> None:
    with pytest.raises(ConfigurationError) as caught:
        MySQLExtractor({"host": "db"}, {"password": SECRET})
    assert "username: Field required" in str(caught.value)
    assert SECRET not in str(caught.value)
    credentials = MySQLCredentials(username="u", password=SECRET)
    assert SECRET not in repr(credentials) and SECRET not in str(credentials)
    assert credentials.secret_values() == [SECRET]


def test_tls_required_but_not_offered_is_refused() -> None:
    # The test server has TLS disabled: the driver would silently fall back to plain text.
    extractor = MySQLExtractor(
        {"host": HOST, "port": PORT, "ssl_enabled": True}, root_credentials()
    )
    error = failure(extractor)
    assert isinstance(error, ConfigurationError)
    assert "does not offer TLS" in str(error)
    missing_ca = MySQLExtractor(
        {"host": HOST, "port": PORT, "ssl_enabled": True, "ssl_ca": "/nonexistent/ca.pem"},
        root_credentials(),
    )
    error = failure(missing_ca)
    assert isinstance(error, ConfigurationError)
    assert "ssl_ca '/nonexistent/ca.pem' cannot be used" in str(error)


# Authentication and privileges ------------------------------------------------------------------


def test_wrong_password_is_a_permanent_authentication_error(
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    wrong = f"{fx.password}-wrong"
    extractor = MySQLExtractor(root_config(fx), {"username": fx.user_one, "password": wrong})
    error = failure(extractor)
    assert isinstance(error, AuthenticationError)
    assert error.retryable is False
    assert f"Access denied for user '{fx.user_one}'" in str(error)
    assert_no_secret(error, wrong, fx.password)
    ok, message = asyncio.run(extractor.test_connection())
    assert ok is False
    assert message is not None and "authentication failed" in message
    assert wrong not in message


def test_password_is_scrubbed_even_if_the_server_echoed_it(
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    # A user name equal to the password: the server's message names the user, so it would
    # contain the secret; the extractor scrubs every credential value from what it raises.
    extractor = MySQLExtractor(root_config(fx), {"username": SECRET, "password": SECRET})
    error = failure(extractor)
    assert isinstance(error, AuthenticationError)
    assert_no_secret(error, SECRET)
    assert "***" in str(error)


def test_configured_database_without_privilege_is_a_privilege_error(
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    extractor = MySQLExtractor(
        root_config(fx, database=fx.secret), {"username": fx.user_one, "password": fx.password}
    )
    error = failure(extractor)
    assert isinstance(error, PrivilegeError)
    assert error.retryable is False
    assert "missing privilege (access to the database)" in str(error)
    assert fx.secret in str(error)
    assert_no_secret(error, fx.password)
    ok, message = asyncio.run(extractor.test_connection())
    assert ok is False and message is not None and fx.secret in message


def test_unknown_database_is_a_configuration_error(
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    missing = f"{fx.prefix}missing"
    error = failure(MySQLExtractor(root_config(fx, database=missing), root_credentials()))
    assert isinstance(error, ConfigurationError)
    assert "MySQL error 1049" in str(error) and missing in str(error)


def test_check_connection_succeeds_for_a_granted_user(
    mysql_schema: MySQLFixture,
) -> None:
    fx = mysql_schema
    extractor = MySQLExtractor(
        root_config(fx, database=fx.main), {"username": fx.user_one, "password": fx.password}
    )
    assert asyncio.run(extractor.test_connection()) == (True, None)


# Network ----------------------------------------------------------------------------------------


def test_refused_connection_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    extractor = MySQLExtractor(
        {"host": "127.0.0.1", "port": closed_port, "connection_timeout": 2},
        {"username": "u", "password": SECRET},
    )
    error = failure(extractor)
    assert isinstance(error, SourceUnavailableError)
    assert error.retryable is True
    assert "MySQL error 2003" in str(error) and "refused" in str(error).lower()
    assert_no_secret(error, SECRET)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word (no MySQL handshake)."""
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
    extractor = MySQLExtractor(
        {"host": "127.0.0.1", "port": silent_server, "connection_timeout": 0.3},
        {"username": "u", "password": SECRET},
    )
    error = failure(extractor)
    assert isinstance(error, SourceTimeoutError)
    assert error.retryable is True
    assert "timed out" in str(error)
    assert_no_secret(error, SECRET)


class _KilledAfter(MySQLExtractor):
    """Has the administrator KILL this extractor's session just before its n-th statement."""

    admin: sa.Engine
    kill_before: int
    killed_thread: int | None = None

    def _query(
        self, connection: pymysql.Connection, sql: str, args: Any, where: str
    ) -> list[tuple[Any, ...]]:
        if self.statements_sent + 1 == self.kill_before:
            self.killed_thread = connection.thread_id()
            with self.admin.connect() as admin:
                admin.exec_driver_sql(f"KILL CONNECTION {int(self.killed_thread)}")
        return super()._query(connection, sql, args, where)


@pytest.mark.parametrize("kill_before", [4, 8])
def test_server_killing_the_session_mid_extraction_is_transient(
    mysql_server: sa.Engine,
    mysql_schema: MySQLFixture,
    kill_before: int,
) -> None:
    # Statement 4 is the first query of the first database, 8 is in the middle of it:
    # either way the whole sync fails as retryable, rather than a database silently missing.
    fx = mysql_schema
    extractor = _KilledAfter(root_config(fx, database=fx.main), root_credentials())
    extractor.admin = mysql_server
    extractor.kill_before = kill_before
    error = failure(extractor)
    assert extractor.killed_thread is not None
    assert isinstance(error, SourceUnavailableError)
    assert error.retryable is True
    assert f"of '{fx.main}'" in str(error)
