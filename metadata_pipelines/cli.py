"""The `metadata-pipelines` command line: catalog setup, data sources, syncs, the demo and the UI.

Credentials are read from a file, standard input or an environment variable, never from an option
value (which would land in shell history and process listings), and are never printed back.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import click

from metadata_pipelines import cli_render as render
from metadata_pipelines.catalog.connector_runs import ConnectorRunNotFound
from metadata_pipelines.catalog.data_sources import DataSourceNotFound, DuplicateDataSource
from metadata_pipelines.catalog.database import CatalogDatabase, catalog_unavailable, url_secrets
from metadata_pipelines.catalog.records import ConnectorRun, DataSource, RunStatus
from metadata_pipelines.catalog.secrets import SecretKeyError
from metadata_pipelines.extractors.errors import ConfigurationError, scrub
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.logs import configure_logging, uvicorn_log_config
from metadata_pipelines.models import AssetType
from metadata_pipelines.settings import get_settings

DEMO_TENANT = "demo"
DEMO_SOURCE = "sample-shop"
UI_HOST = "127.0.0.1"

logger = logging.getLogger(__name__)

tenant_option = click.option(
    "--tenant",
    default=lambda: get_settings().tenant,
    show_default="env METADATA_PIPELINES_TENANT, else default",
    help="Tenant that owns the data source.",
)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _catalog() -> CatalogDatabase:
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    return catalog


def _resolve(catalog: CatalogDatabase, tenant: str, source: str) -> DataSource:
    """A source by id, name or partition key within the tenant; a one-line error when it has none.

    The partition key is what the Dagster UI shows, so a key copied from there works too.
    """
    try:
        return catalog.data_sources.get(source, tenant)
    except DataSourceNotFound:
        pass
    try:
        return catalog.data_sources.find_by_name(tenant, source)
    except DataSourceNotFound:
        pass
    try:
        found = catalog.data_sources.get_by_partition_key(source)
    except DataSourceNotFound:
        found = None
    if found is not None and found.tenant_id == tenant:
        return found
    raise click.ClickException(
        f"tenant {tenant!r} has no data source {source!r} (by name, id or partition key); "
        "`metadata-pipelines sources list` shows them all"
    )


@click.group()
@click.version_option(package_name="metadata-pipelines")
def main() -> None:
    """Sync metadata from data sources into the catalog, orchestrated by Dagster."""


@main.group()
def db() -> None:
    """The catalog database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the catalog's Alembic migrations (creates the database on first use)."""
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    click.echo(f"catalog at {catalog.engine.url.render_as_string()} is up to date")


@main.command()
def migrate() -> None:
    """Upgrade the catalog, then move Dagster's partitions and run history to readable keys.

    Safe to repeat. The daemon's data_source_sensor and every in-process sync also do the Dagster
    part on their own the first time they meet an instance that has not been moved.
    """
    from metadata_pipelines.orchestration.instance import get_instance
    from metadata_pipelines.orchestration.partition_migration import migrate_partition_keys

    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    click.echo(f"catalog at {catalog.engine.url.render_as_string()} is up to date")
    click.echo("moving Dagster's partitions, runs and backfills to readable partition keys ...")
    report = migrate_partition_keys(get_instance(), catalog)
    click.echo(f"Dagster: {report.summary()}")


@main.group()
def sources() -> None:
    """Register, list, show and remove data sources."""


def _read_credentials(
    credentials_file: Path | None, credentials_stdin: bool, credentials_env: str | None
) -> dict[str, Any] | None:
    chosen = [bool(credentials_file), credentials_stdin, bool(credentials_env)]
    if sum(chosen) > 1:
        raise click.UsageError(
            "give credentials one way: --credentials-file, --credentials-stdin or --credentials-env"
        )
    if credentials_file:
        text = credentials_file.read_text()
    elif credentials_stdin:
        text = sys.stdin.read()
    elif credentials_env:
        if credentials_env not in os.environ:
            raise click.UsageError(f"environment variable {credentials_env} is not set")
        text = os.environ[credentials_env]
    else:
        return None
    try:
        credentials = json.loads(text)
    except json.JSONDecodeError:
        # Deliberately no excerpt of the text: it holds secrets.
        raise click.UsageError("credentials must be a JSON object") from None
    if not isinstance(credentials, dict):
        raise click.UsageError("credentials must be a JSON object")
    return credentials


