"""The `metadata-pipelines` command line: catalog setup, data sources, syncs, the demo and the UI.

Credentials are read from a file, standard input or an environment variable, never from an option
value (which would land in shell history and process listings), and are never printed back.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from metadata_pipelines.catalog.connector_runs import ConnectorRunNotFound
from metadata_pipelines.catalog.data_sources import DataSourceNotFound, DuplicateDataSource
from metadata_pipelines.catalog.database import CatalogDatabase, catalog_unavailable, url_secrets
from metadata_pipelines.catalog.records import ConnectorRun, DataSource, RunStatus
from metadata_pipelines.catalog.secrets import SecretKeyError
from metadata_pipelines.extractors.errors import ConfigurationError, scrub
from metadata_pipelines.settings import get_settings

DEMO_TENANT = "demo"
DEMO_SOURCE = "sample-shop"

tenant_option = click.option(
    "--tenant",
    default=lambda: get_settings().tenant,
    show_default="env METADATA_PIPELINES_TENANT, else default",
    help="Tenant that owns the data source.",
)


def _catalog() -> CatalogDatabase:
    catalog = CatalogDatabase.from_settings()
    catalog.upgrade()
    return catalog


def _resolve(catalog: CatalogDatabase, tenant: str, source: str) -> DataSource:
    """A source by id or by name within the tenant."""
    try:
        return catalog.data_sources.get(source, tenant)
    except DataSourceNotFound:
        return catalog.data_sources.find_by_name(tenant, source)


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
    text = Path(config[1:]).read_text() if config.startswith("@") else config
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise click.UsageError(f"--config is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise click.UsageError("--config must be a JSON object")
    return parsed


@sources.command("add")
@click.argument("name")
@click.option("--type", "connector_type", required=True, help="Connector type, e.g. mysql.")
@click.option("--config", required=True, help="Config as JSON, or @path to a JSON file.")
@click.option(
    "--credentials-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON file holding the credentials.",
)
@click.option("--credentials-stdin", is_flag=True, help="Read the credentials JSON from stdin.")
@click.option("--credentials-env", help="Environment variable holding the credentials JSON.")
@click.option("--schedule", help="Cron expression for this source's own sync schedule.")
@click.option("--disabled", is_flag=True, help="Register without syncing it.")
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
    tenant: str,
) -> None:
    """Register a data source NAME; its config is validated by the connector before it is stored."""
    catalog = _catalog()
    credentials = _read_credentials(credentials_file, credentials_stdin, credentials_env)
    try:
        source = catalog.data_sources.create(
            tenant_id=tenant,
            name=name,
            connector_type=connector_type,
            config=_parse_config(config),
            credentials=credentials,
            enabled=not disabled,
            sync_schedule=schedule,
        )
    except (ConfigurationError, DuplicateDataSource, ValueError) as error:
        raise click.ClickException(str(error)) from None
    # No partition here: data_source_sensor adds it together with the first sync.
    click.echo(f"registered {source.connector_type} source {source.name!r} with id {source.id}")


def _remove_partition(data_source_id: str) -> None:
    from metadata_pipelines.orchestration.instance import get_instance
    from metadata_pipelines.orchestration.partitions import remove_partition

    remove_partition(get_instance(), data_source_id)


@sources.command("list")
@click.option("--tenant", envvar="METADATA_PIPELINES_TENANT", help="Only this tenant's sources.")
def sources_list(tenant: str | None) -> None:
    """List data sources."""
    rows = _catalog().data_sources.list(tenant)
    if not rows:
        click.echo("no data sources")
        return
    click.echo(f"{'ID':36}  {'TENANT':12}  {'NAME':24}  {'TYPE':10}  ENABLED  SCHEDULE")
    for s in rows:
        click.echo(
            f"{s.id:36}  {s.tenant_id:12}  {s.name:24}  {s.connector_type:10}  "
            f"{'yes' if s.enabled else 'no':7}  {s.sync_schedule or '-'}"
        )


@sources.command("show")
@click.argument("source")
@tenant_option
def sources_show(source: str, tenant: str) -> None:
    """Show one data source (by id or name); credentials are masked."""
    catalog = _catalog()
    try:
        found = _resolve(catalog, tenant, source)
    except DataSourceNotFound as error:
        raise click.ClickException(str(error)) from None
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
    try:
        found = _resolve(catalog, tenant, source)
        catalog.data_sources.remove(found.id, tenant)
    except DataSourceNotFound as error:
        raise click.ClickException(str(error)) from None
    _remove_partition(found.id)
    click.echo(f"removed {found.name!r} ({found.id})")


@main.command()
@click.argument("source")
@click.option(
    "--confirm-deletions",
    is_flag=True,
    help="Delete what the deletion fail-safe would hold (a whole database, or a large share).",
)
@tenant_option
def sync(source: str, confirm_deletions: bool, tenant: str) -> None:
    """Sync one data source now through the metadata_sync job, and summarize the run."""
    catalog = _catalog()
    try:
        found = _resolve(catalog, tenant, source)
    except DataSourceNotFound as error:
        raise click.ClickException(str(error)) from None
    run = _run_sync(found, confirm_deletions=confirm_deletions)
    _print_run(run)
    if run.status is RunStatus.FAILED:
        sys.exit(1)


def _run_sync(source: DataSource, *, confirm_deletions: bool = False) -> ConnectorRun:
    from metadata_pipelines.orchestration.instance import get_instance
    from metadata_pipelines.orchestration.runner import SyncAlreadyRunning, execute_sync

    click.echo(f"syncing {source.connector_type} source {source.name!r} ({source.id}) ...")
    try:
        outcome = execute_sync(
            source.id,
            source.tenant_id,
            instance=get_instance(),
            trigger="manual",
            log_level="INFO",
            confirm_deletions=confirm_deletions,
        )
    except SyncAlreadyRunning as error:
        raise click.ClickException(str(error)) from None
    if outcome.connector_run is None:
        raise click.ClickException(
            f"Dagster run {outcome.dagster_run_id} failed before it recorded a connector run"
        )
    return outcome.connector_run


def _print_run(run: ConnectorRun) -> None:
    click.echo("")
    click.echo(f"connector run {run.id}: {run.status.value.upper()}")
    click.echo(f"  dagster run  {run.dagster_run_id}")
    click.echo(f"  attempts     {run.attempts}")
    if run.started_at and run.finished_at:
        click.echo(f"  duration     {(run.finished_at - run.started_at).total_seconds():.2f} s")
    if run.stats:
        extracted = run.stats.get("extracted", {})
        found = ", ".join(f"{count} {kind}" for kind, count in extracted.items() if count)
        click.echo(f"  extracted    {found or 'nothing'}")
        changes = ", ".join(
            f"{run.stats[key]} {key}"
            for key in ("inserted", "updated", "unchanged", "deleted", "restored")
        )
        click.echo(f"  catalog      {changes}")
    if run.error_message:
        click.echo(f"  error        {run.error_message}")


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
    try:
        found = _resolve(catalog, tenant, source)
        run, created = request_metadata_sync(found.id, tenant, catalog=catalog)
    except (DataSourceNotFound, DataSourceDisabled) as error:
        raise click.ClickException(str(error)) from None
    state = "requested" if created else f"already {run.status.value}"
    click.echo(f"connector run {run.id}: {state}")


@main.command()
@click.argument("source")
@click.option("--limit", default=20, show_default=True)
@tenant_option
def runs(source: str, limit: int, tenant: str) -> None:
    """Show the connector-run history of a data source."""
    catalog = _catalog()
    try:
        found = _resolve(catalog, tenant, source)
    except DataSourceNotFound as error:
        raise click.ClickException(str(error)) from None
    for run in catalog.connector_runs.list(tenant_id=tenant, data_source_id=found.id, limit=limit):
        started = run.started_at.isoformat(timespec="seconds") if run.started_at else "-"
        click.echo(
            f"{started:25}  {run.status.value:9}  attempts={run.attempts}  "
            f"trigger={run.trigger or '-':11}  {run.error_message or ''}"
        )


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
    click.echo("")
    _print_catalog(catalog, source)
    _print_run(run)
    if run.status is RunStatus.FAILED:
        sys.exit(1)


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
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Open the Dagster UI (with the daemon) on the embedded default instance."""
    from metadata_pipelines.orchestration.instance import embedded_dagster_home

    dagster = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", embedded_dagster_home())
    click.echo(f"Dagster UI on http://127.0.0.1:{port} (instance home {env['DAGSTER_HOME']})")
    args = [
        dagster,
        "dev",
        "-m",
        "metadata_pipelines.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    os.execve(dagster, args, env)  # noqa: S606 (replace this process with dagster dev)


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
    click.echo(f"HTTP API on http://{host}:{port}/api/v1 (docs at /api/v1/docs)")
    uvicorn.run(
        "metadata_pipelines.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,  # trusts X-Forwarded-* from FORWARDED_ALLOW_IPS (default 127.0.0.1)
        server_header=False,
    )


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
