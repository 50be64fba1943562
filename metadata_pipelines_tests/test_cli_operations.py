"""The operator's commands: browsing assets, changes and runs; updating and testing sources; sync
progress and failure summaries; one-line errors. Against a real embedded home (SQLite catalog,
SQLite Dagster instance); exact output where people read it."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from metadata_pipelines.catalog.browse import asset_page
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.cli import main
from metadata_pipelines.cli_render import when
from metadata_pipelines.sample import SAMPLE_TABLES, SAMPLE_VIEWS, create_sample_database
from metadata_pipelines_tests.support.scripted_extractor import IMPORT_PATH, table, write_source

SECRET = "ops-pa55word-never-shown"


@pytest.fixture
def run(embedded_home):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, expect: int = 0) -> Result:
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        assert SECRET not in result.output
        return result

    return invoke


@pytest.fixture
def catalog(embedded_home):
    database = CatalogDatabase.from_settings()
    yield database
    database.dispose()


@pytest.fixture
def shop(run, tmp_path):
    """The sample shop registered as 'shop' and synced once."""
    sample = create_sample_database(tmp_path / "shop.db")
    run("sources", "add", "shop", "--type", "sqlite", "--config", json.dumps({"path": str(sample)}))
    run("sync", "shop")
    return sample


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    """The scripted connector registered as a type; returns a config writer."""
    monkeypatch.setattr(
        "metadata_pipelines.extractors.factory.MetadataExtractorFactory._extractors",
        {"scripted": IMPORT_PATH},
    )
    source_file = write_source(tmp_path / "source.json", [table("items", {"id": "int"})])

    def config(**failure) -> str:
        return json.dumps(
            {"source_file": str(source_file), "attempts_file": str(tmp_path / "n"), **failure}
        )

    return config


def test_assets_list_filters_by_type_and_search(run, shop, catalog):
    source = catalog.data_sources.find_by_name("default", "shop")
    views = run("assets", "list", "shop", "--type", "view").stdout
    lines = views.splitlines()
    assert lines[0].split() == ["TYPE", "QUALIFIED", "NAME", "KIND", "DESCRIPTION", "LAST", "SEEN"]
    last_seen = {a.qualified_name: when(a.last_seen_at) for a in asset_page(
        catalog.engine, "default", source.id, asset_type="view"
    )}  # fmt: skip
    assert [line.split() for line in lines[1:]] == [
        ["view", f"main.{name}", "view", "-", last_seen[f"main.{name}"]]
        for name in sorted(SAMPLE_VIEWS)
    ]

    found = json.loads(run("assets", "list", "shop", "--search", "ORDER_", "--json").stdout)
    assert [a["qualified_name"] for a in found] == ["main.order_items", "main.order_totals"]
    assert {a["data_source_id"] for a in found} == {source.id}

    limited = run("assets", "list", "shop", "--type", "table", "--limit", "2")
    assert len(limited.stdout.splitlines()) == 3
    assert limited.stderr == "(the first 2; narrow with --type / --search or raise --limit)\n"
    assert run("assets", "list", "shop", "--search", "nothing-like-this").stdout == (
        "no assets in 'shop'\n"
    )


def test_assets_show_prints_columns_indexes_constraints_and_statistics(run, shop):
    shown = run("assets", "show", "main.customers").stdout.splitlines()

    assert shown[0] == "table main.customers"
    assert "  source      shop (sqlite)" in shown
    assert "  rows        60" in shown
    assert shown[shown.index("") + 1].split() == [
        "COLUMN", "TYPE", "NULLABLE", "KEY", "DEFAULT", "COMMENT"
    ]  # fmt: skip
    assert ["customer_id", "INTEGER", "no", "PK", "-", "-"] in [line.split() for line in shown]
    assert ["country", "CHAR(2)", "no", "-", "'US'", "-"] in [line.split() for line in shown]
    assert "indexes:" in shown and "constraints:" in shown
    assert ["ux_customers_email", "lower(email)", "yes", "btree"] in [
        line.split() for line in shown
    ]

    order_items = run("assets", "show", "main.order_items").stdout
    assert "foreign_key" in order_items and "main.orders(order_id)" in order_items
    view = run("assets", "show", "main.order_totals").stdout
    assert "definition:" in view and "SELECT" in view.upper()
    detail = json.loads(run("assets", "show", "main.customers", "--json").stdout)
    assert [f["name"] for f in detail["fields"]][:2] == ["customer_id", "email"]
    assert detail["details"]["row_count"] == 60


def test_assets_show_names_the_sources_when_a_name_is_ambiguous(run, shop):
    run("sources", "add", "shop2", "--type", "sqlite", "--config", json.dumps({"path": str(shop)}))
    run("sync", "shop2")

    ambiguous = run("assets", "show", "main.orders", expect=1)
    assert ambiguous.stderr == (
        "Error: 'main.orders' is in 2 data sources (shop, shop2); name one with --source\n"
    ) or ambiguous.stderr == (
        "Error: 'main.orders' is in 2 data sources (shop2, shop); name one with --source\n"
    )
    assert (
        "  source      shop2 (sqlite)"
        in run("assets", "show", "main.orders", "--source", "shop2").stdout.splitlines()
    )
    assert run("assets", "show", "main.nope", expect=1).stderr == (
        "Error: no asset named 'main.nope' in tenant 'default'\n"
    )
    assert run("assets", "show", "main.orders", "--tenant", "other", expect=1).stderr == (
        "Error: no asset named 'main.orders' in tenant 'other'\n"
    )


def test_changes_prints_the_stored_change_summary(run, shop, catalog, tmp_path):
    first_run = json.loads(run("runs", "shop", "--json").stdout)[0]
    first = run("changes", "shop").stdout
    tables = sorted(f"main.{name}" for name in [*SAMPLE_TABLES, *SAMPLE_VIEWS])
    assert first.splitlines()[1:] == [
        "57 inserted, 0 updated, 0 unchanged, 0 deleted, 0 restored",
        f"Tables and views added ({len(tables)}):",
        *(f"  {name}" for name in tables),
    ]
    assert first.splitlines()[0].startswith(
        f"changes of connector run {first_run['id']} (succeeded, "
    )

    run("sync", "shop")
    assert run("changes", "shop").stdout.splitlines()[1:] == [
        "0 inserted, 0 updated, 57 unchanged, 0 deleted, 0 restored",
        "No tables or columns were added, removed or retyped.",
    ]
    again = run("changes", "shop", "--run", first_run["id"], "--json").stdout
    assert json.loads(again)["changes"]["counts"]["tables_added"] == len(tables)

    run("sources", "add", "other", "--type", "sqlite", "--config", json.dumps({"path": str(shop)}))
    assert run("changes", "other", expect=1).stderr == "Error: 'other' has no completed sync yet\n"
    assert run("changes", "shop", "--run", "nope", expect=1).stderr == (
        "Error: connector run 'nope' is not a run of 'shop'\n"
    )
    assert run("changes", "other", "--run", first_run["id"], expect=1).stderr == (
        f"Error: connector run {first_run['id']!r} is not a run of 'other'\n"
    )


def test_runs_lists_a_source_and_shows_one_run_by_either_id(run, shop):
    listing = run("runs", "shop").stdout.splitlines()
    assert listing[0].split() == [
        "CONNECTOR", "RUN", "DAGSTER", "RUN", "STATUS", "TRIGGER", "STARTED", "DURATION",
        "ATTEMPTS", "TABLES", "COLUMNS", "ERROR",
    ]  # fmt: skip
    row = json.loads(run("runs", "shop", "--json").stdout)[0]
    cells = listing[1].split()
    assert cells[:4] == [row["id"], row["dagster_run_id"][:8], "succeeded", "manual"]
    assert cells[-4:] == ["1", "9", "47", "-"]

    by_id = run("runs", "show", row["id"]).stdout.splitlines()
    assert by_id[0] == f"connector run {row['id']}: SUCCEEDED"
    assert f"  source       shop ({row['data_source_id']})" in by_id
    assert f"  dagster run  {row['dagster_run_id']}" in by_id
    assert "  extracted    1 database, 7 table, 2 view, 47 column, 17 constraint, 9 index" in by_id
    assert run("runs", "show", row["dagster_run_id"]).stdout.splitlines() == by_id
    assert json.loads(run("runs", "show", row["id"], "--json").stdout)["id"] == row["id"]

    assert run("runs", "show", "nope", expect=1).stderr == (
        "Error: tenant 'default' has no connector run or Dagster run 'nope'\n"
    )
    assert run("runs", "show", row["id"], "--tenant", "other", expect=1).stderr == (
        f"Error: tenant 'other' has no connector run or Dagster run {row['id']!r}\n"
    )
    assert run("runs", "nope", expect=1).stderr == (
        "Error: tenant 'default' has no data source 'nope' (by name, id or partition key); "
        "`metadata-pipelines sources list` shows them all\n"
    )
    assert "runs SOURCE" in run("runs", "--help").stdout


def test_sources_add_tests_the_connection_first(run, scripted, catalog):
    refused = run(
        "sources", "add", "s", "--type", "scripted",
        "--config", scripted(fail_step="check", failure="permanent", fail_times=99),
        "--credentials-stdin", input=json.dumps({"password": SECRET}), expect=1,
    )  # fmt: skip
    assert refused.stderr == (
        "testing the connection ...\n"
        "Error: connection test failed: access denied for password ***\n"
        "nothing was registered; use --no-test to register it anyway\n"
    )
    assert catalog.data_sources.list() == []

    added = run(
        "sources", "add", "s", "--type", "scripted", "--no-test",
        "--config", scripted(fail_step="check", failure="permanent", fail_times=99),
        "--credentials-stdin", input=json.dumps({"password": SECRET}),
    )  # fmt: skip
    assert added.stdout.startswith("registered scripted source 's' as partition default/s with id ")
    assert run("sources", "test", "s", expect=1).stderr == (
        "Error: 's': connection failed: access denied for password ***\n"
    )

    run("sources", "update", "s", "--config", scripted())
    assert run("sources", "test", "s").stdout == "'s': connection OK\n"


def test_sources_update_keeps_the_id_and_the_run_history(run, scripted, catalog):
    added = run(
        "sources", "add", "s", "--type", "scripted", "--config", scripted(),
        "--credentials-stdin", input=json.dumps({"password": "old"}),
    )  # fmt: skip
    source_id = added.stdout.split()[-1]
    run("sync", "s")

    updated = run(
        "sources", "update", "s", "--credentials-stdin", input=json.dumps({"password": SECRET})
    )
    assert updated.stdout == f"updated 's' ({source_id}): credentials\n"
    assert catalog.data_sources.credentials(source_id, "default") == {"password": SECRET}

    assert run("sources", "update", "s", "--schedule", "0 3 * * *", "--disable").stdout == (
        f"updated 's' ({source_id}): schedule, disabled\n"
    )
    stored = catalog.data_sources.get(source_id)
    assert (stored.sync_schedule, stored.enabled) == ("0 3 * * *", False)
    run("sources", "update", source_id, "--no-schedule", "--enable")
    stored = catalog.data_sources.get(source_id)
    assert (stored.sync_schedule, stored.enabled) == (None, True)

    assert run("sources", "update", "s", "--rename", "s-renamed").stdout == (
        f"updated 's-renamed' ({source_id}): name (was 's')\n"
    )
    assert len(json.loads(run("runs", "s-renamed", "--json").stdout)) == 1
    run(
        "sources", "add", "t", "--type", "scripted", "--config", scripted(),
        "--credentials-stdin", input=json.dumps({"password": "x"}),
    )  # fmt: skip
    assert run("sources", "update", "t", "--rename", "s-renamed", expect=1).stderr == (
        "Error: tenant 'default' already has a data source named 's-renamed'\n"
    )
    assert (
        "invalid cron expression 'every day'"
        in run("sources", "update", "t", "--schedule", "every day", expect=1).stderr
    )
    assert "nothing to change" in run("sources", "update", "t", expect=2).stderr
    assert (
        "not both"
        in run(
            "sources", "update", "t", "--schedule", "0 3 * * *", "--no-schedule", expect=2
        ).stderr
    )
    refused = run(
        "sources", "update", "t", "--test",
        "--config", scripted(fail_step="check", failure="permanent", fail_times=99),
        "--credentials-stdin", input=json.dumps({"password": SECRET}), expect=1,
    )  # fmt: skip
    assert "nothing was changed; use --no-test to store the change anyway" in refused.stderr
    assert catalog.data_sources.find_by_name("default", "t").config.get("failure") is None


def test_sync_reports_progress_on_stderr_and_a_short_failure_summary(run, scripted):
    run(
        "sources", "add", "s", "--type", "scripted", "--no-test",
        "--config", scripted(fail_step="extract", failure="transient", fail_times=2),
        "--credentials-stdin", input=json.dumps({"password": SECRET}),
    )  # fmt: skip
    synced = run("sync", "s")
    progress = [line.split("; next in")[0] for line in synced.stderr.splitlines()[1:]]
    assert progress == [
        "  check_connection: started",
        "  check_connection: done",
        "  extract_metadata: started",
        "  extract_metadata: attempt 1 of 4 failed: connection reset while using password ***",
        "  extract_metadata: started (attempt 2 of 4)",
        "  extract_metadata: attempt 2 of 4 failed: connection reset while using password ***",
        "  extract_metadata: started (attempt 3 of 4)",
        "  extract_metadata: done",
        "  persist_metadata: started",
        "  persist_metadata: done",
    ]
    assert synced.stdout.splitlines()[0].endswith(": SUCCEEDED")

    run(
        "sources", "update", "s",
        "--config", scripted(fail_step="check", failure="permanent", fail_times=99),
    )  # fmt: skip
    failed = run("sync", "s", expect=1)
    assert failed.stdout == ""
    lines = failed.stderr.splitlines()
    failed_run = json.loads(run("runs", "s", "--json").stdout)[0]
    assert lines[-5:] == [
        "sync of 's' failed after 1 attempt(s)",
        "  error          authentication_failed: check_connection: access denied for password ***",
        "  what to do     fix the credentials with `metadata-pipelines sources update s "
        "--credentials-file FILE`, then `metadata-pipelines sources test s`",
        f"  connector run  {failed_run['id']}",
        f"  dagster run    {failed_run['dagster_run_id']} (its event log has the details)",
    ]
    assert "Traceback" not in failed.output and len(lines) < 12


def test_bad_input_gets_one_line_errors(run, tmp_path):
    missing = tmp_path / "missing.json"
    result = run("sources", "add", "x", "--type", "sqlite", "--config", f"@{missing}", expect=1)
    assert result.stderr == (
        f"Error: --config @{missing}: cannot read '{missing}': No such file or directory\n"
    )
    assert run(
        "sources", "add", "x", "--type", "sqlite", "--config", f"@{tmp_path}", expect=1
    ).stderr == (f"Error: --config @{tmp_path}: cannot read '{tmp_path}': Is a directory\n")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert (
        run("sources", "add", "x", "--type", "sqlite", "--config", f"@{broken}", expect=2)
        .stderr.splitlines()[-1]
        .startswith("Error: --config is not valid JSON: ")
    )
    assert "Traceback" not in result.output
    no_credentials = run(
        "sources", "update", "x", "--credentials-file", str(tmp_path / "none.json"), expect=2
    )
    assert "Error: Invalid value for '--credentials-file': File " in no_credentials.stderr


def test_sources_show_accepts_an_id_in_the_tenant_named(run, tmp_path):
    sample = create_sample_database(tmp_path / "shop.db")
    added = run(
        "sources", "add", "shop", "--type", "sqlite", "--tenant", "acme",
        "--config", json.dumps({"path": str(sample)}),
    )  # fmt: skip
    source_id = added.stdout.split()[-1]

    assert json.loads(run("sources", "show", source_id, "--tenant", "acme").stdout)["name"] == (
        "shop"
    )
    assert run("sources", "show", source_id, expect=1).stderr == (
        f"Error: tenant 'default' has no data source {source_id!r} (by name, id or partition key); "
        "`metadata-pipelines sources list` shows them all\n"
    )
    assert json.loads(run("sources", "show", "acme/shop", "--tenant", "acme").stdout)["id"] == (
        source_id
    )
    # A partition key names one source in all tenants, but only its own tenant may see it.
    assert run("sources", "show", "acme/shop", expect=1).stderr == (
        "Error: tenant 'default' has no data source 'acme/shop' (by name, id or partition key); "
        "`metadata-pipelines sources list` shows them all\n"
    )
    listed = json.loads(run("sources", "list", "--json").stdout)
    assert [(s["tenant_id"], s["name"], s["partition_key"]) for s in listed] == [
        ("acme", "shop", "acme/shop")
    ]


def test_type_help_lists_the_connector_types(run):
    from metadata_pipelines.extractors.factory import MetadataExtractorFactory

    types = MetadataExtractorFactory().connector_types()
    assert {"mysql", "postgresql", "sqlite", "bigquery", "databricks"} <= set(types)
    help_text = " ".join(run("sources", "add", "--help").stdout.split())
    assert f"Connector type: {', '.join(types)}." in help_text
    assert "--test / --no-test" in help_text


def test_migrate_moves_id_partitions_and_their_runs_to_readable_keys(run, scripted, catalog):
    from metadata_pipelines.orchestration.instance import get_instance
    from metadata_pipelines.orchestration.jobs import metadata_sync_job
    from metadata_pipelines.orchestration.partitions import DATA_SOURCES_PARTITION

    run(
        "sources", "add", "Finance DB", "--type", "scripted", "--no-test", "--config", scripted(),
        "--credentials-stdin", input=json.dumps({"password": SECRET}),
    )  # fmt: skip
    source = catalog.data_sources.find_by_name("default", "Finance DB")
    instance = get_instance()
    instance.add_dynamic_partitions(DATA_SOURCES_PARTITION, [source.id])  # as releases before 0006
    old = instance.create_run_for_job(
        metadata_sync_job, tags={"dagster/partition": source.id}, status=dg.DagsterRunStatus.SUCCESS
    )

    lines = run("migrate").stdout.splitlines()

    assert lines[1:] == [
        "moving Dagster's partitions, runs and backfills to readable partition keys ...",
        "Dagster: 1 partition(s) renamed to readable keys, 1 run(s) re-tagged, 0 backfill(s) "
        "updated, 1 id partition(s) deleted",
    ]
    assert lines[0].endswith("is up to date")
    assert instance.get_dynamic_partitions(DATA_SOURCES_PARTITION) == ["default/finance-db"]
    assert instance.get_run_by_id(old.run_id).tags["dagster/partition"] == "default/finance-db"
    again = run("migrate").stdout.splitlines()[-1]
    assert again.startswith("Dagster: 0 partition(s) renamed to readable keys, 0 run(s) re-tagged")