def _parse_config(config: str) -> dict[str, Any]:
    if config.startswith("@"):
        try:
            text = Path(config[1:]).read_text()
        except OSError as error:  # one line, as for any file the command cannot read
            raise click.ClickException(
                f"--config {config}: cannot read {config[1:]!r}: {error.strerror}"
            ) from None
    else:
        text = config
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise click.UsageError(f"--config is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise click.UsageError("--config must be a JSON object")
    return parsed


def _credentials_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--credentials-file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="JSON file holding the credentials.",
            ),
            click.option(
                "--credentials-stdin", is_flag=True, help="Read the credentials JSON from stdin."
            ),
            click.option(
                "--credentials-env", help="Environment variable holding the credentials JSON."
            ),
        ]
    ):
        command = option(command)
    return command


def _test_or_fail(
    catalog: CatalogDatabase,
    connector_type: str,
    config: dict[str, Any],
    credentials: dict[str, Any] | None,
    consequence: str,
) -> None:
    click.echo("testing the connection ...", err=True)
    ok, message = catalog.factory.test_connection(connector_type, config, credentials)
    if not ok:
        raise click.ClickException(f"connection test failed: {message}\n{consequence}")


@sources.command("add")
@click.argument("name")
@click.option(
    "--type",
    "connector_type",
    required=True,
    help="Connector type: " + ", ".join(MetadataExtractorFactory().connector_types()) + ".",
)
@click.option("--config", required=True, help="Config as JSON, or @path to a JSON file.")
@_credentials_options
@click.option("--schedule", help="Cron expression for this source's own sync schedule.")
@click.option("--disabled", is_flag=True, help="Register without syncing it.")
@click.option(
    "--test/--no-test",
    default=True,
    show_default=True,
    help="Test the connection first and register only if it works.",
)
@tenant_option
def sources_add(
    name: str,
    connector_type: str,
    config: str,
    credentials_file: Path | None,
    credentials_stdin: bool,
    credentials_env: str | None,
    schedule: str | None,
    disabled: bool,
    test: bool,
    tenant: str,
) -> None:
    """Register a data source NAME: its config is validated by the connector and its connection
    tested before it is stored."""
    catalog = _catalog()
    credentials = _read_credentials(credentials_file, credentials_stdin, credentials_env)
    parsed = _parse_config(config)
    try:
        catalog.factory.validate(connector_type, parsed, credentials or {})
        if test:
            _test_or_fail(
                catalog,
                connector_type,
                parsed,
                credentials,
                "nothing was registered; use --no-test to register it anyway",
            )
        source = catalog.data_sources.create(
            tenant_id=tenant,
            name=name,
            connector_type=connector_type,
            config=parsed,
            credentials=credentials,
            enabled=not disabled,
            sync_schedule=schedule,
        )
    except (ConfigurationError, DuplicateDataSource, ValueError) as error:
        raise click.ClickException(str(error)) from None
    # No partition here: data_source_sensor adds it together with the first sync.
    click.echo(
        f"registered {source.connector_type} source {source.name!r} "
        f"as partition {source.partition_key} with id {source.id}"
    )


