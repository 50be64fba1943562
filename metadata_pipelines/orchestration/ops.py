"""The three ops of a sync: check the connection, extract metadata, persist it.

Each op keeps the connector run row in step with Dagster: the first op opens (or adopts) the row of
this Dagster run, every op retry counts as an attempt on it, and whichever step fails for good closes
it as failed with a message free of secrets. Transient errors (the catalog away included) request a
retry (`RetryRequested`, with SYNC_RETRY_POLICY's backoff); permanent ones raise
`Failure(allow_retries=False)` so they fail at once; a termination closes the row as canceled and
ends the run CANCELED. While a step runs, it renews the row's lease (orchestration/liveness.py).

Every record an op logs (and every record a connector logs during it) carries the sync's fields
(metadata_pipelines/logs.py); the ops' own records add the event's fields (`event`, counts,
durations, attempt, error code) as `extra`. What a step took and what the source was sent go into
the connector run's stats, which the metrics exporter reads (metadata_pipelines/metrics.py).
"""

import asyncio
import time
from collections import Counter
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from typing import Any

import dagster as dg
from pydantic import BaseModel, ConfigDict

from metadata_pipelines.catalog.connector_runs import SourceBusy
from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.database import CatalogDatabase, catalog_unavailable
from metadata_pipelines.catalog.deletion_guard import HELD as DELETION_HELD
from metadata_pipelines.catalog.deletion_guard import DeletionPolicy
from metadata_pipelines.catalog.persistence import PersistStats
from metadata_pipelines.catalog.prepared_batch import PreparedBatch
from metadata_pipelines.catalog.records import ConnectorRun, DataSource, RunStatus
from metadata_pipelines.catalog.storable import UNSTORABLE, storable_batch
from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.errors import (
    ExtractorError,
    PermanentExtractorError,
    TransientExtractorError,
    scrub,
)
from metadata_pipelines.garbage_collection import fewer_collections
from metadata_pipelines.logs import log_context, scrubbing
from metadata_pipelines.models import (
    ExtractionBatch,
    ExtractionError,
    ExtractionStatus,
    ExtractionSummary,
    ExtractionTally,
    Severity,
    utcnow,
)
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.abandoned_steps import closed_if_abandoned
from metadata_pipelines.orchestration.handover import StagedBatch
from metadata_pipelines.orchestration.liveness import Heartbeat, close_if_ended, worker_name
from metadata_pipelines.orchestration.observations import observe_source
from metadata_pipelines.orchestration.resources import CatalogResource, ExtractorFactoryResource
from metadata_pipelines.orchestration.retries import (
    attempts_left,
    retry_delay,
    retry_fields,
    retry_if_transient,
    retry_requested,
)
from metadata_pipelines.orchestration.summary import changes_markdown


