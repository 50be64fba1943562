"""`metadata-pipelines ui` as a user starts it: the webserver and the daemon on the embedded home,
checked through the webserver's GraphQL API while CLI, backfill and daemon-launched syncs run, on an
instance that an older release left with partitions keyed by data source ids."""

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

from metadata_pipelines.orchestration.location import (
    LOCATION_NAME,
    REPOSITORY_NAME,
    write_workspace,
)
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

LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) { __typename ... on PythonError { message } }
}
"""
BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { partitionNames } }
}
"""
RUNS_OF_PARTITION = """
query Runs($key: String!) {
  runsOrError(filter: {tags: [{key: "dagster/partition", value: $key}]}) {
    ... on Runs { results { runId status } }
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
@pytest.mark.timeout(900)  # generous: the webserver, the daemon and four syncs on a loaded machine
def test_readable_partition_keys_hold_old_and_new_runs_of_the_cli_and_the_daemon(env, tmp_path):
    """An instance made before readable keys (id partitions, an in-process run and a backfill's
    run on them) is migrated by data_source_sensor; then CLI and daemon syncs run on the keys, and
    the partition status counts every run under its source's readable key."""
    sample = create_sample_database(tmp_path / "shop.db")
    config = json.dumps({"path": str(sample)})
    cli_id = _cli(env, "sources", "add", "by-cli", "--type", "sqlite", "--config", config)
    assert "as partition default/by-cli with id" in cli_id.stdout
    cli_id = cli_id.stdout.split()[-1]
    daemon_id = _cli(env, "sources", "add", "by-daemon", "--type", "sqlite", "--config", config)
    daemon_id = daemon_id.stdout.split()[-1]
    keys = {cli_id: "default/by-cli", daemon_id: "default/by-daemon"}
    # As an older release left things: id partitions, and an in-process sync of by-cli on its id.
    legacy = _python(
        env, "-m", "metadata_pipelines_tests.support.legacy_partitions", "by-cli", "by-daemon"
    )
    assert legacy.stdout.strip() != "failed", legacy.stderr
    # data_source_sensor would migrate at once: stopped until by-daemon has a run on its id too.
    _stop_sensor_before_the_ui(env, "data_source_sensor")

    ui = _Ui(env, free_port(), tmp_path / "ui.log")
    try:
        wait_for("the webserver", lambda: _statuses(ui) is not None, timeout=180)
        assert _statuses(ui) == {cli_id: "SUCCESS", daemon_id: None}
        backfill_id = _launch_backfill(ui, [daemon_id])
        wait_for(
            "the backfill's run on the id partition",
            lambda: (_statuses(ui) or {}).get(daemon_id) == "SUCCESS",
            timeout=300,
        )

        _start_sensor(ui, "data_source_sensor")
        migrated = {keys[cli_id]: "SUCCESS", keys[daemon_id]: "SUCCESS"}
        wait_for("the partitions under readable keys", lambda: _statuses(ui) == migrated, 120)
        backfill = ui.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["partitionNames"] == [keys[daemon_id]]

        # New syncs, in process and launched by the daemon, land on the same keys.
        _cli(env, "sync", "by-cli")
        _cli(env, "request-sync", "by-daemon")

        def two_runs_each() -> dict | None:
            runs = {key: _runs_of(ui, key) for key in keys.values()}
            done = all(statuses == ["SUCCESS", "SUCCESS"] for statuses in runs.values())
            return runs if done else None

        wait_for("two successful runs under each key", two_runs_each, timeout=300)
        assert _statuses(ui) == migrated
        triggers = [
            r["trigger"] for r in json.loads(_cli(env, "runs", "by-daemon", "--json").stdout)
        ]
        assert sorted(triggers) == [
            "application",
            "backfill",
        ]  # no new first sync: not a new source
        shown = json.loads(_cli(env, "sources", "show", "default/by-daemon").stdout)
        assert (shown["id"], shown["partition_key"]) == (daemon_id, keys[daemon_id])

        listed = ui.graphql(CATALOG)["assetsOrError"]["nodes"]
        asset_keys = [node["key"]["path"] for node in listed]
        assert ["data_sources", "default", "by-cli"] in asset_keys
        assert ["data_sources", "default", "by-daemon"] in asset_keys
        observed = ui.graphql(OBSERVATIONS, {"path": ["data_sources", "default", "by-daemon"]})
        latest = observed["assetOrError"]["assetObservations"][0]
        entries = {e["label"]: e.get("intValue", e.get("text")) for e in latest["metadataEntries"]}
        assert entries["connector_run_status"] == "succeeded"
        assert (entries["tables"], entries["columns"]) == (9, 47)
        assert entries["data_source_id"] == daemon_id
    finally:
        ui.stop()

    dagster_yaml = Path(env["METADATA_PIPELINES_HOME"]) / "dagster" / "dagster.yaml"
    assert dagster_yaml.read_text().count("QueuedRunCoordinator") == 1
    log = (tmp_path / "ui.log").read_text()
    assert "Serving dagster-webserver" in log
    for noise in ("SupersessionWarning", "BetaWarning", "Found a dagster instance configuration"):
        assert noise not in log


def _python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done


def _stop_sensor_before_the_ui(env: dict[str, str], name: str) -> None:
    """`dagster sensor stop` on the workspace `ui` serves, so the daemon finds it stopped."""
    home = Path(env["METADATA_PIPELINES_HOME"]) / "dagster"
    workspace = write_workspace(home / "workspace.yaml", Path.cwd())
    dagster = str(Path(sys.executable).with_name("dagster"))
    done = subprocess.run(
        [dagster, "sensor", "stop", name, "-w", str(workspace)],
        env={**env, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def _launch_backfill(ui: _Ui, partition_names: list[str]) -> str:
    params = {
        "selector": {
            "partitionSetName": "metadata_sync_partition_set",
            "repositorySelector": {
                "repositoryName": REPOSITORY_NAME,
                "repositoryLocationName": LOCATION_NAME,
            },
        },
        "partitionNames": partition_names,
        "fromFailure": False,
    }
    launched = ui.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def _start_sensor(ui: _Ui, name: str) -> None:
    selector = {
        "repositoryName": REPOSITORY_NAME,
        "repositoryLocationName": LOCATION_NAME,
        "sensorName": name,
    }
    started = ui.graphql(START_SENSOR, {"selector": selector})["startSensor"]
    assert started["__typename"] == "Sensor", started


def _runs_of(ui: _Ui, partition_key: str) -> list[str]:
    data = ui.graphql(RUNS_OF_PARTITION, {"key": partition_key}) or {}
    results = (data.get("runsOrError") or {}).get("results") or []
    return sorted(run["status"] for run in results)


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