@sources.command("update")
@click.argument("source")
@click.option("--config", help="New config as JSON, or @path to a JSON file (replaces the old).")
@_credentials_options
@click.option("--schedule", help="Cron expression for this source's own sync schedule.")
@click.option("--no-schedule", is_flag=True, help="Clear the source's own schedule.")
@click.option("--enable/--disable", "enabled", default=None, help="Sync the source, or stop.")
@click.option("--rename", "new_name", help="A new name (the id and the run history stay).")
@click.option(
    "--test/--no-test",
    default=False,
    show_default=True,
    help="Test the connection with the new settings first; store them only if it works.",
)
@tenant_option
def sources_update(
    source: str,
    config: str | None,
    credentials_file: Path | None,
    credentials_stdin: bool,
    credentials_env: str | None,
    schedule: str | None,
    no_schedule: bool,
    enabled: bool | None,
    new_name: str | None,
    test: bool,
    tenant: str,
) -> None:
    """Change a data source (by name or id) in place, keeping its id and run history."""
    if schedule and no_schedule:
        raise click.UsageError("give --schedule or --no-schedule, not both")
    catalog = _catalog()
    found = _resolve(catalog, tenant, source)
    credentials = _read_credentials(credentials_file, credentials_stdin, credentials_env)
    parsed = _parse_config(config) if config is not None else None
    changes: dict[str, Any] = {}
    if schedule or no_schedule:
        changes["sync_schedule"] = schedule
    if (
        parsed is None
        and credentials is None
        and enabled is None
        and new_name is None
        and not changes
    ):
        raise click.UsageError(
            "nothing to change: give --config, credentials, --schedule, --no-schedule, "
            "--enable/--disable or --rename"
        )
    try:
        if test:
            _test_or_fail(
                catalog,
                found.connector_type,
                parsed if parsed is not None else found.config,
                credentials
                if credentials is not None
                else catalog.data_sources.credentials(found.id, tenant),
                "nothing was changed; use --no-test to store the change anyway",
            )
        updated = catalog.data_sources.update(
            found.id,
            tenant,
            config=parsed,
            credentials=credentials,
            enabled=enabled,
            name=new_name,
            **changes,
        )
    except (ConfigurationError, DuplicateDataSource, ValueError) as error:
        raise click.ClickException(str(error)) from None
    what = [
        label
        for label, changed in (
            ("config", parsed is not None),
            ("credentials", credentials is not None),
            ("schedule", bool(changes)),
            ("enabled" if enabled else "disabled", enabled is not None),
            (f"name (was {found.name!r})", new_name is not None),
        )
        if changed
    ]
    click.echo(f"updated {updated.name!r} ({updated.id}): {', '.join(what)}")


@sources.command("test")
@click.argument("source")
@tenant_option
def sources_test(source: str, tenant: str) -> None:
    """Test a data source's connection with its stored config and credentials."""
    catalog = _catalog()
    found = _resolve(catalog, tenant, source)
    ok, message = catalog.factory.test_connection(
        found.connector_type, found.config, catalog.data_sources.credentials(found.id, tenant)
    )
    if not ok:
        raise click.ClickException(f"{found.name!r}: connection failed: {message}")
    click.echo(f"{found.name!r}: connection OK")


def _remove_partition(partition_key: str) -> None:
    from metadata_pipelines.orchestration.instance import get_instance
    from metadata_pipelines.orchestration.partitions import remove_partition

    remove_partition(get_instance(), partition_key)


@sources.command("list")
@click.option("--tenant", envvar="METADATA_PIPELINES_TENANT", help="Only this tenant's sources.")
@json_option
def sources_list(tenant: str | None, as_json: bool) -> None:
    """List data sources."""
    rows = _catalog().data_sources.list(tenant)
    if as_json:
        render.echo_json([s.model_dump(mode="json") for s in rows])
        return
    if not rows:
        click.echo("no data sources")
        return
    click.echo(
        render.table(
            ("id", "tenant", "name", "partition key", "type", "enabled", "schedule"),
            (
                (
                    s.id,
                    s.tenant_id,
                    s.name,
                    s.partition_key,
                    s.connector_type,
                    "yes" if s.enabled else "no",
                    s.sync_schedule,
                )
                for s in rows
            ),
        )
    )


@sources.command("show")
@click.argument("source")
@tenant_option
def sources_show(source: str, tenant: str) -> None:
    """Show one data source (by id, name or partition key); credentials are masked."""
    found = _resolve(_catalog(), tenant, source)
    shown = found.model_dump(mode="json", exclude={"has_credentials"})
    shown["credentials"] = "******** (stored encrypted)" if found.has_credentials else None
    click.echo(json.dumps(shown, indent=2))