class SyncTarget(BaseModel):
    """What later ops need to know about the run; deliberately holds no config or credentials."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    data_source_id: str
    data_source_name: str
    partition_key: str
    connector_type: str
    connector_run_id: str
    #: How long check_connection took (the run's stats keep each step's duration).
    check_seconds: float | None = None


@dg.op(
    name="check_connection",
    description="Resolve the partition's data source, open its connector run, test the connection.",
)
def check_source_connection(
    context: dg.OpExecutionContext,
    catalog: CatalogResource,
    extractors: ExtractorFactoryResource,
) -> SyncTarget:
    db = catalog.get_catalog()
    with _retry_if_catalog_down(context):
        source = _resolve_source(context, db)
        run_tags_now = dict(context.run.tags)
        missing_tags = {
            key: value
            for key, value in run_tags.source_tags(source).items()
            if run_tags_now.get(key) != value
        }
        if missing_tags:
            context.instance.add_run_tags(context.run_id, missing_tags)
        connector_run = _open_row(context, db, source, run_tags_now)
    target = SyncTarget(
        tenant_id=source.tenant_id,
        data_source_id=source.id,
        data_source_name=source.name,
        partition_key=source.partition_key,
        connector_type=source.connector_type,
        connector_run_id=connector_run.id,
    )
    with _logged(context, target, "check_connection"):
        started = time.monotonic()
        with _sync_step(context, db, target, "check_connection") as secrets:
            if not source.enabled:
                raise PermanentExtractorError(
                    f"data source {source.name!r} ({source.id}) is disabled; enable it to sync"
                )
            extractor = _build_extractor(db, extractors, source, secrets)
            asyncio.run(extractor.check_connection())
        seconds = time.monotonic() - started
        context.log.info(
            f"connected to {source.connector_type} source {source.name!r}",
            extra={"event": "connected", "duration_seconds": round(seconds, 3)},
        )
    return target.model_copy(update={"check_seconds": seconds})


@dg.op(
    description=(
        "Read all metadata in scope from the source, handing it over in batches (a database, a "
        "schema or a few thousand tables each) while extraction goes on."
    ),
    out={
        "batches": dg.DynamicOut(ExtractionBatch, description="the extracted metadata, in batches"),
        "summary": dg.Out(
            ExtractionSummary, description="status, counts and errors of the whole extraction"
        ),
    },
)
def extract_metadata(
    context: dg.OpExecutionContext,
    target: SyncTarget,
    catalog: CatalogResource,
    extractors: ExtractorFactoryResource,
) -> Iterator[dg.DynamicOutput[ExtractionBatch] | dg.Output[ExtractionSummary]]:
    yield from closed_if_abandoned(context, _extract(context, target, catalog, extractors))


def _extract(
    context: dg.OpExecutionContext,
    target: SyncTarget,
    catalog: CatalogResource,
    extractors: ExtractorFactoryResource,
) -> Generator[dg.DynamicOutput[ExtractionBatch] | dg.Output[ExtractionSummary], None, None]:
    db = catalog.get_catalog()
    with _retry_if_catalog_down(context):
        target = _for_this_run(context, db, target)
    with _logged(context, target, "extract_metadata"), fewer_collections():
        with _sync_step(context, db, target, "extract_metadata") as secrets:
            source = db.data_sources.get(target.data_source_id, target.tenant_id)
            extractor = _build_extractor(db, extractors, source, secrets)
            tally = ExtractionTally(extractor.connector_type, utcnow())
            with closing(_batches_of(extractor)) as batches:
                for batch in batches:
                    key = batch_key(tally.batches)
                    tally.add(batch)
                    context.log.debug(
                        f"batch {key}: {_found(batch.counts)}",
                        extra={"event": "batch", "batch": key, "extracted": batch.counts},
                    )
                    yield dg.DynamicOutput(batch, mapping_key=key, output_name="batches")
                    del batch  # one batch in memory at a time
            if tally.batches == 0:  # persistence runs only if there is a batch to collect
                tally.add(ExtractionBatch())
                yield dg.DynamicOutput(
                    ExtractionBatch(), mapping_key=batch_key(0), output_name="batches"
                )
            summary = tally.summary()
            summary.usage = extractor.usage()
            if summary.status is ExtractionStatus.FAILED:
                raise _failed_result_error(summary)
        _log_extracted(context, summary)
    yield dg.Output(
        summary,
        output_name="summary",
        metadata={
            "status": summary.status.value,
            "errors": len(summary.errors),
            "batches": summary.batches,
            **{f"extracted_{kind}": count for kind, count in summary.counts.items()},
        },
    )


def batch_key(index: int) -> str:
    """The mapping key of the index-th batch: sorts in hand-over order."""
    return f"b{index:05d}"


def _batches_of(extractor: BaseMetadataExtractor) -> Iterator[ExtractionBatch]:
    """The extractor's batches, pulled one at a time from its async stream on a private loop.

    The stream's cleanup (closing the source's connection) runs however the pull ends. When a
    terminate interrupts the loop inside `anext`, the stream is still suspended in that task:
    `aclose()` would raise "asynchronous generator is already running" in place of the interrupt
    (the run would then fail instead of being canceled); the runner's close cancels the task
    instead, which runs the stream's `finally`.

    When a batch cannot be stored, the handover closes the op (abandoned_steps.py), and this
    generator with it. Under another IO manager Dagster drops the op unclosed: the garbage
    collector may then finalize the loop before this generator, nothing can run on it, and the
    stream's connection goes with the garbage.
    """
    stream = extractor.stream_metadata()
    runner = asyncio.Runner()
    at_rest = True
    try:
        while True:
            at_rest = False
            try:
                batch = runner.run(anext(stream))
            except StopAsyncIteration:
                return
            at_rest = True
            yield batch
    finally:
        if not runner.get_loop().is_closed():
            try:
                if at_rest:
                    runner.run(stream.aclose())
            finally:
                runner.close()


def _found(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in counts.items() if count) or "nothing"


def _log_extracted(context: dg.OpExecutionContext, summary: ExtractionSummary) -> None:
    context.log.info(
        f"extracted {_found(summary.counts)} in {summary.batches} batch(es) "
        f"({summary.status.value})",
        extra={
            "event": "extracted",
            "status": summary.status.value,
            "extracted": summary.counts,
            "batches": summary.batches,
            "errors": len(summary.errors),
            "duration_seconds": round(_seconds(summary), 3),
            "source_usage": summary.usage,
        },
    )
    for error in summary.errors:
        context.log.warning(
            f"{error.severity.value} in {'.'.join(error.scope)}: {error.message}",
            extra={
                "event": "extraction_error",
                "severity": error.severity.value,
                "scope": ".".join(error.scope),
                "error_code": error.code,
            },
        )


def _seconds(summary: ExtractionSummary) -> float:
    return (summary.finished_at - summary.started_at).total_seconds()


@contextmanager
def _logged(context: dg.OpExecutionContext, target: SyncTarget, step: str) -> Iterator[None]:
    """The sync's fields on every record logged in the block, the connectors' included."""
    with log_context(
        tenant_id=target.tenant_id,
        data_source_id=target.data_source_id,
        data_source_name=target.data_source_name,
        connector_type=target.connector_type,
        connector_run_id=target.connector_run_id,
        run_id=context.run_id,
        step=step,
        attempt=context.retry_number + 1,
    ):
        yield


@dg.op(
    description=(
        "Write the extracted metadata into the catalog in one transaction, batch by batch; "
        "deletions are decided once every batch has been seen. Removes the run's handover after."
    ),
)
def persist_metadata(
    context: dg.OpExecutionContext,
    target: SyncTarget,
    summary: ExtractionSummary,
    batches: list,  # type: ignore[type-arg]  (StagedBatch from the handover, else ExtractionBatch)
    catalog: CatalogResource,
) -> None:
    db = catalog.get_catalog()
    with _retry_if_catalog_down(context):
        target = _for_this_run(context, db, target)
    with _logged(context, target, "persist_metadata"), fewer_collections():
        _persist(context, db, target, summary, batches)


def _persist(
    context: dg.OpExecutionContext,
    db: CatalogDatabase,
    target: SyncTarget,
    summary: ExtractionSummary,
    batches: list[Any],
) -> None:
    started = time.monotonic()
    if len(batches) != summary.batches:  # an invariant: each batch once, from the last attempt
        raise dg.Failure(
            f"persist_metadata: {len(batches)} batch(es) handed over, but the extraction's "
            f"summary counts {summary.batches}",
            allow_retries=False,
        )
    handed_over = batches
    warnings: list[ExtractionError] = []

    def each_batch() -> Iterator[ExtractionBatch | PreparedBatch]:
        for index, handed in enumerate(_read_ahead(handed_over), 1):
            batch, cleaned = storable_batch(handed)
            for name in cleaned:
                context.log.warning(f"{name}: NUL characters replaced by U+FFFD (not storable)")
            if cleaned:
                warnings.extend(e for e in batch.errors if e.code == UNSTORABLE)
            yield batch
            if len(handed_over) > 1:  # progress of a large source (each message is an event)
                context.log.debug(f"batch {index} of {len(handed_over)} written")

    with _sync_step(context, db, target, "persist_metadata"):
        confirmed = context.run.tags.get(run_tags.CONFIRM_DELETIONS, "").lower() == "true"
        stats = db.persistence.persist_batches(
            target.tenant_id,
            target.data_source_id,
            summary,
            each_batch(),
            connector_run_id=target.connector_run_id,
            deletion_policy=None if confirmed else DeletionPolicy.from_settings(),
        )
    for error in stats.held:
        context.log.warning(error.message)
    errors = [*summary.errors, *warnings, *stats.held]
    partial = summary.status is ExtractionStatus.PARTIAL or bool(stats.held)
    outcome = summary.model_copy(
        update={
            "status": ExtractionStatus.PARTIAL if partial else summary.status,
            "errors": errors,
        }
    )
    persist_seconds = time.monotonic() - started
    result_stats = {
        **stats.as_dict(),
        "extracted": summary.counts,
        "held": len(stats.held),
        "step_seconds": {
            "check_connection": target.check_seconds,
            "extract_metadata": _seconds(summary),
            "persist_metadata": persist_seconds,
        },
        "source_usage": summary.usage,
        "errors_by_code": dict(Counter(e.code or "unclassified" for e in errors)),
    }
    context.log.info(
        "catalog updated: " + ", ".join(f"{n} {kind}" for kind, n in stats.totals().items()),
        extra={
            "event": "persisted",
            **stats.totals(),
            "held": len(stats.held),
            "duration_seconds": round(persist_seconds, 3),
        },
    )
    with _retry_if_catalog_down(context):  # a retry persists again: unchanged, it writes nothing
        db.connector_runs.finish(
            target.connector_run_id,
            RunStatus.PARTIAL if partial else RunStatus.SUCCEEDED,
            error_code=(DELETION_HELD if stats.held else "partial_extraction") if partial else None,
            error_message=_partial_message(outcome) if partial else None,
            stats=result_stats,
            extraction_errors=[error.model_dump(mode="json") for error in errors],
        )
    _discard_handover(context, handed_over)
    metadata = _persist_metadata(stats, outcome)
    context.add_output_metadata(metadata)
    counts = summary.counts
    _observe(
        context,
        target,
        str(metadata.pop("connector_run_status")),
        {
            "tables": counts.get("table", 0) + counts.get("view", 0),
            "columns": counts.get("column", 0),
            **metadata,
        },
    )


def _read_ahead(handed_over: list[Any]) -> Iterator[ExtractionBatch | PreparedBatch]:
    """The batches in order, the next one read (fetched, unzipped, parsed) in a thread while the
    current one is written: the fetch and the catalog's COPY wait on the network, not on Python.
    At most two batches are held."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="handover-read") as reader:
        ahead: Future[ExtractionBatch | PreparedBatch] | None = None
        for index, item in enumerate(handed_over):
            current = ahead.result() if ahead is not None else _load(item)
            ahead = (
                reader.submit(_load, handed_over[index + 1])
                if index + 1 < len(handed_over)
                else None
            )
            yield current
            del current


