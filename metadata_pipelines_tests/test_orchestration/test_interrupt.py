"""A terminate that interrupts extraction inside the extractor's stream: the interrupt itself
reaches Dagster (so the run ends CANCELED) and the stream's cleanup, which closes the source's
connection, has run — checked on MariaDB in PROCESSLIST with a dedicated account."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator

import dagster as dg
import pytest

from metadata_pipelines.extractors.mysql import MySQLExtractor
from metadata_pipelines.extractors.postgresql import PostgreSQLExtractor
from metadata_pipelines.models import ExtractionBatch
from metadata_pipelines.orchestration.ops import _batches_of
from metadata_pipelines_tests.support import postgresql_source
from metadata_pipelines_tests.test_extractors.mysql_fixture import HOST, PORT


class BlockingStream:
    """An extractor whose second read blocks in a worker thread, as a driver call does."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closed = threading.Event()

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        try:
            yield ExtractionBatch()
            await asyncio.to_thread(self.release.wait, 30)
            yield ExtractionBatch()
        finally:
            await asyncio.to_thread(self.closed.set)  # the connection's close


@pytest.fixture
def interrupt_on_usr1():
    """SIGUSR1 raises Dagster's interrupt in the main thread, as its termination handler does."""

    def interrupt(signum, frame):
        raise dg.DagsterExecutionInterruptedError()

    previous = signal.signal(signal.SIGUSR1, interrupt)
    yield
    signal.signal(signal.SIGUSR1, previous)


def test_an_interrupt_inside_the_stream_propagates_and_closes_it(interrupt_on_usr1):
    extractor = BlockingStream()
    batches = _batches_of(extractor)  # type: ignore[arg-type]
    next(batches)

    def terminate() -> None:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.3)
        extractor.release.set()  # the driver call returns some time after the interrupt

    threading.Thread(target=terminate).start()
    with pytest.raises(dg.DagsterExecutionInterruptedError):  # not "already running"
        next(batches)
    assert extractor.closed.is_set()


def test_a_consumer_that_stops_early_closes_the_stream():
    extractor = BlockingStream()
    extractor.release.set()
    batches = _batches_of(extractor)  # type: ignore[arg-type]
    next(batches)
    batches.close()
    assert extractor.closed.is_set()