@sources.command("remove")
@click.argument("source")
@tenant_option
@click.confirmation_option(prompt="Remove the source with its catalog assets and run history?")
def sources_remove(source: str, tenant: str) -> None:
    """Remove a data source with its assets and run history."""
    catalog = _catalog()
    found = _resolve(catalog, tenant, source)
    catalog.data_sources.remove(found.id, tenant)
    _remove_partition(found.partition_key)
    click.echo(f"removed {found.name!r} ({found.id})")


@main.group()
def assets() -> None:
    """Browse what the syncs extracted: a source's assets, one asset with its columns."""


@assets.command("list")
@click.argument("source")
@click.option(
    "--type",
    "asset_type",
    type=click.Choice([t.value for t in AssetType]),
    help="Only assets of this type.",
)
@click.option("--search", help="Only assets whose qualified name contains TEXT (any case).")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1))
@json_option
@tenant_option
def assets_list(
    source: str,
    asset_type: str | None,
    search: str | None,
    limit: int,
    as_json: bool,
    tenant: str,
) -> None:
    """List a data source's live assets in qualified-name order."""
    from metadata_pipelines.catalog.browse import asset_page

    catalog = _catalog()
    found = _resolve(catalog, tenant, source)
    rows = asset_page(
        catalog.engine, tenant, found.id, asset_type=asset_type, search=search, limit=limit + 1
    )
    more, rows = len(rows) > limit, rows[:limit]
    if as_json:
        render.echo_json([a.model_dump(mode="json") for a in rows])
    elif not rows:
        click.echo(f"no assets in {found.name!r}")
    else:
        click.echo(
            render.table(
                ("type", "qualified name", "kind", "description", "last seen"),
                (
                    (
                        a.asset_type,
                        a.qualified_name,
                        a.table_type or a.native_type,
                        a.description,
                        render.when(a.last_seen_at),
                    )
                    for a in rows
                ),
            )
        )
    if more:
        click.echo(f"(the first {limit}; narrow with --type / --search or raise --limit)", err=True)


@assets.command("show")
@click.argument("qualified_name")
@click.option("--source", help="The data source (name or id) when several hold this name.")
@json_option
@tenant_option
def assets_show(qualified_name: str, source: str | None, as_json: bool, tenant: str) -> None:
    """Show an asset with its columns, nested fields, indexes, constraints and statistics."""
    from metadata_pipelines.catalog.browse import asset_detail, assets_named

    catalog = _catalog()
    owner = _resolve(catalog, tenant, source) if source else None
    found = assets_named(catalog.engine, tenant, qualified_name, owner.id if owner else None)
    if not found:
        where = f"data source {owner.name!r}" if owner else f"tenant {tenant!r}"
        raise click.ClickException(f"no asset named {qualified_name!r} in {where}")
    if len(found) > 1:
        names = ", ".join(catalog.data_sources.get(a.data_source_id, tenant).name for a in found)
        raise click.ClickException(
            f"{qualified_name!r} is in {len(found)} data sources ({names}); name one with --source"
        )
    detail = asset_detail(catalog.engine, tenant, found[0].id)
    if as_json:
        render.echo_json(detail.model_dump(mode="json"))
        return
    holder = owner or catalog.data_sources.get(detail.data_source_id, tenant)
    click.echo(render.asset_block(detail, holder))


@main.command()
@click.argument("source")
@click.option("--run", "run_id", help="This connector run's changes (default: the latest sync).")
@json_option
@tenant_option
def changes(source: str, run_id: str | None, as_json: bool, tenant: str) -> None:
    """What a sync changed in the catalog: tables and columns added, removed or retyped."""
    catalog = _catalog()
    found = _resolve(catalog, tenant, source)
    if run_id:
        try:
            run = catalog.connector_runs.get(run_id, tenant)
        except ConnectorRunNotFound:
            run = None
        if run is None or run.data_source_id != found.id:
            raise click.ClickException(f"connector run {run_id!r} is not a run of {found.name!r}")
    else:
        latest = catalog.connector_runs.list(
            tenant_id=tenant,
            data_source_id=found.id,
            statuses=[RunStatus.SUCCEEDED, RunStatus.PARTIAL],
            limit=1,
        )
        if not latest:
            raise click.ClickException(f"{found.name!r} has no completed sync yet")
        run = latest[0]
    if as_json:
        render.echo_json({"connector_run_id": run.id, **(run.stats or {})})
    else:
        click.echo(render.changes_block(run))