def _load(item: Any) -> ExtractionBatch | PreparedBatch:
    """A batch from the handover (or as another IO manager loaded it). The store raises a transient
    or permanent `ExtractorError` when it fails, which the step retries or fails on."""
    return item.read() if isinstance(item, StagedBatch) else item


def _discard_handover(context: dg.OpExecutionContext, handed_over: list[Any]) -> None:
    """Remove what this run (or the run it re-executes) handed over: it is in the catalog now. A
    failure here fails nothing; the retention sensor removes what is left."""
    runs = {(item.store, item.run_id) for item in handed_over if isinstance(item, StagedBatch)}
    runs |= {(store, context.run_id) for store, _ in runs}
    for store, run_id in runs:
        try:
            removed = store.remove_run(run_id)
        except Exception as error:
            context.log.warning(
                f"handover of run {run_id} not removed ({type(error).__name__}: {error}); "
                "the retention sensor will"
            )
        else:
            context.log.debug(f"handover of run {run_id} removed ({removed} objects)")


def _persist_metadata(stats: PersistStats, result: ExtractionSummary) -> dict[str, Any]:
    totals = stats.totals()
    return {
        "connector_run_status": "partial"
        if result.status is ExtractionStatus.PARTIAL
        else "succeeded",
        **{key: value for key, value in totals.items()},
        "tables_added": stats.changes.counts.get("tables_added", 0),
        "tables_removed": stats.changes.counts.get("tables_removed", 0),
        "changes": dg.MetadataValue.md(changes_markdown(stats, result)),
    }


