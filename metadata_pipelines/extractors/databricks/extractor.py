"""Databricks Unity Catalog extractor: catalogs, schemas, tables, views, columns, keys.

Catalogs are listed (or the configured one is read), then every catalog's schemas, then every
schema's tables, each list paginated with `max_results=0`. Schemas are listed concurrently; the client
bounds the requests in flight. When a SQL warehouse is configured, primary and foreign keys are read
with one statement per catalog, concurrently with the listing.

Failure rules (the catalog deletes nothing under an ERROR scope):
- 401 anywhere, and any failure to list catalogs / read the configured catalog, fail the whole run;
- a catalog or schema that answers 404 has vanished: skipped with a WARNING;
- a 404 on a later page means an object vanished mid-listing: the listing restarts (WARNING);
- any other failure inside a catalog or schema is an ERROR scoped to it, and the rest continues.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import aclosing
from typing import Any, ClassVar
from urllib.parse import quote

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.databricks.client import NotFoundError, UnityCatalogClient
from metadata_pipelines.extractors.databricks.config import (
    DatabricksConfig,
    DatabricksCredentials,
)
from metadata_pipelines.extractors.databricks.constraints import (
    KeyCollector,
    constraints_statement,
)
from metadata_pipelines.extractors.databricks.gc_shield import GcShield
from metadata_pipelines.extractors.databricks.mapper import (
    CatalogInfo,
    SchemaInfo,
    TableInfo,
    map_catalog,
    map_schema,
    map_table,
    parse,
    read_tables_page,
    view_dependency_names,
)
from metadata_pipelines.extractors.databricks.statements import StatementRunner
from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    SourceResponseError,
)
from metadata_pipelines.models import (
    AssetType,
    ConstraintType,
    DatabaseMetadata,
    ExtractionError,
    ExtractionResult,
    SchemaMetadata,
    Severity,
    TableMetadata,
    utcnow,
)

logger = logging.getLogger(__name__)

UC = "/api/2.1/unity-catalog"
LISTING_RESTARTS = 2
INFORMATION_SCHEMA = "information_schema"


class DatabricksExtractor(BaseMetadataExtractor):
    """Reads a Databricks workspace's Unity Catalog over its REST API (httpx, async)."""

    connector_type: ClassVar[str] = "databricks"
    config_model = DatabricksConfig
    credentials_model = DatabricksCredentials
    config: DatabricksConfig
    credentials: DatabricksCredentials

    def __init__(
        self,
        config: Any,
        credentials: Any = None,
        *,
        client_options: dict[str, Any] | None = None,
        statement_options: dict[str, Any] | None = None,
    ) -> None:
        """`client_options` / `statement_options` tune internals (backoff, polling) for tests."""
        super().__init__(config, credentials)
        self._client_options = dict(client_options or {})
        self._statement_options = dict(statement_options or {})
        self.last_client: UnityCatalogClient | None = None

    def __repr__(self) -> str:
        return f"DatabricksExtractor(workspace_url={self.config.workspace_url!r})"

    def get_supported_asset_types(self) -> list[AssetType]:
        types = [AssetType.DATABASE, AssetType.SCHEMA, AssetType.TABLE, AssetType.VIEW]
        types.append(AssetType.COLUMN)
        if self.config.warehouse_id:
            types.append(AssetType.CONSTRAINT)
        return types

    def _client(self) -> UnityCatalogClient:
        options: dict[str, Any] = {
            "max_concurrent_requests": self.config.max_concurrent_requests,
            "timeout_seconds": self.config.request_timeout_seconds,
            "retry_budget_seconds": self.config.retry_budget_seconds,
            **self._client_options,
        }
        client = UnityCatalogClient(self.config.workspace_url, self.credentials, **options)
        self.last_client = client
        return client

    def usage(self) -> dict[str, int]:
        if self.last_client is None:
            return {}
        return {
            "http_requests": self.last_client.requests_sent,
            "http_retries": self.last_client.retries,
        }

    def _statements(self, client: UnityCatalogClient) -> StatementRunner | None:
        if not self.config.warehouse_id:
            return None
        options = {"timeout_seconds": self.config.statement_timeout_seconds}
        options.update(self._statement_options)
        return StatementRunner(client, self.config.warehouse_id, **options)

    async def check_connection(self) -> None:
        """Reach the workspace and prove the token (read the catalog, or list one catalog), then,
        when keys are to be read, that the SQL warehouse exists and may be used."""
        async with self._client() as client:
            if self.config.catalog:
                await _get_catalog(client, self.config)
            else:
                await client.get_json(
                    f"{UC}/catalogs",
                    {"max_results": 1, "include_browse": self.config.include_browse or None},
                    what="listing catalogs",
                )
            runner = self._statements(client)
            if runner is not None:
                await runner.check_warehouse()

    async def extract_metadata(self) -> ExtractionResult:
        started = utcnow()
        async with self._client() as client:
            runner = self._statements(client)
            extraction = _Extraction(self.config, client, runner)
            with extraction.gc_shield:
                await extraction.run()
        return ExtractionResult.build(
            self.connector_type,
            started,
            databases=sorted(extraction.databases, key=lambda d: d.name),
            schemas=sorted(extraction.schemas, key=lambda s: (s.database, s.name)),
            tables=sorted(extraction.tables, key=lambda t: t.path),
            errors=extraction.errors,
        )