@main.command()
@click.argument("source")
@click.option(
    "--confirm-deletions",
    is_flag=True,
    help="Delete what the deletion fail-safe would hold (a whole database, or a large share).",
)
@tenant_option
def sync(source: str, confirm_deletions: bool, tenant: str) -> None:
    """Sync one data source now through the metadata_sync job, and summarize the run.

    Progress goes to stderr; a failed sync ends with a short summary and exit status 1."""
    catalog = _catalog()
    found = _resolve(catalog, tenant, source)
    run = _run_sync(found, confirm_deletions=confirm_deletions)
    if run.status is RunStatus.FAILED:
        click.echo(render.failure_summary(run, found), err=True)
        sys.exit(1)
    click.echo(render.run_block(run, found))


def _run_sync(source: DataSource, *, confirm_deletions: bool = False) -> ConnectorRun:
    from metadata_pipelines.orchestration.instance import get_instance
    from metadata_pipelines.orchestration.progress import sync_with_progress
    from metadata_pipelines.orchestration.runner import SyncAlreadyRunning

    settings = get_settings()
    if settings.log_format == "json":
        # The run's own records, one JSON object a line, stand for the progress lines.
        logger.info(
            "syncing %s source %r",
            source.connector_type,
            source.name,
            extra={"data_source_id": source.id, "tenant_id": source.tenant_id},
        )
        emit, log_level = (lambda _line: None), settings.log_level
    else:
        click.echo(
            f"syncing {source.connector_type} source {source.name!r} ({source.id})", err=True
        )
        emit, log_level = (lambda line: click.echo(f"  {line}", err=True)), "CRITICAL"
    try:
        outcome = sync_with_progress(
            source,
            get_instance(),
            emit,
            confirm_deletions=confirm_deletions,
            log_level=log_level,
        )
    except SyncAlreadyRunning as error:
        raise click.ClickException(str(error)) from None
    if outcome.connector_run is None:
        raise click.ClickException(
            f"Dagster run {outcome.dagster_run_id} failed before it recorded a connector run"
        )
    return outcome.connector_run


@main.command("request-sync")
@click.argument("source")
@tenant_option
def request_sync(source: str, tenant: str) -> None:
    """Record a pending sync for the daemon's run_request_sensor to launch (the application path)."""
    from metadata_pipelines.orchestration.run_requests import (
        DataSourceDisabled,
        request_metadata_sync,
    )

    catalog = _catalog()
    found = _resolve(catalog, tenant, source)
    try:
        run, created = request_metadata_sync(found.id, tenant, catalog=catalog)
    except (DataSourceNotFound, DataSourceDisabled) as error:
        raise click.ClickException(str(error)) from None
    state = "requested" if created else f"already {run.status.value}"
    click.echo(f"connector run {run.id}: {state}")


class _RunsGroup(click.Group):
    """`runs SOURCE` lists a source's runs (`runs list SOURCE`); `runs show ID` shows one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not any(arg in self.commands for arg in args[:1]) and not _asks_help(args):
            args = ["list", *args]
        return super().parse_args(ctx, args)


def _asks_help(args: list[str]) -> bool:
    return not args or args[0] in ("--help", "-h")


@main.group(cls=_RunsGroup)
def runs() -> None:
    """Connector runs: `runs SOURCE` lists a source's runs, `runs show ID` shows one."""