def _open_row(
    context: dg.OpExecutionContext, db: CatalogDatabase, source: DataSource, tags: dict[str, str]
) -> ConnectorRun:
    """This run's row; fails at once, without retry, if another sync of the source is active."""

    def open_row() -> ConnectorRun:
        return db.connector_runs.open_for_dagster_run(
            tenant_id=source.tenant_id,
            data_source_id=source.id,
            dagster_run_id=context.run_id,
            trigger=run_tags.trigger_of(tags),
            parent_dagster_run_id=context.run.parent_run_id,
            pending_run_id=tags.get(run_tags.CONNECTOR_RUN_ID),
            worker=worker_name(),
        )

    try:
        return open_row()
    except SourceBusy as busy:
        # A run that ended without closing its row (a crashed worker this run retries) is closed.
        if close_if_ended(db, context.instance, busy.active) is None:
            raise dg.Failure(
                f"check_connection: {busy}; one sync per data source at a time",
                allow_retries=False,
                metadata={"error_code": "source_busy"},
            ) from None
    return open_row()


def _resolve_source(context: dg.OpExecutionContext, db: CatalogDatabase) -> DataSource:
    """The partition's data source; Dagster does not validate dynamic partition keys itself."""
    if not context.has_partition_key:
        raise dg.Failure(
            "metadata_sync runs for one data source: launch it for a partition "
            "(the partition key is the data source's `<tenant>/<name>` key)",
            allow_retries=False,
        )
    key = context.partition_key
    try:
        source = db.data_sources.for_partition(key)
    except DataSourceNotFound:
        raise dg.Failure(
            f"no data source with the partition key {key!r}: the partition key must be a "
            "registered data source's key (`metadata-pipelines sources list` shows them)",
            allow_retries=False,
        ) from None
    expected_tenant = context.run.tags.get(run_tags.TENANT)
    if expected_tenant and expected_tenant != source.tenant_id:
        raise dg.Failure(
            f"data source {key!r} does not belong to tenant {expected_tenant!r}",
            allow_retries=False,
        )
    return source


