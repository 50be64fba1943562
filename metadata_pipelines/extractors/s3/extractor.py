"""S3 extractor: buckets, the datasets their keys form, and each dataset's schema from its files.

Per bucket: its facts (region, tags, versioning, encryption), a delimiter listing of its top-level
prefixes, then ListObjectsV2 under each prefix (several at once, bounded by
`max_concurrent_requests`); layout.py groups keys into datasets. Per dataset the newest file and up
to `max_files_sampled_per_dataset` are read with ranged GETs (readers.py); a Delta table's schema
comes from its log. Each bucket becomes one batch (or several of `batch_max_tables` datasets).

Failure rules (the catalog deletes nothing under an ERROR scope):
- bad credentials, a wrong region and an unreachable endpoint fail the whole sync (permanent /
  transient, with a message naming the fix); throttling and 5xx are retried by botocore first;
- a bucket that cannot be listed (AccessDenied): ERROR scoped to the bucket;
- a bucket that vanished between listing and reading: WARNING;
- a dataset whose files cannot be read (AccessDenied on GetObject): ERROR scoped to the dataset;
- a corrupt, truncated or empty file, a schema conflict between sampled files, a format whose schema
  this connector does not read, a dataset of mixed formats: WARNING on the dataset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.errors import (
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceResponseError,
    scrub,
)
from metadata_pipelines.extractors.s3 import delta, readers
from metadata_pipelines.extractors.s3.classify import classify, is_missing
from metadata_pipelines.extractors.s3.client import S3Api, build_session
from metadata_pipelines.extractors.s3.config import S3Config, S3Credentials
from metadata_pipelines.extractors.s3.layout import Dataset, ObjectInfo, group_objects
from metadata_pipelines.models import (
    AssetType,
    ContainerType,
    DatabaseMetadata,
    ExtractionBatch,
    ExtractionError,
    Severity,
    TableMetadata,
    TableType,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: Partition values kept per key in a dataset's properties (the count is always kept).
MAX_PARTITION_VALUES = 100
_SCHEMA_FROM_FILES = {"parquet", "csv", "tsv", "json", "avro"}


class S3Extractor(BaseMetadataExtractor):
    """Reads buckets and file datasets through boto3; schemas with pyarrow from ranged GETs."""

    connector_type: ClassVar[str] = "s3"
    config_model = S3Config
    credentials_model = S3Credentials
    config: S3Config
    credentials: S3Credentials

    def __init__(self, config: Any, credentials: Any = None) -> None:
        super().__init__(config, credentials)
        self.api: S3Api | None = None

    def __repr__(self) -> str:
        return f"S3Extractor(buckets={self.config.buckets or 'all listed'})"

    def get_supported_asset_types(self) -> list[AssetType]:
        return [AssetType.DATABASE, AssetType.TABLE, AssetType.COLUMN]

    def usage(self) -> dict[str, int]:
        if self.api is None:
            return {}
        return {
            "requests": self.api.accounting.total_requests,
            "bytes_read": self.api.accounting.bytes_read,
        }

    async def _connect(self) -> S3Api:
        try:
            session = await asyncio.to_thread(build_session, self.config, self.credentials)
        except Exception as error:
            raise self._classified(error, "assuming role") from None
        self.api = S3Api(self.config, session)
        self._limit = asyncio.Semaphore(self.config.max_concurrent_requests)
        return self.api

    async def check_connection(self) -> None:
        api = await self._connect()
        try:
            if self.config.buckets:
                bucket = self.config.buckets[0]
                await self._call(api.probe, bucket, what=f"listing bucket {bucket}")
            else:
                await self._call(api.list_buckets, what="listing buckets")
        except _Scoped as failure:
            raise failure.error from None
        except _Missing as missing:
            raise ConfigurationError(f"{missing}; check the configured buckets") from None

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        api = await self._connect()
        for bucket, created in await self._buckets(api):
            for batch in await self._bucket(api, bucket, created):
                yield batch

    async def _buckets(self, api: S3Api) -> list[tuple[str, datetime | None]]:
        if not self.config.buckets:
            try:
                listed = await self._call(api.list_buckets, what="listing buckets")
            except _Scoped as failure:  # nothing to read: the whole source fails
                raise failure.error from None
            found = [(b["Name"], b.get("CreationDate")) for b in listed]
        else:
            try:
                listed = await self._call(api.list_buckets, what="listing buckets")
                created = {b["Name"]: b.get("CreationDate") for b in listed}
            except _Scoped:  # reading named buckets needs no s3:ListAllMyBuckets
                created = {}
            found = [(name, created.get(name)) for name in self.config.buckets]
        return [(n, c) for n, c in found if self.config.bucket_filter.allows(n)]

    # One bucket ---------------------------------------------------------------------------------

    async def _bucket(
        self, api: S3Api, bucket: str, created: datetime | None
    ) -> list[ExtractionBatch]:
        scope = (bucket,)
        try:
            facts = await self._call(api.bucket_facts, bucket, what=f"reading bucket {bucket}")
            objects = await self._list(api, bucket)
        except _Missing as missing:
            return [ExtractionBatch(errors=[self._warning(scope, str(missing), "vanished")])]
        except _Scoped as failure:
            database = DatabaseMetadata(
                name=bucket, container_type=ContainerType.BUCKET, created_at=created
            )
            return [ExtractionBatch(databases=[database], errors=[self._error(scope, failure)])]
        database = DatabaseMetadata(
            name=bucket,
            container_type=ContainerType.BUCKET,
            created_at=created,
            properties=facts,
        )
        datasets = [
            d
            for d in group_objects(bucket, objects, self.config.specs)
            if d.format is not None and d.format[0] in self.config.formats
        ]
        outcomes = await asyncio.gather(*(self._dataset(api, d) for d in datasets))
        tables = [table for table, _ in outcomes]
        errors = [error for _, found in outcomes for error in found]
        size = self.config.batch_max_tables
        chunks = [tables[i : i + size] for i in range(0, len(tables), size)] or [[]]
        batches = [ExtractionBatch(tables=chunk) for chunk in chunks]
        batches[0].databases = [database]
        batches[0].errors = errors
        return batches

    async def _list(self, api: S3Api, bucket: str) -> list[ObjectInfo]:
        """Every object of the bucket: the top level by delimiter, then each prefix concurrently."""
        prefixes, objects = await self._call(
            api.list_prefixes, bucket, what=f"listing bucket {bucket}"
        )

        async def under(prefix: str) -> list[ObjectInfo]:
            return await self._call(
                lambda: list(api.list_objects(bucket, prefix)),
                what=f"listing s3://{bucket}/{prefix}",
            )

        for listed in await asyncio.gather(*(under(p) for p in prefixes)):
            objects.extend(listed)
        return objects

    # One dataset --------------------------------------------------------------------------------

    async def _dataset(
        self, api: S3Api, dataset: Dataset
    ) -> tuple[TableMetadata, list[ExtractionError]]:
        scope = (dataset.bucket, dataset.prefix)
        fmt, compression = dataset.format or (None, None)
        errors: list[ExtractionError] = []
        properties: dict[str, Any] = {
            "format": fmt,
            "compression": compression,
            "prefix": f"s3://{dataset.bucket}/{dataset.prefix}",
            "file_count": len(dataset.files),
            "partition_keys": {
                name: {
                    "count": len(values),
                    "values": sorted(values)[:MAX_PARTITION_VALUES],
                }
                for name, values in sorted(dataset.partitions.items())
            },
        }
        if dataset.spec:
            properties["path_spec"] = dataset.spec
        if len(dataset.formats) > 1 and not dataset.table_format:
            mix = ", ".join(
                f"{f}{'+' + c if c else ''}: {n}" for (f, c), n in dataset.formats.items()
            )
            errors.append(
                self._warning(
                    scope, f"files of several formats ({mix}); read as {fmt}", "mixed_formats"
                )
            )
        schema: readers.FileSchema | None = None
        row_count: int | None = None
        try:
            if fmt == "delta":
                schema = await self._delta(api, dataset, properties, errors)
                row_count = schema.row_count if schema else None
            elif fmt == "iceberg":
                schema = await self._iceberg(api, dataset, properties, errors)
                row_count = schema.row_count if schema else None
            elif fmt in _SCHEMA_FROM_FILES:
                schema, row_count = await self._sampled(api, dataset, fmt, compression, errors)
            else:
                errors.append(
                    self._warning(
                        scope,
                        f"{fmt} schemas are not read by this connector yet; dataset listed without fields",
                        "format_not_supported",
                    )
                )
        except _Scoped as failure:
            errors.append(self._error(scope, failure, AssetType.TABLE))
        if schema is not None:
            properties.update({f"file_{k}": v for k, v in schema.properties.items()})
        table = TableMetadata(
            database=dataset.bucket,
            name=dataset.prefix,
            table_type=TableType.FILE_DATASET,
            native_type=fmt,
            row_count=row_count,
            size_bytes=properties.pop("live_bytes", dataset.total_bytes),
            updated_at=dataset.newest,
            columns=schema.columns if schema else [],
            properties=properties,
        )
        return table, errors

    async def _sampled(
        self,
        api: S3Api,
        dataset: Dataset,
        fmt: str,
        compression: str | None,
        errors: list[ExtractionError],
    ) -> tuple[readers.FileSchema | None, int | None]:
        """The newest readable file's schema; conflicts and unreadable files as warnings."""
        scope = (dataset.bucket, dataset.prefix)
        files = dataset.data_files()
        sampled = files[: self.config.max_files_sampled_per_dataset]
        budget = self.config.max_bytes_read_per_file

        def read(info: ObjectInfo) -> readers.FileSchema:
            def fetch(key: str, start: int, end: int) -> bytes:
                return api.get_range(dataset.bucket, key, start, end)

            if fmt == "parquet":
                return readers.read_parquet(fetch, info.key, info.size, budget)
            if fmt == "avro":
                return readers.read_avro(fetch, info.key, info.size, budget)
            head = min(budget, self.config.text_sample_bytes)
            if fmt == "json":
                return readers.read_json_lines(fetch, info.key, info.size, head, compression)
            delimiter = "\t" if fmt == "tsv" else ","
            return readers.read_csv(fetch, info.key, info.size, head, compression, delimiter)

        async def one(info: ObjectInfo) -> readers.FileSchema | None:
            try:
                return await self._call(
                    read, info, what=f"reading s3://{dataset.bucket}/{info.key}"
                )
            except readers.UnreadableFile as unreadable:
                errors.append(
                    self._warning(
                        scope, f"file {info.key!r} skipped: {unreadable}", "unreadable_file"
                    )
                )
            except _Missing:
                errors.append(
                    self._warning(
                        scope, f"file {info.key!r} vanished before it was read", "vanished"
                    )
                )
            except SourceResponseError as refused:  # an invalid range, say: this file only
                errors.append(
                    self._warning(scope, f"file {info.key!r} skipped: {refused}", "unreadable_file")
                )
            return None

        results = await asyncio.gather(*(one(info) for info in sampled))
        read_ok = [(info, s) for info, s in zip(sampled, results, strict=True) if s is not None]
        if not read_ok:
            if sampled:
                errors.append(
                    self._warning(scope, "no sampled file was readable; no fields", "no_schema")
                )
            return None, None
        newest_info, newest = read_ok[0]
        for info, other in read_ok[1:]:
            if other.signature() != newest.signature():
                errors.append(
                    self._warning(
                        scope,
                        f"schema conflict between sampled files: {newest_info.key!r} has "
                        f"[{', '.join(newest.signature())}] but {info.key!r} has "
                        f"[{', '.join(other.signature())}]; the newest file's schema is kept",
                        "schema_conflict",
                    )
                )
                break
        row_count = None
        if len(read_ok) == len(files) and all(s.row_count is not None for _, s in read_ok):
            row_count = sum(s.row_count or 0 for _, s in read_ok)
        return newest, row_count

    async def _delta(
        self,
        api: S3Api,
        dataset: Dataset,
        properties: dict[str, Any],
        errors: list[ExtractionError],
    ) -> readers.FileSchema | None:
        """The table's snapshot from its newest checkpoint and the commits after it (delta.py)."""
        scope = (dataset.bucket, dataset.prefix)
        plan = delta.plan_log(dataset.table_files)
        properties["table_format"] = "delta"
        properties["table_version"] = plan.version
        if plan.checkpoint_version is not None:
            properties["checkpoint_version"] = plan.checkpoint_version
        budget = self.config.max_bytes_read_per_file
        state = delta.DeltaState()
        if plan.gap:
            state.files_known = False
            errors.append(self._warning(scope, f"incomplete Delta log: {plan.gap}", "partial_log"))

        def fetch(key: str, start: int, end: int) -> bytes:
            return api.get_range(dataset.bucket, key, start, end)

        def whole(info: ObjectInfo) -> bytes:
            if not 0 < info.size <= budget:
                raise readers.UnreadableFile(
                    f"{info.size} bytes is empty or more than max_bytes_read_per_file"
                )
            return fetch(info.key, 0, info.size - 1)

        async def read(call: Callable[..., T], info: ObjectInfo, *args: Any) -> T | None:
            try:
                return await self._call(
                    call, *args, what=f"reading s3://{dataset.bucket}/{info.key}"
                )
            except (readers.UnreadableFile, _Missing) as unreadable:
                state.files_known = False
                errors.append(
                    self._warning(
                        scope,
                        f"Delta log file {info.key!r} skipped: {unreadable}",
                        "unreadable_file",
                    )
                )
                return None

        parts = await asyncio.gather(
            *(
                read(delta.read_checkpoint_part, info, fetch, info, budget)
                if info.key.endswith(".parquet")
                else read(whole, info, info)
                for info in plan.checkpoint
            )
        )
        for info, part in zip(plan.checkpoint, parts, strict=True):
            if isinstance(part, bytes):
                state.apply_commit(part)
            elif part is not None:
                table, adds_read = part
                state.apply_checkpoint(table)
                if not adds_read:
                    state.files_known = False
                    errors.append(
                        self._warning(
                            scope,
                            f"the live files of checkpoint {info.key!r} are more than "
                            "max_bytes_read_per_file: schema read, row count not",
                            "partial_log",
                        )
                    )
        if state.sidecars:
            listed = {info.key: info for info in dataset.table_files}
            log = plan.checkpoint[0].key.rpartition("/")[0]
            sidecars = [listed.get(f"{log}/_sidecars/{path}") for path in state.sidecars]
            if None in sidecars:
                state.files_known = False
                errors.append(
                    self._warning(scope, "a checkpoint's sidecar file is missing", "partial_log")
                )
            tables = await asyncio.gather(
                *(
                    read(delta.read_sidecar, info, fetch, info.key, info.size, budget)
                    for info in sidecars
                    if info is not None
                )
            )
            for table in tables:
                if table is not None:
                    state.apply_checkpoint(table)
        commits = await asyncio.gather(*(read(whole, info, info) for info in plan.commits))
        for info, data in zip(plan.commits, commits, strict=True):
            if data is None:
                continue
            try:
                state.apply_commit(data)
            except readers.UnreadableFile as unreadable:
                state.files_known = False
                errors.append(
                    self._warning(
                        scope,
                        f"Delta log file {info.key!r} skipped: {unreadable}",
                        "unreadable_file",
                    )
                )
        try:
            schema = state.schema()
        except readers.UnreadableFile as unreadable:
            errors.append(self._warning(scope, str(unreadable), "unreadable_file"))
            schema = None
        if schema is None:
            errors.append(self._warning(scope, "no schema in the Delta log read", "no_schema"))
            return None
        if state.files_known:
            properties["stored_file_count"] = properties["file_count"]
            properties["stored_bytes"] = dataset.total_bytes
            properties["file_count"] = len(state.files)
            properties["live_bytes"] = sum(size or 0 for size, _ in state.files.values())
        return schema

    async def _iceberg(
        self,
        api: S3Api,
        dataset: Dataset,
        properties: dict[str, Any],
        errors: list[ExtractionError],
    ) -> readers.FileSchema | None:
        """The newest `metadata/*.metadata.json` (by its version number, then its time)."""
        scope = (dataset.bucket, dataset.prefix)
        newest = max(dataset.table_files, key=_iceberg_version)
        properties["table_format"] = "iceberg"
        properties["table_version"] = _iceberg_version(newest)[0]
        if not 0 < newest.size <= self.config.max_bytes_read_per_file:
            errors.append(
                self._warning(
                    scope,
                    f"{newest.key!r} is empty or larger than max_bytes_read_per_file; no fields",
                    "no_schema",
                )
            )
            return None
        data = await self._call(
            api.get_range,
            dataset.bucket,
            newest.key,
            0,
            newest.size - 1,
            what=f"reading s3://{dataset.bucket}/{newest.key}",
        )
        try:
            return readers.read_iceberg_metadata(data)
        except readers.UnreadableFile as unreadable:
            errors.append(
                self._warning(scope, f"{newest.key!r} skipped: {unreadable}", "unreadable_file")
            )
            return None

    # Calls and errors ---------------------------------------------------------------------------

    async def _call(self, call: Callable[..., T], *args: Any, what: str) -> T:
        """Run a boto3 call in a thread: whole-source failures raised, NoSuch* → _Missing, others
        → _Scoped. Reader errors (`UnreadableFile`) pass through."""
        try:
            async with self._limit:
                return await asyncio.to_thread(call, *args)
        except readers.UnreadableFile:
            raise
        except Exception as error:
            classified = self._classified(error, what)
            if is_missing(error):
                raise _Missing(classified.message) from None
            if isinstance(classified, PrivilegeError):
                raise _Scoped(classified) from None
            raise classified from None

    def _classified(self, error: BaseException, what: str) -> ExtractorError:
        classified = error if isinstance(error, ExtractorError) else classify(error, what)
        classified.message = scrub(classified.message, self.secret_values())
        return classified

    def _error(
        self, scope: tuple[str, ...], failure: _Scoped, asset_type: AssetType = AssetType.DATABASE
    ) -> ExtractionError:
        logger.error("%s: %s", "/".join(scope), failure.error.message)
        return ExtractionError(
            scope=scope,
            asset_type=asset_type,
            message=failure.error.message,
            retryable=failure.error.retryable,
            code=failure.error.code,
        )

    def _warning(self, scope: tuple[str, ...], message: str, code: str) -> ExtractionError:
        message = scrub(message, self.secret_values())
        logger.warning("%s: %s", "/".join(scope), message)
        return ExtractionError(scope=scope, message=message, severity=Severity.WARNING, code=code)


def _iceberg_version(info: ObjectInfo) -> tuple[int, datetime]:
    """`v3.metadata.json` and `00003-<uuid>.metadata.json` are version 3."""
    name = info.key.rsplit("/", 1)[-1]
    digits = name.removeprefix("v").split("-", 1)[0].split(".", 1)[0]
    return (int(digits) if digits.isdigit() else -1), info.last_modified


class _Missing(Exception):
    """The bucket or object is gone (NoSuchBucket, NoSuchKey)."""


class _Scoped(Exception):
    """Access denied: recorded against the bucket or dataset, which it protects."""

    def __init__(self, error: ExtractorError) -> None:
        super().__init__(error.message)
        self.error = error
