"""Protocol servers the connector tests start on loopback (fakesnow, moto, Tansu, SecantusDB, ...).

One subprocess per server, in its own process group on a free port, with its output in a log file;
`start` waits until the server answers and `stop` ends the whole group, so nothing outlives the test
session. A server that cannot start fails the tests under CI (CI=true) and skips them elsewhere, with
the log's tail as the reason, exactly like a missing MariaDB or PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def unavailable(message: str) -> None:
    """Fail (in CI) or skip (elsewhere) the tests that need a server that is not there."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class LocalServer:
    """A server subprocess: `name` for messages, `command` to run, `ready()` true once it answers."""

    name: str
    command: Sequence[str]
    ready: Callable[[], bool]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    startup_timeout: float = 60
    log_path: Path = field(
        default_factory=lambda: Path(tempfile.mkstemp(prefix="mp-server-", suffix=".log")[1])
    )
    process: subprocess.Popen | None = None

    def start(self) -> LocalServer:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                list(self.command),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
                cwd=self.cwd,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with suppress(Exception):
                if self.ready():
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"{self.name} did not answer within {self.startup_timeout:.0f}s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL), as a crash would: for fault-injection tests."""
        if self.process is not None and self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running(server: LocalServer) -> Iterator[LocalServer]:
    """Start `server` for the duration of a fixture; unavailable() if it cannot start."""
    try:
        server.start()
    except (OSError, RuntimeError, TimeoutError) as error:
        unavailable(f"{server.name} could not be started: {error}")
    try:
        yield server
    finally:
        server.stop()
        with suppress(OSError):
            server.log_path.unlink()