@pytest.fixture
def mariadb_user(mysql_server):
    """A dedicated MariaDB account with three databases of its own, so its sessions can be counted
    in PROCESSLIST."""
    name = f"mp_term_{secrets.token_hex(3)}"
    password = secrets.token_hex(8)
    databases = [f"{name}_{i}" for i in range(3)]
    with mysql_server.connect() as connection:
        connection.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY '{password}'")
        for database in databases:
            connection.exec_driver_sql(f"CREATE DATABASE `{database}`")
            connection.exec_driver_sql(f"CREATE TABLE `{database}`.t (id INT PRIMARY KEY)")
            connection.exec_driver_sql(f"GRANT SELECT ON `{database}`.* TO '{name}'@'%%'")
    yield name, password
    with mysql_server.connect() as connection:
        for database in databases:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{database}`")
        connection.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")


def _sessions(mysql_server, user: str) -> int:
    with mysql_server.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (user,)
        ).scalar_one()


def test_terminating_a_mysql_extraction_closes_its_connection(
    mysql_server, mariadb_user, interrupt_on_usr1, monkeypatch
):
    """The interrupt lands while the second database is read in a worker thread (sent from that
    read, so the timing is fixed); afterwards the account has no session left on the server."""
    user, password = mariadb_user
    extractor = MySQLExtractor(
        {"host": HOST, "port": PORT, "include_databases": [re.escape(user) + "_.*"]},
        {"username": user, "password": password},
    )
    read = MySQLExtractor._read_part
    calls = []
    pulling = threading.Event()

    def interrupted_read(self, session, part):
        calls.append(part)
        if len(calls) == 2:  # read ahead while the first batch is handed over
            pulling.wait(10)  # the op asks for the next batch: the loop waits for this read
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.5)  # still reading when the interrupt arrives
        return read(self, session, part)

    monkeypatch.setattr(MySQLExtractor, "_read_part", interrupted_read)
    batches = _batches_of(extractor)
    next(batches)
    assert _sessions(mysql_server, user) == 1  # the stream's connection, open mid-extraction
    pulling.set()
    with pytest.raises(dg.DagsterExecutionInterruptedError):
        for _ in batches:
            pass
    deadline = time.monotonic() + 5
    while _sessions(mysql_server, user) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sessions(mysql_server, user) == 0


def _interrupted_during(sent: str, stopped: threading.Event, statement) -> object:
    """Interrupt this process and run `statement` (a 10 s sleep on the read's connection), sent
    before the interrupt (which lands 0.3 s into it) or once the stream's first stop (`stopped`)
    has come and gone; its result, or the error it raised."""
    if sent == "before the interrupt":
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    else:
        os.kill(os.getpid(), signal.SIGUSR1)
        stopped.wait(10)
    try:
        return statement()
    except Exception as error:  # the kill or cancel may surface as an error
        return error


def _pull_until_interrupted(extractor, pulling: threading.Event) -> None:
    """Pull the first batch, then let the second database's read go on until the interrupt."""
    batches = _batches_of(extractor)
    next(batches)
    pulling.set()
    with pytest.raises(dg.DagsterExecutionInterruptedError):
        for _ in batches:
            pass


@pytest.mark.parametrize("sent", ["before the interrupt", "just after the first kill"])
def test_a_query_running_on_the_server_is_killed_by_the_terminate(
    mysql_server, mariadb_user, interrupt_on_usr1, monkeypatch, sent
):
    """The interrupt lands while the server runs a query of the session (a 10 s `SLEEP` standing
    in for a slow information_schema read), sent before the interrupt or only once a first kill
    has found nothing to stop: the stream kills until the read returns, so the connection closes
    at once, and only then (never under the read's feet). Before, the server ran the query to its
    end (10 s) while the client only closed its socket."""
    user, password = mariadb_user
    extractor = MySQLExtractor(
        {"host": HOST, "port": PORT, "include_databases": [re.escape(user) + "_.*"]},
        {"username": user, "password": password},
    )
    read, kill = MySQLExtractor._read_part, MySQLExtractor._kill_query
    calls = []
    slept: list[object] = []
    pulling, killed = threading.Event(), threading.Event()

    def killing(self, thread_id):
        kill(self, thread_id)
        killed.set()

    def sleep(cursor) -> object:
        cursor.execute("SELECT SLEEP(10)")
        return cursor.fetchone()[0]

    def slow_read(self, session, part):
        calls.append(part)
        if len(calls) == 2:
            pulling.wait(10)
            with session.connection.cursor() as cursor:
                slept.append(_interrupted_during(sent, killed, lambda: sleep(cursor)))
        return read(self, session, part)

    monkeypatch.setattr(MySQLExtractor, "_kill_query", killing)
    monkeypatch.setattr(MySQLExtractor, "_read_part", slow_read)
    _pull_until_interrupted(extractor, pulling)
    # Killed on the server (ER_QUERY_INTERRUPTED, or 1 from an interrupted SLEEP), not ended
    # on its own or cut off only on the client's side.
    [outcome] = slept
    assert outcome == 1 or getattr(outcome, "args", (None,))[0] == 1317, outcome
    assert _sessions(mysql_server, user) == 0


@pytest.fixture
def postgres_role(postgres_server):
    """A dedicated PostgreSQL role with three databases of its own, so its sessions can be counted
    in pg_stat_activity."""
    name = f"mp_term_{secrets.token_hex(3)}"
    databases = [f"{name}_{i}" for i in range(3)]
    with postgres_server.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
        for database in databases:
            connection.exec_driver_sql(f'CREATE DATABASE "{database}" OWNER "{name}"')
    yield name
    with postgres_server.connect() as connection:
        for database in databases:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')


def _postgres_sessions(postgres_server, role: str) -> int:
    """The role's sessions, once those closed by the client are gone: a backend leaves
    pg_stat_activity a moment after its client closed the connection."""
    deadline = time.monotonic() + 5
    while True:
        with postgres_server.connect() as connection:
            count = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)
            ).scalar_one()
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


@pytest.mark.parametrize("sent", ["before the interrupt", "just after the first cancel"])
def test_a_postgresql_statement_running_at_a_terminate_is_cancelled(
    postgres_server, postgres_role, interrupt_on_usr1, monkeypatch, sent
):
    """The interrupt lands while the second database's read runs a 10 s `pg_sleep` (standing in
    for a slow catalog query), sent before the interrupt or only once a first cancel has come and
    gone: the stream cancels on the server until the read returns, and no session of the role is
    left."""
    extractor = PostgreSQLExtractor(
        {
            "host": postgresql_source.HOST,
            "port": postgresql_source.PORT,
            "include_databases": [re.escape(postgres_role) + "_.*"],
            "max_concurrent_databases": 1,
        },
        {"username": postgres_role},
    )
    read, cancel_all = PostgreSQLExtractor._read_rows, PostgreSQLExtractor._cancel_all
    calls: list[str] = []
    slept: list[object] = []
    pulling, cancelled = threading.Event(), threading.Event()

    def cancelling(self):
        cancel_all(self)
        cancelled.set()

    def sleep(cursor) -> object:
        cursor.execute("SELECT pg_sleep(10)")
        return "slept to the end"

    def slow_read(self, connection, caps, listed):
        calls.append(listed.metadata.name)
        if len(calls) == 2:
            pulling.wait(10)
            with connection.cursor() as cursor:
                slept.append(_interrupted_during(sent, cancelled, lambda: sleep(cursor)))
        return read(self, connection, caps, listed)

    monkeypatch.setattr(PostgreSQLExtractor, "_cancel_all", cancelling)
    monkeypatch.setattr(PostgreSQLExtractor, "_read_rows", slow_read)
    _pull_until_interrupted(extractor, pulling)
    [outcome] = slept
    assert getattr(outcome, "pgcode", None) == "57014", outcome  # query_canceled
    assert "canceling statement due to user request" in str(outcome)
    assert _postgres_sessions(postgres_server, postgres_role) == 0
