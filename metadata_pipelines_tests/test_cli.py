"""The command line, in the embedded default (SQLite catalog and instance) and in production (PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from metadata_pipelines.cli import main
from metadata_pipelines.sample import SAMPLE_TABLES, SAMPLE_VIEWS, create_sample_database

SECRET = "cli-pa55word-never-shown"


@pytest.fixture
def home(configured_home):
    """The embedded default, then the production configuration (PostgreSQL catalog and instance)."""
    return configured_home


@pytest.fixture
def cli(home):
    runner = CliRunner()

    def invoke(*args, input=None, expect=0):
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result.output

    return invoke


@pytest.fixture
def sample(tmp_path):
    return create_sample_database(tmp_path / "shop.db")


@pytest.mark.slow
def test_demo_runs_a_full_sync_as_an_installed_command(embedded_home):
    home = embedded_home
    env = {**os.environ, "METADATA_PIPELINES_HOME": str(home)}
    env.pop("DAGSTER_HOME")
    command = [sys.executable, "-m", "metadata_pipelines", "demo"]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)

    assert first.returncode == 0, first.stderr
    for table in SAMPLE_TABLES:
        assert f"table main.{table}" in first.stdout
    for view in SAMPLE_VIEWS:
        assert f"view main.{view}" in first.stdout
    assert "order_id" in first.stdout and "PRIMARY KEY" in first.stdout
    assert ": SUCCEEDED" in first.stdout
    assert (home / "dagster" / "dagster.yaml").exists()
    # The home is private: the catalog (encrypted credentials), the key, Dagster's storage and logs.
    assert home.stat().st_mode & 0o777 == 0o700
    assert (home / "dagster").stat().st_mode & 0o777 == 0o700
    for private_file in ("catalog.db", "secret.key"):
        assert (home / private_file).stat().st_mode & 0o777 == 0o600, private_file
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    assert "0 inserted, 0 updated" in second.stdout


def test_sources_lifecycle(cli, home, sample):
    assert "is up to date" in cli("db", "upgrade")

    added = cli(
        "sources", "add", "shop", "--type", "sqlite", "--config", json.dumps({"path": str(sample)})
    )
    source_id = added.split()[-1]
    assert added.endswith(
        f"registered sqlite source 'shop' as partition default/shop with id {source_id}\n"
    )
    # The daemon's data_source_sensor adds the partition together with the first sync.
    assert not _has_partition("default/shop")

    listing = cli("sources", "list")
    assert source_id in listing and "shop" in listing
    shown = json.loads(cli("sources", "show", "shop"))
    assert shown["id"] == source_id and shown["credentials"] is None
    assert shown["partition_key"] == "default/shop"
    assert json.loads(cli("sources", "show", "default/shop"))["id"] == source_id

    requested = cli("request-sync", "shop")
    assert requested.endswith(": requested\n")
    run_id = requested.split()[2].rstrip(":")
    assert cli("request-sync", "shop") == f"connector run {run_id}: already pending\n"
    assert "pending" in cli("runs", "shop")

    synced = cli("sync", "shop")  # serves the pending request: one sync per source at a time
    assert ": SUCCEEDED" in synced and "7 table, 2 view" in synced
    assert _has_partition("default/shop")
    history = cli("runs", "shop").splitlines()
    assert history[0].split()[:4] == ["CONNECTOR", "RUN", "DAGSTER", "RUN"]
    assert history[1].split()[2:4] == ["succeeded", "application"]
    assert len(history) == 2  # the request was served: nothing left pending
    cli("sync", "shop")
    assert cli("runs", "shop").splitlines()[1].split()[2:4] == ["succeeded", "manual"]

    bad = cli(
        "sources", "add", "bad", "--type", "sqlite", "--config", '{"path": 1, "nope": 2}', expect=1
    )
    assert "nope" in bad
    unknown = cli("sources", "add", "x", "--type", "oracle", "--config", "{}", expect=1)
    assert "known types" in unknown
    assert "--config must be a JSON object" in cli(
        "sources", "add", "y", "--type", "sqlite", "--config", "[1]", expect=2
    )

    cli("sources", "remove", "shop", "--yes")
    assert "no data sources" in cli("sources", "list")
    assert not _has_partition("default/shop")


def _has_partition(partition_key: str) -> bool:
    from metadata_pipelines.orchestration.instance import get_instance
    from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION

    return get_instance().has_dynamic_partition(DATA_SOURCES_PARTITION, partition_key)


@pytest.mark.parametrize("how", ["file", "stdin", "env"])
def test_credentials_are_read_from_file_stdin_or_env(cli, home, tmp_path, monkeypatch, how):
    embedded = "METADATA_PIPELINES_CATALOG_URL" not in os.environ
    from metadata_pipelines.catalog.database import CatalogDatabase
    from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH

    monkeypatch.setattr(
        "metadata_pipelines.extractors.factory.MetadataExtractorFactory._extractors",
        {"scripted": IMPORT_PATH},
    )
    payload = json.dumps({"password": SECRET})
    args = ["sources", "add", "s", "--type", "scripted", "--config", '{"source_file": "x"}']
    if how == "file":
        (tmp_path / "c.json").write_text(payload)
        output = cli(*args, "--credentials-file", str(tmp_path / "c.json"))
    elif how == "stdin":
        output = cli(*args, "--credentials-stdin", input=payload)
    else:
        monkeypatch.setenv("SOURCE_CREDENTIALS", payload)
        output = cli(*args, "--credentials-env", "SOURCE_CREDENTIALS")
    shown = cli("sources", "show", "s")

    assert SECRET not in output + shown
    assert json.loads(shown)["credentials"] == "******** (stored encrypted)"
    catalog = CatalogDatabase.from_settings()
    source = catalog.data_sources.find_by_name("default", "s")
    assert catalog.data_sources.credentials(source.id, "default") == {"password": SECRET}
    if embedded:
        assert (home / "secret.key").stat().st_mode & 0o077 == 0


def test_bad_credentials_input_is_rejected_without_echo(cli, home, monkeypatch):
    args = ["sources", "add", "s", "--type", "sqlite", "--config", '{"path": "x"}']
    output = cli(*args, "--credentials-stdin", input=f"not json {SECRET}", expect=2)
    assert "credentials must be a JSON object" in output
    assert SECRET not in output
    output = cli(*args, "--credentials-env", "NOT_SET_ANYWHERE", expect=2)
    assert "NOT_SET_ANYWHERE is not set" in output


def test_sync_of_a_failing_source_exits_non_zero(cli, home, tmp_path):
    missing = tmp_path / "gone.db"
    cli(
        "sources",
        "add",
        "gone",
        "--type",
        "sqlite",
        "--no-test",
        "--config",
        json.dumps({"path": str(missing)}),
    )

    output = cli("sync", "gone", expect=1)

    assert "sync of 'gone' failed after 1 attempt(s)" in output
    assert str(missing) in output
    assert "Traceback" not in output
    assert "unknown source" not in output
    assert "has no data source 'no-such-source'" in cli("sync", "no-such-source", expect=1)


def test_api_keys_are_shown_once_listed_by_prefix_and_revoked(cli):
    from metadata_pipelines.catalog.database import CatalogDatabase

    runner = CliRunner()
    created = runner.invoke(main, ["api-keys", "create", "--tenant", "acme", "--name", "etl"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("mpk_")
    catalog = CatalogDatabase.from_settings()
    record = catalog.api_keys.authenticate(key)
    assert record is not None
    assert record.tenant_id == "acme"

    listed = cli("api-keys", "list", "--tenant", "acme")
    assert record.prefix in listed
    assert "etl" in listed
    assert key not in listed
    assert "no API keys" in cli("api-keys", "list", "--tenant", "other")

    assert "no API key" in cli("api-keys", "revoke", record.prefix, "--tenant", "other", expect=1)
    assert record.id in cli("api-keys", "revoke", record.prefix, "--tenant", "acme")
    assert catalog.api_keys.authenticate(key) is None
    revoked_column = cli("api-keys", "list", "--tenant", "acme").splitlines()[1].split()[3]
    assert revoked_column != "-"
    catalog.dispose()
