"""The suite's own hygiene: a test that leaves a process running fails, and the process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from metadata_pipelines_tests.support.process_hygiene import descendants

PLUGIN = "metadata_pipelines_tests.support.process_hygiene"
QUICK = ("-p", PLUGIN, "-o", "process_grace_seconds=0.2")


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_test_leaving_a_process_fails_and_the_process_is_killed(pytester):
    pidfile = pytester.path / "pid"
    pytester.makepyfile(
        f"""
        import subprocess
        from pathlib import Path

        def test_leaks():
            process = subprocess.Popen(["sleep", "600"])
            Path({str(pidfile)!r}).write_text(str(process.pid))

        def test_cleans_up():
            process = subprocess.Popen(["sleep", "600"])
            process.kill()
            process.wait()
        """
    )

    result = pytester.runpytest_subprocess(*QUICK)

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_leaks*", "*left processes running*", "*sleep 600*"]
    )
    leaked = int(pidfile.read_text())
    assert leaked not in {process.pid for process in descendants(1)} or _is_zombie(leaked)


def test_a_process_left_by_a_session_fixture_fails_the_run(pytester):
    pytester.makeconftest(
        """
        import subprocess
        import pytest

        @pytest.fixture(scope="session")
        def server():
            yield subprocess.Popen(["sleep", "600"])  # never stopped
        """
    )
    pytester.makepyfile("def test_uses(server):\n    assert server.poll() is None\n")

    result = pytester.runpytest_subprocess(*QUICK)

    assert result.ret == 1
    result.stdout.fnmatch_lines(["*left running after the session*", "*sleep 600*"])


def test_a_run_started_with_sigint_ignored_gets_the_default_handler(pytester):
    pytester.makepyfile(
        """
        import signal

        def test_handler():
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        """
    )
    command = [sys.executable, "-m", "pytest", *QUICK, str(pytester.path)]

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    finished = subprocess.run(
        command, preexec_fn=ignore_sigint, capture_output=True, text=True, timeout=120
    )

    assert finished.returncode == 0, finished.stdout


def test_grandchildren_are_descendants_too():
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 600 & echo $!; wait"], stdout=subprocess.PIPE, text=True
    )
    try:
        grandchild = int(shell.stdout.readline())
        assert {shell.pid, grandchild} <= {process.pid for process in descendants()}
    finally:
        os.kill(grandchild, signal.SIGKILL)
        shell.wait()
        shell.stdout.close()