def _for_this_run(
    context: dg.OpExecutionContext, db: CatalogDatabase, target: SyncTarget
) -> SyncTarget:
    """The target with this run's own row: a re-execution from failure skips check_connection and
    hands over the parent run's output, but it is a new run and so gets a new row (linked)."""
    run = db.connector_runs.open_for_dagster_run(
        tenant_id=target.tenant_id,
        data_source_id=target.data_source_id,
        dagster_run_id=context.run_id,
        trigger=run_tags.trigger_of(dict(context.run.tags)),
        parent_dagster_run_id=context.run.parent_run_id,
        worker=worker_name(),
    )
    if run.id == target.connector_run_id:
        return target
    return target.model_copy(update={"connector_run_id": run.id})


def _build_extractor(
    db: CatalogDatabase,
    extractors: ExtractorFactoryResource,
    source: DataSource,
    secrets: list[str],
) -> BaseMetadataExtractor:
    credentials = db.data_sources.credentials(source.id, source.tenant_id)
    extractor = extractors.create(source.connector_type, source.config, credentials)
    # The connector's secret fields only: a user name is no secret, and scrubbing it would mangle
    # every name that contains it (user `big`, database `big1`).
    secrets.extend(extractor.secret_values())
    return extractor


@contextmanager
def _sync_step(
    context: dg.OpExecutionContext,
    db: CatalogDatabase,
    target: SyncTarget,
    step: str,
) -> Iterator[list[str]]:
    """Classify what the step raises, scrub secrets from it, and close the run row when final.

    Yields a list the step fills with secret values, so messages can be scrubbed of them.
    """
    secrets: list[str] = []
    try:
        if context.retry_number > 0:
            db.connector_runs.record_attempt(target.connector_run_id)
        with Heartbeat(db, target.connector_run_id), scrubbing(secrets):
            yield secrets
    except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt):
        # The run was terminated: the step ends here (an open persist transaction rolls back) and
        # the run ends CANCELED; the interrupt goes on so Dagster records it as such.
        with suppress(Exception):
            db.connector_runs.finish(
                target.connector_run_id,
                RunStatus.CANCELED,
                error_code="canceled",
                error_message=f"{step}: the Dagster run was terminated",
                only_if_unfinished=True,
            )
        raise
    except dg.Failure:
        raise
    except ExtractorError as error:
        _fail_or_retry(context, db, target, step, error, scrub(str(error), secrets))
    except Exception as error:
        if catalog_unavailable(error):
            cause = getattr(error, "orig", None) or error
            text = scrub(str(cause), [*secrets, *db.secret_values()])
            message = f"catalog database unavailable: {text}"
            _fail_or_retry(context, db, target, step, TransientExtractorError(message), message)
        message = f"unexpected {type(error).__name__}: {scrub(str(error), secrets)}"
        _fail_or_retry(context, db, target, step, PermanentExtractorError(message), message)


