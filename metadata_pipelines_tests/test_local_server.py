"""The launcher of the connectors' protocol servers: started, answered, stopped, nothing left over."""

from __future__ import annotations

import os
import sys

import pytest

from metadata_pipelines_tests.support.local_server import LocalServer, free_port, port_open, running


def _http_server(port: int) -> LocalServer:
    return LocalServer(
        name="http.server",
        command=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        ready=lambda: port_open(port),
        startup_timeout=20,
    )


def test_a_server_answers_once_started_and_its_process_group_is_gone_after():
    port = free_port()
    with running(_http_server(port)) as server:
        assert port_open(port)
        pid = server.process.pid
    assert not port_open(port)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_a_server_that_exits_at_once_reports_its_output():
    server = LocalServer(
        name="broken",
        command=[sys.executable, "-c", "import sys; print('bad flag'); sys.exit(3)"],
        ready=lambda: False,
    )
    with pytest.raises(RuntimeError, match=r"(?s)broken exited with 3.*bad flag"):
        server.start()


def test_a_server_that_never_answers_is_stopped_after_its_timeout():
    server = LocalServer(
        name="silent",
        command=[sys.executable, "-c", "import time; time.sleep(60)"],
        ready=lambda: False,
        startup_timeout=0.5,
    )
    with pytest.raises(TimeoutError, match="silent did not answer"):
        server.start()
    assert server.process is not None and server.process.poll() is not None
