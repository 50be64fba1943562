"""A pytest plugin: a test that leaves a process behind fails, and the run fails with it.

Every process the test process has started (and everything those started) that still runs after a
test's teardown (given a few seconds to finish exiting), and was not already running once its setup
had finished, is reported as an error of that test and killed. At the end of the session, after the session fixtures' teardown, any process
still running fails the run. Linux only (reads /proc).

A run started in the background (`nohup`, `&` from a script) begins with SIGINT ignored; Dagster's
in-process runs would pass that on to SIGTERM and every later child process. The plugin restores
SIGINT's default handler first, so the suite behaves the same from a terminal and from a script.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

_AFTER_SETUP = pytest.StashKey[frozenset["Process"]]()
_GRACE = pytest.StashKey[float]()


@dataclass(frozen=True)
class Process:
    pid: int
    start_ticks: int
    command: str

    def __str__(self) -> str:
        return f"{self.pid}: {self.command}"


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, None when it is gone."""
    try:
        text = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _command(pid: int) -> str:
    try:
        raw = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def descendants(root: int | None = None) -> frozenset[Process]:
    """The live (not zombie) processes below `root` (default: this process)."""
    root = os.getpid() if root is None else root
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and stat[1] != "Z":
            children.setdefault(stat[0], []).append((int(entry.name), stat[2]))
    found: set[Process] = set()
    pending = [root]
    while pending:
        for pid, start in children.get(pending.pop(), []):
            found.add(Process(pid, start, _command(pid)))
            pending.append(pid)
    return frozenset(found)


def _kill(processes: frozenset[Process]) -> None:
    for process in processes:
        stat = _stat(process.pid)
        if stat is not None and stat[2] == process.start_ticks:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "process_grace_seconds",
        "seconds a process left after a test may take to exit before it counts as left behind",
        default="5",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_GRACE] = float(config.getini("process_grace_seconds"))
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    try:
        return (yield)
    finally:
        item.stash[_AFTER_SETUP] = descendants()


def _still_running(config: pytest.Config, before: frozenset[Process]) -> frozenset[Process]:
    """Processes below this one not in `before`, given the ini option `process_grace_seconds` to
    finish exiting (a server stopped by a fixture may still be winding down its children)."""
    deadline = time.monotonic() + config.stash[_GRACE]
    left = descendants() - before
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = descendants() - before
    return left


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    result = yield
    left = _still_running(item.config, item.stash.get(_AFTER_SETUP, frozenset()))
    if left:
        _kill(left)
        pytest.fail(
            "the test left processes running (now killed):\n"
            + "\n".join(f"  {process}" for process in sorted(left, key=lambda p: p.pid)),
            pytrace=False,
        )
    return result


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    left = _still_running(session.config, frozenset())
    if left:
        _kill(left)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"  {process}" for process in sorted(left, key=lambda p: p.pid)]
        message = "processes left running after the session (now killed):\n" + "\n".join(lines)
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