@contextmanager
def _retry_if_catalog_down(context: dg.OpExecutionContext) -> Iterator[None]:
    """Catalog calls outside a step's own error handling: the catalog away is retried too."""
    try:
        yield
    except Exception as error:
        if not catalog_unavailable(error) or not attempts_left(context.retry_number):
            raise
        delay = retry_delay(context.retry_number)
        context.log.warning(
            f"catalog database unavailable ({type(error).__name__}), retrying",
            extra=retry_fields(context.retry_number, "catalog_unavailable", delay),
        )
        raise retry_requested(delay) from None


def _fail_or_retry(
    context: dg.OpExecutionContext,
    db: CatalogDatabase,
    target: SyncTarget,
    step: str,
    error: ExtractorError,
    message: str,
) -> None:
    text = retry_if_transient(context.log, context.retry_number, f"{step}: {message}", error)
    context.log.error(
        text,
        extra={"event": "failed", "error_code": error.code, "attempt": context.retry_number + 1},
    )
    _observe(context, target, "failed", {"error_code": error.code, "error": text})
    try:
        db.connector_runs.finish(
            target.connector_run_id, RunStatus.FAILED, error_code=error.code, error_message=text
        )
    except Exception as unrecorded:
        if not catalog_unavailable(unrecorded):
            raise
        # The row stays open; reconciliation closes it once the catalog answers again.
        context.log.error("could not record the failure in connector_runs (catalog unavailable)")
    raise dg.Failure(
        description=text, allow_retries=False, metadata={"error_code": error.code}
    ) from None


def _observe(
    context: dg.OpExecutionContext, target: SyncTarget, status: str, metadata: dict[str, Any]
) -> None:
    observe_source(
        context,
        partition_key=target.partition_key,
        tenant_id=target.tenant_id,
        data_source_id=target.data_source_id,
        data_source_name=target.data_source_name,
        connector_type=target.connector_type,
        connector_run_id=target.connector_run_id,
        status=status,
        metadata=metadata,
    )


def _failed_result_error(result: ExtractionSummary) -> ExtractorError:
    message = "; ".join(e.message for e in result.errors[:5]) or "extraction returned nothing"
    if result.errors and all(e.retryable for e in result.errors):
        return TransientExtractorError(message)
    return PermanentExtractorError(message)


def _partial_message(result: ExtractionSummary) -> str:
    failed = [e for e in result.errors if e.severity is Severity.ERROR]
    head = "; ".join(f"{'.'.join(e.scope) or 'source'}: {e.message}" for e in failed[:5])
    more = f" (+{len(failed) - 5} more)" if len(failed) > 5 else ""
    return f"{len(failed)} scope(s) failed: {head}{more}"
