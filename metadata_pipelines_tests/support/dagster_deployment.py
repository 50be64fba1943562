"""A real Dagster deployment on this machine: dagster-daemon and dagster-webserver subprocesses
on a PostgreSQL instance (the repository's dagster.yaml), for the end-to-end test and benchmark.
With `code_server=True` they share one `dagster code-server` (workspace-code-server.yaml, the
production layout) instead of each starting its own.

Every process started here, and everything they start (code servers, run workers), carries a marker
in its environment, so `leftover_pids()` finds any survivor after `stop()`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import httpx
import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MARKER_ENV = "METADATA_PIPELINES_E2E_MARKER"

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
  }
}
"""

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Deployment:
    home: Path
    port: int
    env: dict[str, str]
    instance: dg.DagsterInstance
    code_server_port: int | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        workspace = "workspace.yaml"
        if self.code_server_port is not None:
            # The repository's workspace-code-server.yaml, on the port picked here.
            template = (REPO_ROOT / "workspace-code-server.yaml").read_text()
            workspace = str(self.home / "workspace.yaml")
            Path(workspace).write_text(
                template.replace("port: 4000", f"port: {self.code_server_port}")
            )
            self._spawn(
                "code_server",
                [
                    str(BIN / "dagster"),
                    "code-server",
                    "start",
                    "-m",
                    "metadata_pipelines.definitions",
                    "--location-name",
                    "metadata_pipelines",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.code_server_port),
                ],
            )
            wait_for("the code server", self._code_server_ready, timeout=120)
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])
        self._spawn(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-w",
                workspace,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
        )
        wait_for("the webserver", self._webserver_ready, timeout=90)

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.home / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
        log.close()

    def _code_server_ready(self) -> bool:
        from dagster._grpc.client import DagsterGrpcClient

        self._check_alive()
        with socket.socket() as sock:  # listening yet? (the client logs every refused attempt)
            if sock.connect_ex(("127.0.0.1", self.code_server_port)) != 0:
                return False
        client = DagsterGrpcClient(port=self.code_server_port, host="127.0.0.1")
        try:
            return client.health_check_query() == "SERVING"
        except Exception:
            return False

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail()}")

    def _webserver_ready(self) -> bool:
        self._check_alive()
        try:
            return httpx.get(f"{self.url}/server_info", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        payload = response.json()
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def launch_backfill(self, partition_names: list[str]) -> str:
        """A backfill of metadata_sync over the given partitions, as the UI launches it."""
        data = self.graphql(
            LAUNCH_BACKFILL,
            {
                "params": {
                    "selector": {
                        "partitionSetName": "metadata_sync_partition_set",
                        "repositorySelector": {
                            "repositoryName": "__repository__",
                            "repositoryLocationName": "metadata_pipelines",
                        },
                    },
                    "partitionNames": partition_names,
                }
            },
        )["launchPartitionBackfill"]
        if data["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {data}")
        return data["backfillId"]

    def stop(self, timeout: float = 30) -> list[int]:
        """SIGTERM each process group and wait; then SIGKILL whatever is left, including any
        descendant that left the group. Returns the pids that had to be killed."""
        for process in self.processes.values():
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        with suppress(TimeoutError):
            wait_for("descendants to exit", lambda: not self.leftover_pids(), 10)
        killed = self.leftover_pids()
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        for pid in killed:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return killed

    def leftover_pids(self) -> list[int]:
        """Live processes (not zombies) that carry this deployment's marker."""
        marker = f"{MARKER_ENV}={self.env[MARKER_ENV]}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                found.append(int(entry.name))
        return found

    def log_tail(self, lines: int = 60) -> str:
        parts = []
        for name in self.processes:
            path = self.home / f"{name}.log"
            text = path.read_text(errors="replace").splitlines() if path.exists() else []
            parts.append(f"--- {name} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


@contextmanager
def running_deployment(
    home: Path,
    dagster_storage_url: str,
    catalog_url: str,
    secret_key: str,
    *,
    max_concurrent_runs: int = 3,
    sensor_interval_seconds: int = 2,
    code_server: bool = False,
    extra_env: Mapping[str, str] | None = None,
    before_start: Callable[[dg.DagsterInstance], None] | None = None,
) -> Iterator[Deployment]:
    """Daemon and webserver on `dagster_storage_url`, syncing into `catalog_url`; always stopped.
    `extra_env` goes to every process (and so to the code location and the runs);
    `before_start` gets the instance before any daemon runs (to prepare its state)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    storage = sa.make_url(dagster_storage_url)
    instance_env = {
        "DAGSTER_PG_HOST": storage.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(storage.port or 5432),
        "DAGSTER_PG_USER": storage.username or "postgres",
        "DAGSTER_PG_PASSWORD": storage.password or "",
        "DAGSTER_PG_DB": storage.database or "",
        "METADATA_PIPELINES_MAX_CONCURRENT_RUNS": str(max_concurrent_runs),
    }
    env = {
        **os.environ,
        **instance_env,
        "DAGSTER_HOME": str(home),
        "METADATA_PIPELINES_HOME": str(home / "mp_home"),
        "METADATA_PIPELINES_CATALOG_URL": catalog_url,
        "METADATA_PIPELINES_SECRET_KEY": secret_key,
        "METADATA_PIPELINES_SENSOR_INTERVAL_SECONDS": str(sensor_interval_seconds),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        MARKER_ENV: uuid.uuid4().hex,
        **(extra_env or {}),
    }
    # Creating the instance here creates Dagster's tables once, before two processes race to.
    with _environ(instance_env):
        instance = dg.DagsterInstance.from_config(str(home))
    deployment = Deployment(
        home=home,
        port=free_port(),
        env=env,
        instance=instance,
        code_server_port=free_port() if code_server else None,
    )
    try:
        if before_start is not None:
            before_start(instance)
        deployment.start()
        yield deployment
    finally:
        deployment.stop()  # idempotent: the test may have stopped it already
        instance.dispose()
