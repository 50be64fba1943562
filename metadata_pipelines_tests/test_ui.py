"""`metadata-pipelines ui` as a user starts it: the webserver and the daemon on the embedded home,
checked through the webserver's GraphQL API while CLI and daemon-launched syncs run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from metadata_pipelines.orchestration.location import LOCATION_NAME, REPOSITORY_NAME
from metadata_pipelines.sample import create_sample_database
from metadata_pipelines_tests.support.dagster_deployment import free_port, wait_for

PARTITION_STATUSES = """
query Statuses($repository: String!, $location: String!) {
  partitionSetOrError(
    repositorySelector: {repositoryName: $repository, repositoryLocationName: $location}
    partitionSetName: "metadata_sync_partition_set"
  ) {
    ... on PartitionSet {
      partitionStatusesOrError {
        ... on PartitionStatuses { results { partitionName runStatus } }
      }
    }
  }
}
"""

CATALOG = "{ assetsOrError { ... on AssetConnection { nodes { key { path } } } } }"
OBSERVATIONS = """
query Observations($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetObservations(limit: 1) {
        runId
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
}
"""


@pytest.fixture
def env(embedded_home) -> dict[str, str]:
    values = {
        **os.environ,
        "METADATA_PIPELINES_HOME": str(embedded_home),
        "METADATA_PIPELINES_SENSOR_INTERVAL_SECONDS": "1",
    }
    values.pop("DAGSTER_HOME")  # the command's own default: the embedded instance home
    return values


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "metadata_pipelines", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


class _Ui:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "metadata_pipelines", "ui", "--port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as a whole
            )

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict | None:
        assert self.process.poll() is None, f"ui exited:\n{self.log.read_text()[-3000:]}"
        try:
            answer = httpx.post(
                f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
            )
            return answer.json()["data"]
        except (httpx.HTTPError, KeyError, ValueError):
            return None

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _statuses(ui: _Ui) -> dict[str, str | None] | None:
    data = ui.graphql(
        PARTITION_STATUSES, {"repository": REPOSITORY_NAME, "location": LOCATION_NAME}
    )
    try:
        results = data["partitionSetOrError"]["partitionStatusesOrError"]["results"]
    except (KeyError, TypeError):
        return None
    return {r["partitionName"]: r["runStatus"] for r in results}


@pytest.mark.slow
@pytest.mark.timeout(900)  # generous: the webserver, the daemon and two syncs on a loaded machine
def test_cli_and_daemon_syncs_both_count_in_the_partition_status(env, tmp_path):
    sample = create_sample_database(tmp_path / "shop.db")
    config = json.dumps({"path": str(sample)})
    # Synced before the daemon runs, so only the CLI ever syncs it.
    cli_id = _cli(env, "sources", "add", "by-cli", "--type", "sqlite", "--config", config)
    cli_id = cli_id.stdout.split()[-1]
    _cli(env, "sync", "by-cli")

    ui = _Ui(env, free_port(), tmp_path / "ui.log")
    try:
        wait_for("the webserver", lambda: _statuses(ui) is not None, timeout=180)
        # The daemon's data_source_sensor requests its first sync; run_request_sensor launches it.
        daemon_id = _cli(env, "sources", "add", "by-daemon", "--type", "sqlite", "--config", config)
        daemon_id = daemon_id.stdout.split()[-1]
        _cli(env, "sync", "by-cli")

        def both_succeeded() -> dict | None:
            statuses = _statuses(ui) or {}
            wanted = {cli_id: "SUCCESS", daemon_id: "SUCCESS"}
            return statuses if all(statuses.get(k) == v for k, v in wanted.items()) else None

        statuses = wait_for("both partitions to succeed", both_succeeded, timeout=300)
        assert set(statuses) == {cli_id, daemon_id}
        triggers = {
            r["trigger"] for r in json.loads(_cli(env, "runs", "by-daemon", "--json").stdout)
        }
        assert triggers == {"sensor"}

        listed = ui.graphql(CATALOG)["assetsOrError"]["nodes"]
        keys = [node["key"]["path"] for node in listed]
        assert ["data_sources", "default", "by-cli"] in keys
        assert ["data_sources", "default", "by-daemon"] in keys
        observed = ui.graphql(OBSERVATIONS, {"path": ["data_sources", "default", "by-daemon"]})
        latest = observed["assetOrError"]["assetObservations"][0]
        entries = {e["label"]: e.get("intValue", e.get("text")) for e in latest["metadataEntries"]}
        assert entries["connector_run_status"] == "succeeded"
        assert (entries["tables"], entries["columns"], entries["inserted"]) == (9, 47, 57)
        assert entries["data_source_id"] == daemon_id
    finally:
        ui.stop()

    dagster_yaml = Path(env["METADATA_PIPELINES_HOME"]) / "dagster" / "dagster.yaml"
    assert dagster_yaml.read_text().count("QueuedRunCoordinator") == 1
    log = (tmp_path / "ui.log").read_text()
    assert "Serving dagster-webserver" in log
    for noise in ("SupersessionWarning", "BetaWarning", "Found a dagster instance configuration"):
        assert noise not in log


@pytest.mark.slow
def test_ui_refuses_a_port_in_use(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "metadata_pipelines", "ui", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"Error: port {port} on 127.0.0.1 is already in use (another Dagster UI?); "
        "stop it or choose another port with --port\n"
    )