async def _get_catalog(client: UnityCatalogClient, config: DatabricksConfig) -> dict[str, Any]:
    assert config.catalog
    try:
        return await client.get_json(
            f"{UC}/catalogs/{quote(config.catalog, safe='')}",
            {"include_browse": config.include_browse or None},
            what=f"reading catalog {config.catalog!r}",
        )
    except NotFoundError:
        raise ConfigurationError(
            f"catalog {config.catalog!r} does not exist or is not visible to this principal; "
            "check the catalog setting and the principal's USE CATALOG grant"
        ) from None


class _Extraction:
    """One extraction run: collects models and scoped errors while the listing fans out."""

    def __init__(
        self,
        config: DatabricksConfig,
        client: UnityCatalogClient,
        runner: StatementRunner | None,
    ) -> None:
        self.config = config
        self.client = client
        self.runner = runner
        self.databases: list[DatabaseMetadata] = []
        self.schemas: list[SchemaMetadata] = []
        self.tables: list[TableMetadata] = []
        self.errors: list[ExtractionError] = []
        self.keys = KeyCollector()
        self.gc_shield = GcShield()

    # -- orchestration --------------------------------------------------------------------------

    async def run(self) -> None:
        catalogs = await self._catalogs()
        await _all(self._catalog(info) for info in catalogs)
        self._attach_constraints()

    async def _catalogs(self) -> list[CatalogInfo]:
        if self.config.catalog:
            raw = await _get_catalog(self.client, self.config)
            return [parse(CatalogInfo, raw, f"reading catalog {self.config.catalog!r}")]
        what = "listing catalogs"
        items = await self._collect(
            lambda: self.client.paginate(f"{UC}/catalogs", self._browse({}), "catalogs", what=what),
            what,
            scope=(),
        )
        catalogs = []
        for raw in items:
            info = self._parse_item(CatalogInfo, raw, what, lambda name: (name,))
            if info is not None and self.config.catalog_filter.allows(info.name):
                catalogs.append(info)
        return catalogs

    async def _catalog(self, info: CatalogInfo) -> None:
        name = info.name
        scope = (name,)
        what = f"listing schemas of catalog {name!r}"
        keys = asyncio.create_task(self._read_keys(name)) if self.runner else None
        try:
            items = await self._collect(
                lambda: self.client.paginate(
                    f"{UC}/schemas", self._browse({"catalog_name": name}), "schemas", what=what
                ),
                what,
                scope=scope,
            )
        except NotFoundError as error:
            if keys:
                keys.cancel()
            self._warn(scope, AssetType.DATABASE, f"catalog vanished while listing: {error}")
            return
        except AuthenticationError:
            if keys:
                keys.cancel()
            raise
        except ExtractorError as error:
            self.databases.append(map_catalog(info))
            self._fail(scope, AssetType.DATABASE, error)
            if keys:
                await keys
            return
        self.databases.append(map_catalog(info))
        schemas = []
        for raw in items:
            schema = self._parse_item(SchemaInfo, raw, what, lambda n: (name, n))
            if schema is None or not self._wanted_schema(schema):
                continue
            schemas.append(schema)
        await _all(self._schema(schema) for schema in schemas)
        if keys:
            await keys

    def _wanted_schema(self, schema: SchemaInfo) -> bool:
        if schema.name == INFORMATION_SCHEMA and not self.config.include_information_schema:
            return False
        return self.config.schema_filter.allows(schema.name, f"{schema.catalog_name}.{schema.name}")

    async def _schema(self, info: SchemaInfo) -> None:
        catalog, name = info.catalog_name, info.name
        scope = (catalog, name)
        what = f"listing tables of schema {catalog}.{name}"
        try:
            found = await self._collect(
                lambda: self.client.paginate(
                    f"{UC}/tables",
                    self._browse({"catalog_name": catalog, "schema_name": name}),
                    "tables",
                    what=what,
                    read=read_tables_page,
                ),
                what,
                scope=scope,
                convert=lambda page: self._tables_in(page, catalog, name, what),
            )
        except NotFoundError as error:
            self._warn(scope, AssetType.SCHEMA, f"schema vanished while listing: {error}")
            return
        except AuthenticationError:
            raise
        except ExtractorError as error:
            self.schemas.append(map_schema(info))
            self._fail(scope, AssetType.SCHEMA, error)
            return
        self.schemas.append(map_schema(info))
        tables = [item for item in found if not isinstance(item, ExtractionError)]
        self.errors.extend(item for item in found if isinstance(item, ExtractionError))
        self.tables.extend(tables)
        if self.config.include_view_dependencies:
            await _all(
                self._view_dependencies(table)
                for table in tables
                if table.table_type.asset_type is AssetType.VIEW
                and "view_dependencies" not in table.properties
            )

    async def _view_dependencies(self, view: TableMetadata) -> None:
        """Read one view to learn what it depends on (listings leave that out). A view that cannot
        be read keeps everything else the listing gave: the failure is a WARNING on it."""
        full_name = view.properties.get("full_name") or ".".join(view.path)
        what = f"reading view {full_name}"
        try:
            raw = await self.client.get_json(
                f"{UC}/tables/{quote(full_name, safe='')}", self._browse({}), what=what
            )
            info: TableInfo = parse(TableInfo, raw, what)
        except AuthenticationError:
            raise
        except ExtractorError as error:
            self._warn(
                view.path, AssetType.VIEW, f"dependencies not read: {error}", code=error.code
            )
            return
        dependencies = view_dependency_names(info.view_dependencies)
        if dependencies:
            view.properties["view_dependencies"] = dependencies

    def _tables_in(
        self, page: list[Any], catalog: str, schema: str, what: str
    ) -> list[TableMetadata | ExtractionError]:
        """One page's wanted tables, and an ERROR for each malformed one (kept apart from
        `self.errors` until the listing completes, as a restarted listing maps its pages again)."""
        found: list[TableMetadata | ExtractionError] = []
        allows = self.config.table_filter.allows
        with self.gc_shield.building():  # synchronous: see gc_shield.py for why
            for raw in page:
                table = self._parsed(TableInfo, raw, what, lambda n: (catalog, schema, n))
                if isinstance(table, ExtractionError):
                    found.append(table)
                elif allows(table.name, f"{catalog}.{schema}.{table.name}"):
                    found.append(map_table(table))
        return found

    # -- keys -----------------------------------------------------------------------------------

    async def _read_keys(self, catalog: str) -> None:
        assert self.runner is not None
        what = f"reading primary and foreign keys of catalog {catalog!r}"
        try:
            result = await self.runner.run(constraints_statement(catalog), what=what)
            self.keys.add_rows(result.records(), what)
        except AuthenticationError:
            raise
        except ExtractorError as error:
            self._fail((catalog,), AssetType.CONSTRAINT, error)

    def _attach_constraints(self) -> None:
        if self.runner is None:
            return
        by_table, unresolved = self.keys.build()
        extracted = {table.path: table for table in self.tables}
        for path, constraints in by_table.items():
            table = extracted.get(path)
            if table is None:
                continue
            table.constraints = constraints
            primary = {
                column
                for constraint in constraints
                if constraint.constraint_type is ConstraintType.PRIMARY_KEY
                for column in constraint.columns
            }
            for column in table.columns:
                column.is_primary_key = column.name in primary
        for missing in unresolved:
            if missing.table in extracted:
                self._warn(
                    missing.table,
                    AssetType.CONSTRAINT,
                    f"foreign key {missing.name!r} skipped: {missing.reason}",
                    code="unresolved_foreign_key",
                )

    # -- helpers --------------------------------------------------------------------------------

    def _browse(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.config.include_browse:
            params["include_browse"] = True
        return params

    async def _collect(
        self,
        pages: Callable[[], AsyncIterator[list[Any]]],
        what: str,
        scope: tuple[str, ...],
        convert: Callable[[list[Any]], list[Any]] | None = None,
    ) -> list[Any]:
        """All items of a paginated listing; restarts it when an object vanishes mid-way.

        Each page goes through `convert` as soon as it arrives, while the next one is on its way.
        A 404 on the first page means the parent itself is gone and is raised; on a later page the
        page token pointed at something deleted since, so the listing starts over from scratch.
        """
        for attempt in range(LISTING_RESTARTS + 1):
            items: list[Any] = []
            pages_read = 0
            try:
                async with aclosing(pages()) as listing:
                    async for page in listing:
                        pages_read += 1
                        items.extend(convert(page) if convert else page)
                return items
            except NotFoundError as error:
                if pages_read == 0 or attempt == LISTING_RESTARTS:
                    raise
                self._warn(
                    scope,
                    None,
                    f"an object vanished while {what} ({error}); the listing was restarted",
                    code="listing_restarted",
                )
        raise AssertionError("unreachable")

    def _parse_item(
        self,
        model: type[Any],
        raw: Any,
        what: str,
        scope_of: Callable[[str], tuple[str, ...]],
    ) -> Any:
        """Parse one listed object, or record why it could not be and return None."""
        parsed = self._parsed(model, raw, what, scope_of)
        if isinstance(parsed, ExtractionError):
            self.errors.append(parsed)
            return None
        return parsed

    def _parsed(
        self,
        model: type[Any],
        raw: Any,
        what: str,
        scope_of: Callable[[str], tuple[str, ...]],
    ) -> Any:
        """One listed object as `model`; a malformed one is an ERROR on its own scope, not the
        page's (only an object without a name, which has no scope of its own, fails the page)."""
        if isinstance(raw, model):
            return raw  # the page was read straight into models
        try:
            return parse(model, raw, what)
        except SourceResponseError as error:
            name = raw.get("name") if isinstance(raw, dict) else None
            if not isinstance(name, str) or not name:
                raise
            return self._error(scope_of(name), None, error)

    def _warn(
        self,
        scope: tuple[str, ...],
        asset_type: AssetType | None,
        message: str,
        code: str = "vanished",
    ) -> None:
        message = self.client.safe(message)
        logger.warning("%s: %s", ".".join(scope) or "(source)", message)
        self.errors.append(
            ExtractionError(
                scope=scope,
                asset_type=asset_type,
                message=message,
                severity=Severity.WARNING,
                retryable=False,
                code=code,
            )
        )

    def _fail(
        self, scope: tuple[str, ...], asset_type: AssetType | None, error: ExtractorError
    ) -> None:
        self.errors.append(self._error(scope, asset_type, error))

    def _error(
        self, scope: tuple[str, ...], asset_type: AssetType | None, error: ExtractorError
    ) -> ExtractionError:
        message = self.client.safe(str(error))
        logger.error("%s: %s", ".".join(scope) or "(source)", message)
        return ExtractionError(
            scope=scope,
            asset_type=asset_type,
            message=message,
            severity=Severity.ERROR,
            retryable=error.retryable,
            code=error.code,
        )


async def _all(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run concurrently; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)
    except BaseExceptionGroup as failures:
        raise _first_leaf(failures) from None


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
