"""Helpers for fault tests around a sync: run the installed command, and hold the persist at its
COPY into `asset_fields` (a lock the test holds) so a fault lands at a chosen moment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import psycopg2

from metadata_pipelines_tests.support.dagster_deployment import wait_for

Connect = Callable[[], "psycopg2.extensions.connection"]


def sync_command(source: str, tenant: str, **env: str) -> subprocess.Popen:
    """`metadata-pipelines sync SOURCE` in a subprocess, with this environment plus `env`."""
    return subprocess.Popen(
        [sys.executable, "-m", "metadata_pipelines", "sync", source, "--tenant", tenant],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def copy_waiting(connect: Connect) -> bool:
    """Whether a `COPY asset_fields` waits for a lock in the catalog."""
    connection = connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND query LIKE 'COPY asset_fields%'"
            )
            return cursor.fetchone()[0] > 0
    finally:
        connection.close()


def wait_for_copy(connect: Connect, timeout: float = 240) -> None:
    wait_for("a persist's COPY to wait for the lock", lambda: copy_waiting(connect), timeout)


@contextmanager
def asset_fields_locked(connect: Connect) -> Iterator[None]:
    """Hold an exclusive lock on asset_fields, so a persist stops at its COPY until the block ends
    (or until the server holding the lock goes away)."""
    blocker = connect()
    blocker.autocommit = False
    blocker.cursor().execute("LOCK TABLE asset_fields IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        with suppress(psycopg2.Error):
            blocker.rollback()
            blocker.close()