@runs.command("list")
@click.argument("source")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@json_option
@tenant_option
def runs_list(source: str, limit: int, as_json: bool, tenant: str) -> None:
    """A data source's connector runs, newest first."""
    catalog = _catalog()
    found = _resolve(catalog, tenant, source)
    rows = catalog.connector_runs.list(tenant_id=tenant, data_source_id=found.id, limit=limit)
    if as_json:
        render.echo_json([r.model_dump(mode="json") for r in rows])
    elif not rows:
        click.echo(f"{found.name!r} has no runs yet")
    else:
        click.echo(render.runs_table(rows))


@runs.command("show")
@click.argument("run_id")
@json_option
@tenant_option
def runs_show(run_id: str, as_json: bool, tenant: str) -> None:
    """One connector run, named by its id or its Dagster run id."""
    catalog = _catalog()
    run = catalog.connector_runs.find_by_dagster_run_id(run_id)
    if run is None or run.tenant_id != tenant:
        try:
            run = catalog.connector_runs.get(run_id, tenant)
        except ConnectorRunNotFound:
            raise click.ClickException(
                f"tenant {tenant!r} has no connector run or Dagster run {run_id!r}"
            ) from None
    if as_json:
        render.echo_json(run.model_dump(mode="json"))
        return
    source = catalog.data_sources.get(run.data_source_id, tenant) if run.data_source_id else None
    click.echo(render.run_block(run, source))


@main.command()
def demo() -> None:
    """Build the sample SQLite source, register it, sync it through Dagster and show the result."""
    from metadata_pipelines.sample import create_sample_database

    catalog = _catalog()
    sample_path = get_settings().embedded_home() / "sample" / "shop.db"
    if not sample_path.exists():
        create_sample_database(sample_path)
    click.echo(f"sample source database: {sample_path}")
    click.echo(f"catalog database:       {catalog.engine.url.render_as_string()}")
    try:
        source = catalog.data_sources.find_by_name(DEMO_TENANT, DEMO_SOURCE)
    except DataSourceNotFound:
        source = catalog.data_sources.create(
            tenant_id=DEMO_TENANT,
            name=DEMO_SOURCE,
            connector_type="sqlite",
            config={"path": str(sample_path)},
        )
    run = _run_sync(source)
    if run.status is RunStatus.FAILED:
        click.echo(render.failure_summary(run, source), err=True)
        sys.exit(1)
    click.echo("")
    _print_catalog(catalog, source)
    click.echo("")
    click.echo(render.run_block(run, source))


def _print_catalog(catalog: CatalogDatabase, source: DataSource) -> None:
    from metadata_pipelines.catalog.browse import live_tables

    for table, columns in live_tables(catalog.engine, source.tenant_id, source.id):
        row_count = table.details.get("row_count")
        rows = f"  ({row_count} rows)" if row_count is not None else ""
        click.echo(f"{table.asset_type} {table.qualified_name}{rows}")
        for column in columns:
            flags = " PRIMARY KEY" if column.is_primary_key else ""
            flags += "" if column.nullable else " NOT NULL"
            name = "  " * column.depth + column.name
            click.echo(f"    {name:24} {column.native_type or '(untyped)'}{flags}")


@main.command()
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535))
def ui(port: int) -> None:
    """Open the Dagster UI (with the daemon) on the embedded default instance."""
    from metadata_pipelines.orchestration.instance import embedded_dagster_home
    from metadata_pipelines.orchestration.location import write_workspace

    if _port_taken(UI_HOST, port):
        raise click.ClickException(
            f"port {port} on {UI_HOST} is already in use (another Dagster UI?); "
            "stop it or choose another port with --port"
        )
    dagster = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", embedded_dagster_home())
    home = Path(env["DAGSTER_HOME"])
    workspace = write_workspace(home / "workspace.yaml", Path.cwd())
    # `dagster dev` is all this needs (its successor `dg dev` wants a dg project); hush its notice.
    env["PYTHONWARNINGS"] = ",".join(
        filter(None, [env.get("PYTHONWARNINGS"), "ignore:Function `dev_command` is superseded"])
    )
    click.echo(f"Dagster UI on http://{UI_HOST}:{port} (instance home {home})")
    args = [dagster, "dev", "-w", str(workspace), "-h", UI_HOST, "-p", str(port)]
    # From the instance home: a dagster.yaml in the caller's folder (this repository's production
    # one) would otherwise draw a warning; the code location keeps the caller's folder.
    os.chdir(home)
    os.execve(dagster, args, env)  # noqa: S606 (replace this process with dagster dev)


