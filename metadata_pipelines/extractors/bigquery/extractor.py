"""BigQuery extractor: projects, datasets, tables, views, nested columns and routines.

Per project: `datasets.list`, then per dataset (a few at a time) `datasets.get`, `tables.list`,
`routines.list` (all free REST calls) and four or five INFORMATION_SCHEMA jobs (queries.py) that
describe every table of the dataset at once; statistics come from one TABLE_STORAGE job per region.
`tables.get` is only a fallback, bounded in concurrency and count: for tables the jobs did not
describe (created since, or a server whose INFORMATION_SCHEMA is incomplete), materialized views
(their SQL), and every table of a dataset whose INFORMATION_SCHEMA is denied. With `metadata_only`
no job runs: every table is read with `tables.get`, nothing is billed.

Each dataset becomes one batch (or several of `batch_max_tables` tables); a table never spans two.

Failure rules (the catalog deletes nothing under an ERROR scope):
- authentication failures and a failure to list projects fail the whole sync;
- a project whose datasets cannot be listed: ERROR scoped to the project;
- a dataset that cannot be read (403 accessDenied, or a job that keeps failing): ERROR scoped to it;
- a dataset or table that vanished between listing and reading (404): skipped with a WARNING;
- a table that cannot be read: ERROR scoped to the table; an unknown column type: WARNING.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, TypeVar

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.bigquery import queries
from metadata_pipelines.extractors.bigquery.classify import (
    classify,
    is_access_denied,
    is_not_found,
)
from metadata_pipelines.extractors.bigquery.client import (
    Accounting,
    BigQueryApi,
    build_credentials,
    default_project,
)
from metadata_pipelines.extractors.bigquery.config import BigQueryConfig, BigQueryCredentials
from metadata_pipelines.extractors.bigquery.mapper import (
    VIEW_TYPES,
    DatasetRows,
    Statistics,
    dataset_stub,
    map_dataset,
    map_project,
    map_routine,
    map_table_from_resource,
    map_table_from_rows,
    statistics_from_resource,
    statistics_from_storage,
)
from metadata_pipelines.extractors.bigquery.type_strings import TypeStringError
from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    scrub,
)
from metadata_pipelines.models import (
    AssetType,
    ExtractionBatch,
    ExtractionError,
    RoutineMetadata,
    SchemaMetadata,
    Severity,
    TableMetadata,
    TableType,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
StatisticsMap = dict[tuple[str, str], Statistics]


class BigQueryExtractor(BaseMetadataExtractor):
    """Reads BigQuery projects through google-cloud-bigquery (REST listings + INFORMATION_SCHEMA)."""

    connector_type: ClassVar[str] = "bigquery"
    config_model = BigQueryConfig
    credentials_model = BigQueryCredentials
    config: BigQueryConfig
    credentials: BigQueryCredentials

    def __init__(self, config: Any, credentials: Any = None) -> None:
        super().__init__(config, credentials)
        if self.credentials.method == "anonymous" and not self.config.on_loopback:
            raise ConfigurationError(
                "anonymous credentials are only accepted with an api_endpoint on loopback"
            )
        #: What the last check or sync cost (API calls, jobs, bytes billed); for logs and benchmarks.
        self.accounting = Accounting()

    def __repr__(self) -> str:
        return f"BigQueryExtractor(projects={self.config.project_ids or 'all listed'})"

    def get_supported_asset_types(self) -> list[AssetType]:
        types = [AssetType.DATABASE, AssetType.SCHEMA, AssetType.TABLE, AssetType.COLUMN]
        if self.config.include_views:
            types.append(AssetType.VIEW)
        if self.config.include_routines:
            types.append(AssetType.ROUTINE)
        return types

    @asynccontextmanager
    async def _api(self) -> AsyncIterator[BigQueryApi]:
        try:
            credentials = await asyncio.to_thread(build_credentials, self.config, self.credentials)
        except ExtractorError:
            raise
        except Exception as error:
            raise self._classified(error, "loading credentials") from None
        api = BigQueryApi(self.config, credentials, default_project(self.config, self.credentials))
        self.accounting = api.accounting
        try:
            yield api
        finally:
            api.close()

    async def check_connection(self) -> None:
        """Authenticate and make one cheap listing call (datasets of the first project, or projects)."""
        async with self._api() as api:
            if self.config.project_ids:
                project = self.config.project_ids[0]
                where = f"listing datasets of project {project!r}"
                try:
                    await api.run(api.list_dataset_ids, project, 1)
                except Exception as error:
                    if is_not_found(error):
                        raise ConfigurationError(
                            f"project {project!r} does not exist or is not visible"
                        ) from None
                    raise self._classified(error, where) from None
            else:
                try:
                    await api.run(api.list_project_ids, 1)
                except Exception as error:
                    raise self._classified(error, "listing projects") from None

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        async with self._api() as api:
            sync = _Sync(self.config, api, self.secret_values())
            async for batch in sync.batches():
                yield batch
            logger.info("BigQuery sync cost: %s", api.accounting.summary())

    def usage(self) -> dict[str, int]:
        return {
            "api_calls": self.accounting.api_calls,
            "query_jobs": self.accounting.queries,
            "bytes_billed": self.accounting.bytes_billed,
            "bytes_processed": self.accounting.bytes_processed,
        }

    def _classified(self, error: BaseException, where: str) -> ExtractorError:
        classified = classify(error, where)
        classified.message = self.safe_message(classified)
        return classified


class _Sync:
    """One sync: walks projects and datasets, yielding a batch per dataset as it completes."""

    def __init__(self, config: BigQueryConfig, api: BigQueryApi, secrets: list[str]) -> None:
        self.config = config
        self.api = api
        self.secrets = secrets
        self.dataset_slots = asyncio.Semaphore(config.max_concurrent_datasets)

    async def batches(self) -> AsyncIterator[ExtractionBatch]:
        projects = await self._projects()
        unreadable: list[tuple[str, ExtractorError]] = []
        for project in projects:
            async for batch in self._project(project, unreadable):
                yield batch
        if unreadable and len(unreadable) == len(projects):
            # Not one project could be listed: the sync failed, rather than found nothing.
            raise unreadable[0][1]
        if unreadable:
            yield ExtractionBatch(
                databases=[map_project(project) for project, _ in unreadable],
                errors=[
                    self._error((project,), AssetType.DATABASE, error)
                    for project, error in unreadable
                ],
            )

    async def _projects(self) -> list[str]:
        if self.config.project_ids:
            names = list(self.config.project_ids)
        else:
            names = await self._call(self.api.list_project_ids, what="listing projects")
        return [name for name in names if self.config.project_filter.allows(name)]

    async def _project(
        self, project: str, unreadable: list[tuple[str, ExtractorError]]
    ) -> AsyncIterator[ExtractionBatch]:
        header = [map_project(project)]
        scope = (project,)
        try:
            names = await self._call(
                self.api.list_dataset_ids, project, what=f"listing datasets of project {project!r}"
            )
        except _Missing as missing:
            if project in self.config.project_ids:
                unreadable.append((project, missing.error))
            else:
                yield ExtractionBatch(errors=[self._warning(scope, f"project vanished: {missing}")])
            return
        except _Scoped as failure:
            unreadable.append((project, failure.error))
            return
        wanted = [
            name for name in names if self.config.dataset_filter.allows(name, f"{project}.{name}")
        ]
        results = await asyncio.gather(*(self._dataset_resource(project, n) for n in wanted))
        in_scope = [r for r in results if r is not None and self._in_location(r)]
        statistics = asyncio.create_task(self._statistics(project, in_scope))
        queue: asyncio.Queue[list[ExtractionBatch]] = asyncio.Queue()

        async def work(found: SchemaMetadata | ExtractionBatch) -> None:
            async with self.dataset_slots:
                await queue.put(await self._dataset(project, found, statistics))

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(work(found)) for found in in_scope]
                for _ in tasks:
                    for batch in await queue.get():
                        if header:
                            batch.databases, header = header, []
                        yield batch
                stats_errors = (await statistics)[1]
        except BaseExceptionGroup as failures:
            raise _first_leaf(failures) from None
        if header or stats_errors:
            yield ExtractionBatch(databases=header, errors=stats_errors)

    def _in_location(self, found: SchemaMetadata | ExtractionBatch) -> bool:
        if not self.config.wanted_locations or isinstance(found, ExtractionBatch):
            return True
        location = str(found.properties.get("location") or "").lower()
        return location in self.config.wanted_locations

    async def _dataset_resource(
        self, project: str, dataset: str
    ) -> SchemaMetadata | ExtractionBatch | None:
        """The dataset's model; an error batch when it cannot be read; None when it vanished."""
        scope = (project, dataset)
        try:
            resource = await self._call(
                self.api.get_dataset, project, dataset, what=f"reading dataset {project}.{dataset}"
            )
        except _Missing as missing:
            self._log_warning(scope, f"dataset vanished after listing: {missing}")
            return None
        except _Scoped as failure:
            return ExtractionBatch(
                schemas=[dataset_stub(project, dataset)],
                errors=[self._error(scope, AssetType.SCHEMA, failure.error)],
            )
        return map_dataset(resource)

    # Statistics ---------------------------------------------------------------------------------

    async def _statistics(
        self, project: str, datasets: list[SchemaMetadata | ExtractionBatch]
    ) -> tuple[StatisticsMap, list[ExtractionError]]:
        """Rows and bytes of every table, one TABLE_STORAGE job per region (WARNING if denied)."""
        if not self.config.include_statistics or self.config.metadata_only:
            return {}, []
        by_location: dict[str, list[str]] = {}
        for found in datasets:
            if isinstance(found, SchemaMetadata):
                location = str(found.properties.get("location") or "US")
                by_location.setdefault(location, []).append(found.name)
        found_stats: StatisticsMap = {}
        errors: list[ExtractionError] = []
        for location, names in sorted(by_location.items()):
            sql = queries.table_storage(project, location, names)
            try:
                rows = await self._query(sql, project, location, f"reading storage of {project}")
            except (_Scoped, _Missing) as failure:
                errors.append(
                    self._warning(
                        (project,),
                        f"table statistics of region {location} not read: {failure.error}",
                        code="statistics_unavailable",
                    )
                )
                continue
            for row in rows:
                found_stats[(row["table_schema"], row["table_name"])] = statistics_from_storage(row)
        return found_stats, errors

    # One dataset --------------------------------------------------------------------------------

    async def _dataset(
        self,
        project: str,
        found: SchemaMetadata | ExtractionBatch,
        statistics: asyncio.Task[tuple[StatisticsMap, list[ExtractionError]]],
    ) -> list[ExtractionBatch]:
        if isinstance(found, ExtractionBatch):
            return [found]
        schema = found
        dataset = schema.name
        scope = (project, dataset)
        location = schema.properties.get("location")
        errors: list[ExtractionError] = []
        try:
            listed = await self._call(
                self.api.list_tables,
                project,
                dataset,
                what=f"listing tables of {project}.{dataset}",
            )
        except _Missing as missing:
            self._log_warning(scope, f"dataset vanished while listing tables: {missing}")
            return [ExtractionBatch(errors=[self._warning(scope, f"dataset vanished: {missing}")])]
        except _Scoped as failure:
            return [
                ExtractionBatch(
                    schemas=[schema], errors=[self._error(scope, AssetType.SCHEMA, failure.error)]
                )
            ]
        listed = [item for item in listed if self._wanted_table(project, dataset, item)]
        routines, routine_errors = await self._routines(project, dataset)
        errors += routine_errors
        unknown: list[tuple[str, str]] = []
        if self.config.metadata_only:
            tables, get_errors = await self._tables_by_get(
                project, dataset, listed, {}, unknown, limit=None
            )
            errors += get_errors
        else:
            tables, dataset_errors = await self._tables_by_information_schema(
                project, dataset, location, listed, statistics, unknown
            )
            errors += dataset_errors
        for table_name, path in unknown:
            errors.append(
                self._warning(
                    (project, dataset, table_name),
                    f"column {path} has a type this connector does not know; kept as unknown",
                    code="unknown_type",
                )
            )
        tables.sort(key=lambda t: t.name)
        return self._split(schema, tables, routines, errors)

    def _wanted_table(self, project: str, dataset: str, item: dict[str, Any]) -> bool:
        name = item["tableReference"]["tableId"]
        if item.get("type") in VIEW_TYPES and not self.config.include_views:
            return False
        return self.config.table_filter.allows(
            name, f"{dataset}.{name}", f"{project}.{dataset}.{name}"
        )

    def _split(
        self,
        schema: SchemaMetadata,
        tables: list[TableMetadata],
        routines: list[RoutineMetadata],
        errors: list[ExtractionError],
    ) -> list[ExtractionBatch]:
        size = self.config.batch_max_tables
        chunks = [tables[i : i + size] for i in range(0, len(tables), size)] or [[]]
        batches = [ExtractionBatch(tables=chunk) for chunk in chunks]
        batches[0].schemas = [schema]
        batches[0].routines = routines
        batches[0].errors = errors
        return batches

    async def _tables_by_information_schema(
        self,
        project: str,
        dataset: str,
        location: str | None,
        listed: list[dict[str, Any]],
        statistics: asyncio.Task[tuple[StatisticsMap, list[ExtractionError]]],
        unknown: list[tuple[str, str]],
    ) -> tuple[list[TableMetadata], list[ExtractionError]]:
        scope = (project, dataset)
        if not listed:
            return [], []
        billing = self.config.billing_project or project
        views = list(queries.DATASET_VIEWS)
        if self.config.include_views and any(item.get("type") == "VIEW" for item in listed):
            views.append("VIEWS")
        calls = [
            self._query(
                queries.dataset_view(project, dataset, view),
                billing,
                location,
                f"reading {project}.{dataset}.INFORMATION_SCHEMA.{view}",
            )
            for view in views
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, _Scoped | _Missing)]
        others = [o for o in outcomes if isinstance(o, BaseException) and o not in failures]
        if others:
            raise others[0]
        stats_map = (await statistics)[0]
        if failures:
            failure = failures[0]
            if isinstance(failure, _Scoped) and is_access_denied(failure.cause):
                # INFORMATION_SCHEMA (or running jobs) is denied: read each table instead.
                warning = self._warning(
                    scope,
                    f"INFORMATION_SCHEMA not readable ({failure.error}); read with tables.get",
                    code="information_schema_denied",
                )
                tables, errors = await self._tables_by_get(
                    project,
                    dataset,
                    listed,
                    stats_map,
                    unknown,
                    self.config.max_table_gets_per_dataset,
                )
                return tables, [warning, *errors]
            return [], [self._error(scope, AssetType.SCHEMA, failure.error)]
        rows = DatasetRows.group(*outcomes, *([[]] if len(outcomes) == 4 else []))  # type: ignore[arg-type]
        tables: list[TableMetadata] = []
        errors: list[ExtractionError] = []
        fallback: list[dict[str, Any]] = []
        for item in listed:
            name = item["tableReference"]["tableId"]
            if name not in rows.columns or item.get("type") == "MATERIALIZED_VIEW":
                fallback.append(item)
                continue
            unknown_here: list[str] = []
            try:
                tables.append(
                    map_table_from_rows(
                        project,
                        dataset,
                        item,
                        rows,
                        self._stats_for(stats_map, dataset, name),
                        unknown_here,
                    )
                )
                unknown.extend((name, path) for path in unknown_here)
            except (TypeStringError, ValueError) as error:
                errors.append(
                    self._scoped_error((*scope, name), f"table {name} not mapped: {error}")
                )
        if fallback:
            more, fallback_errors = await self._tables_by_get(
                project,
                dataset,
                fallback,
                stats_map,
                unknown,
                self.config.max_table_gets_per_dataset,
            )
            for table in more:
                if table.table_type is TableType.VIEW and table.view_definition is None:
                    table.view_definition = rows.views.get(table.name)
            tables += more
            errors += fallback_errors
        return tables, errors

    def _stats_for(self, stats: StatisticsMap, dataset: str, table: str) -> Statistics | None:
        if not self.config.include_statistics:
            return None
        return stats.get((dataset, table))

    async def _tables_by_get(
        self,
        project: str,
        dataset: str,
        listed: list[dict[str, Any]],
        stats_map: StatisticsMap,
        unknown: list[tuple[str, str]],
        limit: int | None,
    ) -> tuple[list[TableMetadata], list[ExtractionError]]:
        """`tables.get` for each listed table, concurrently within the request bound."""
        errors: list[ExtractionError] = []
        if limit is not None and len(listed) > limit:
            errors.append(
                self._scoped_error(
                    (project, dataset),
                    f"{len(listed)} tables need tables.get, more than max_table_gets_per_dataset "
                    f"({limit}); the first {limit} were read",
                    code="fallback_limit",
                )
            )
            listed = listed[:limit]

        async def one(item: dict[str, Any]) -> TableMetadata | ExtractionError | None:
            name = item["tableReference"]["tableId"]
            scope = (project, dataset, name)
            try:
                resource = await self._call(
                    self.api.get_table,
                    project,
                    dataset,
                    name,
                    what=f"reading table {project}.{dataset}.{name}",
                )
            except _Missing as missing:
                return self._warning(
                    scope, f"table vanished between listing and reading: {missing}", code="vanished"
                )
            except _Scoped as failure:
                return self._error(scope, AssetType.TABLE, failure.error)
            stats = stats_map.get((dataset, name))
            if stats is None and self.config.include_statistics:
                stats = statistics_from_resource(resource)
            unknown_here: list[str] = []
            try:
                table = map_table_from_resource(
                    resource, stats if self.config.include_statistics else None, unknown_here
                )
                unknown.extend((name, path) for path in unknown_here)
                return table
            except ValueError as error:
                return self._scoped_error(scope, f"table {name} not mapped: {error}")

        tables = []
        for outcome in await asyncio.gather(*(one(item) for item in listed)):
            if isinstance(outcome, ExtractionError):
                errors.append(outcome)
            elif outcome is not None:
                tables.append(outcome)
        return tables, errors

    async def _routines(
        self, project: str, dataset: str
    ) -> tuple[list[RoutineMetadata], list[ExtractionError]]:
        if not self.config.include_routines:
            return [], []
        scope = (project, dataset)
        try:
            listed = await self._call(
                self.api.list_routines,
                project,
                dataset,
                what=f"listing routines of {project}.{dataset}",
            )
        except (_Missing, _Scoped) as failure:
            return [], [self._error(scope, AssetType.ROUTINE, failure.error)]

        async def full(resource: dict[str, Any]) -> dict[str, Any] | ExtractionError | None:
            if "definitionBody" in resource:  # the list gave everything (an emulator does)
                return resource
            name = resource["routineReference"]["routineId"]
            try:
                return await self._call(
                    self.api.get_routine, project, dataset, name, what=f"reading routine {name}"
                )
            except _Missing:
                return None
            except _Scoped as failure:
                return self._error((*scope, name), AssetType.ROUTINE, failure.error)

        routines: list[RoutineMetadata] = []
        errors: list[ExtractionError] = []
        for outcome in await asyncio.gather(*(full(r) for r in listed)):
            if isinstance(outcome, ExtractionError):
                errors.append(outcome)
            elif outcome is not None:
                routines.append(map_routine(outcome))
        routines.sort(key=lambda r: r.name)
        return routines, errors

    # Calls and errors ---------------------------------------------------------------------------

    async def _query(
        self, sql: str, billing: str, location: Any, what: str
    ) -> list[dict[str, Any]]:
        return await self._call(
            self.api.query, sql, billing, str(location) if location else None, what=what
        )

    async def _call(self, call: Callable[..., T], *args: Any, what: str) -> T:
        """Run a library call: auth failures are raised whole; 404 → _Missing; others → _Scoped."""
        try:
            return await self.api.run(call, *args)
        except Exception as error:
            classified = classify(error, what)
            classified.message = scrub(classified.message, self.secrets)
            if isinstance(classified, AuthenticationError | ConfigurationError):
                raise classified from None
            if is_not_found(error):
                raise _Missing(classified, error) from None
            raise _Scoped(classified, error) from None

    def _error(
        self, scope: tuple[str, ...], asset_type: AssetType | None, error: ExtractorError
    ) -> ExtractionError:
        logger.error("%s: %s", ".".join(scope), error.message)
        return ExtractionError(
            scope=scope,
            asset_type=asset_type,
            message=error.message,
            retryable=error.retryable,
            code=error.code,
        )

    def _scoped_error(
        self, scope: tuple[str, ...], message: str, code: str = "unmappable"
    ) -> ExtractionError:
        logger.error("%s: %s", ".".join(scope), message)
        return ExtractionError(scope=scope, message=scrub(message, self.secrets), code=code)

    def _warning(
        self, scope: tuple[str, ...], message: str, code: str = "vanished"
    ) -> ExtractionError:
        self._log_warning(scope, message)
        return ExtractionError(
            scope=scope,
            message=scrub(message, self.secrets),
            severity=Severity.WARNING,
            code=code,
        )

    @staticmethod
    def _log_warning(scope: tuple[str, ...], message: str) -> None:
        logger.warning("%s: %s", ".".join(scope), message)


class _Failure(Exception):
    def __init__(self, error: ExtractorError, cause: BaseException) -> None:
        super().__init__(error.message)
        self.error = error
        self.cause = cause


class _Missing(_Failure):
    """The object is gone (404)."""


class _Scoped(_Failure):
    """Any other failure, to be recorded against the object's scope."""


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