def _announce(line: str) -> None:
    """A server's first line: a log record in JSON mode (its output is then all JSON lines)."""
    if get_settings().log_format == "json":
        logger.info(line)
    else:
        click.echo(line, err=True)


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the webserver binds
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes."
)
def api(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (uvicorn); behind a reverse proxy that terminates TLS in production."""
    import uvicorn

    _catalog().dispose()  # migrate once here, not in every worker
    _announce(f"HTTP API on http://{host}:{port}/api/v1 (docs at /api/v1/docs)")
    uvicorn.run(
        "metadata_pipelines.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,  # trusts X-Forwarded-* from FORWARDED_ALLOW_IPS (default 127.0.0.1)
        server_header=False,
        log_config=uvicorn_log_config(),
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=9464, show_default=True, type=click.IntRange(1, 65535))
@click.option("--once", is_flag=True, help="Print the metrics once on stdout and exit.")
def metrics(host: str, port: int, once: bool) -> None:
    """Export sync metrics for Prometheus, read from the catalog at each scrape (GET /metrics)."""
    from prometheus_client import generate_latest, start_http_server

    from metadata_pipelines.metrics import catalog_registry

    catalog = _catalog()
    registry = catalog_registry(catalog.engine)
    if once:
        click.echo(generate_latest(registry).decode(), nl=False)
        catalog.dispose()
        return
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    _announce(f"metrics on http://{host}:{port}/metrics")
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        catalog.dispose()


@main.group("api-keys")
def api_keys() -> None:
    """Create, list and revoke the HTTP API's keys (one tenant per key)."""


@api_keys.command("create")
@click.option("--name", default="api key", show_default=True, help="What the key is for.")
@tenant_option
def api_keys_create(name: str, tenant: str) -> None:
    """Create a key for TENANT; it is printed once and stored only as a hash."""
    record, key = _catalog().api_keys.create(tenant, name)
    click.echo(f"created API key {record.id} ({record.prefix}...) for tenant {tenant!r}", err=True)
    click.echo("store it now: it cannot be shown again", err=True)
    click.echo(key)


@api_keys.command("list")
@tenant_option
def api_keys_list(tenant: str) -> None:
    """List the tenant's keys (prefix only)."""
    keys = _catalog().api_keys.list(tenant)
    if not keys:
        click.echo("no API keys")
        return
    click.echo(f"{'ID':36}  {'PREFIX':12}  {'CREATED':25}  {'REVOKED':25}  NAME")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-"
        click.echo(
            f"{key.id:36}  {key.prefix:12}  {key.created_at.isoformat(timespec='seconds'):25}  "
            f"{revoked:25}  {key.name}"
        )


@api_keys.command("revoke")
@click.argument("key")
@tenant_option
def api_keys_revoke(key: str, tenant: str) -> None:
    """Revoke a key, named by its id or prefix; requests with it are refused from now on."""
    from metadata_pipelines.catalog.api_keys import ApiKeyNotFound

    try:
        record = _catalog().api_keys.revoke(tenant, key)
    except ApiKeyNotFound as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"revoked API key {record.id} ({record.prefix}...)")


def run() -> None:
    """Entry point that turns configuration errors into one clear line instead of a traceback."""
    try:
        configure_logging()
        main(standalone_mode=True)
    except (SecretKeyError, ConnectorRunNotFound) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except Exception as error:
        if not catalog_unavailable(error):
            raise
        cause = scrub(
            str(getattr(error, "orig", None) or error),
            url_secrets(get_settings().catalog_database_url()),
        )
        click.echo(
            f"error: the catalog database is unavailable: {' '.join(cause.split())}", err=True
        )
        sys.exit(3)
