"""MongoDB extractor: databases, collections and views, indexes, statistics and inferred schemas.

pymongo's asyncio client (`AsyncMongoClient`): collections of a database are read concurrently,
up to `max_concurrent_collections`, each with listIndexes, collStats and one sampling aggregation
(sampling.py). Each database becomes one batch (or several of `batch_max_tables` collections).

Failure rules (the catalog deletes nothing under an ERROR scope):
- authentication failed, an invalid connection string: the whole sync fails at once (permanent);
- network errors, timeouts, server selection timeout, a primary stepping down (`NotWritablePrimary`
  and the other "not primary" codes): the whole sync fails as transient and is retried;
- not authorized on a database: ERROR scoped to that database; on one collection: scoped to it;
- a sample stopped by `maxTimeMS`, or a server refusing one collection's command: ERROR scoped to
  that collection (the others are kept);
- a collection dropped while it was read: WARNING, the collection is left out;
- a document nested deeper than `max_depth` or with more fields than `max_schema_fields`: the
  schema is cut, with a WARNING; never a failed sync.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, ClassVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.errors import (
    ExtractorError,
    PermanentExtractorError,
    scrub,
)
from metadata_pipelines.extractors.inference import Limits, RecordShape
from metadata_pipelines.extractors.mongodb import mapper
from metadata_pipelines.extractors.mongodb.bson_types import BSON_TYPES
from metadata_pipelines.extractors.mongodb.classify import (
    classify,
    is_dropped,
    is_time_limit,
    is_unauthorized,
    is_unsupported,
)
from metadata_pipelines.extractors.mongodb.config import MongoDBConfig, MongoDBCredentials
from metadata_pipelines.extractors.mongodb.sampling import bucketed_share, sampling_pipeline
from metadata_pipelines.models import (
    AssetType,
    ColumnMetadata,
    DatabaseMetadata,
    ExtractionBatch,
    ExtractionError,
    Severity,
    TableMetadata,
)

logger = logging.getLogger(__name__)
APP_NAME = "metadata-pipelines"
#: Shown in the server's logs and currentOp next to each sampling aggregation.
SAMPLE_COMMENT = "metadata-pipelines schema sample"
_VIEW_NOT_COLLECTION = 166  # CommandNotSupportedOnView


class MongoDBExtractor(BaseMetadataExtractor):
    """Reads databases, collections, views, indexes and sampled schemas with pymongo (asyncio)."""

    connector_type: ClassVar[str] = "mongodb"
    config_model = MongoDBConfig
    credentials_model = MongoDBCredentials
    config: MongoDBConfig
    credentials: MongoDBCredentials

    def __init__(self, config: Any, credentials: Any = None) -> None:
        super().__init__(config, credentials)
        #: Documents read by sampling in this extractor's syncs (for benchmarks and tests).
        self.documents_read = 0

    def __repr__(self) -> str:
        return f"MongoDBExtractor(sampling={self.config.sampling!r})"

    def get_supported_asset_types(self) -> list[AssetType]:
        return [
            AssetType.DATABASE,
            AssetType.TABLE,
            AssetType.VIEW,
            AssetType.COLUMN,
            AssetType.CONSTRAINT,
            AssetType.INDEX,
        ]

    # Connection ---------------------------------------------------------------------------------

    def client_options(self, certificate_file: str | None = None) -> dict[str, Any]:
        """pymongo's keyword options: the URI carries the deployment, these the rest."""
        config, credentials = self.config, self.credentials
        options: dict[str, Any] = {
            "readPreference": config.read_preference,
            "serverSelectionTimeoutMS": int(config.server_selection_timeout_seconds * 1000),
            "connectTimeoutMS": int(config.connect_timeout_seconds * 1000),
            "socketTimeoutMS": int(config.socket_timeout_seconds * 1000),
            "maxPoolSize": config.max_concurrent_collections + 2,
            "appname": APP_NAME,
            "tz_aware": True,
            "uuidRepresentation": "standard",
        }
        if credentials.username and credentials.password:
            options["username"] = credentials.username
            options["password"] = credentials.password.get_secret_value()
            if credentials.auth_mechanism:
                options["authMechanism"] = credentials.auth_mechanism
        elif credentials.x509:
            options["tls"] = True
            options["authMechanism"] = "MONGODB-X509"
            options["tlsCertificateKeyFile"] = certificate_file
            if credentials.username:
                options["username"] = credentials.username
            if credentials.tls_certificate_key_password:
                options["tlsCertificateKeyFilePassword"] = (
                    credentials.tls_certificate_key_password.get_secret_value()
                )
        if config.auth_source and (credentials.username or credentials.x509):
            options["authSource"] = config.auth_source
        return options

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[AsyncMongoClient]:
        """A client for one sync; an X.509 certificate lives in a private file only meanwhile."""
        certificate_file = None
        try:
            if self.credentials.x509 and self.credentials.tls_certificate_key:
                handle, certificate_file = tempfile.mkstemp(prefix="mp-mongodb-", suffix=".pem")
                with os.fdopen(handle, "w") as pem:  # mkstemp: readable by this user only
                    pem.write(self.credentials.tls_certificate_key.get_secret_value())
            try:
                client: AsyncMongoClient = AsyncMongoClient(
                    self.config.connection_string, **self.client_options(certificate_file)
                )
            except Exception as error:
                raise self._classified(error, "connecting") from None
            try:
                yield client
            finally:
                await client.close()
        finally:
            if certificate_file:
                with suppress(OSError):
                    os.unlink(certificate_file)

    async def check_connection(self) -> None:
        async with self._connected() as client:
            try:
                await client.admin.command("ping")
            except Exception as error:
                raise self._classified(error, "connecting") from None
            await self._databases(client)

    # Extraction ---------------------------------------------------------------------------------

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        async with self._connected() as client:
            self._limit = asyncio.Semaphore(self.config.max_concurrent_collections)
            databases, warnings = await self._databases(client)
            if warnings:
                yield ExtractionBatch(errors=warnings)
            for name, info in databases:
                for batch in await self._database(client[name], info):
                    yield batch

    async def _databases(
        self, client: AsyncMongoClient
    ) -> tuple[list[tuple[str, Mapping[str, Any]]], list[ExtractionError]]:
        """The databases in scope with their listDatabases entry, and warnings.

        `authorizedDatabases` lets a user without the cluster-wide listDatabases privilege list
        the databases it may read (MongoDB 4.0.5+). A server that refuses it anyway is answered
        as older servers were: the databases named by the user's roles (connectionStatus)."""
        warnings = []
        try:
            reply = await client.admin.command(
                "listDatabases", nameOnly=False, authorizedDatabases=True
            )
            found = [(str(d["name"]), d) for d in reply.get("databases", [])]
        except OperationFailure as error:
            if not is_unauthorized(error):
                raise self._classified(error, "listing databases") from None
            names = await self._role_databases(client)
            if not names:
                raise self._classified(error, "listing databases") from None
            found = [(name, {}) for name in names]
            warnings.append(
                self._warning(
                    (),
                    "listDatabases is not permitted to this user; reading the databases its "
                    f"roles name ({', '.join(names)}), without their sizes",
                    "databases_from_roles",
                )
            )
        except Exception as error:
            raise self._classified(error, "listing databases") from None
        return [(n, d) for n, d in found if self.config.wants_database(n)], warnings

    async def _role_databases(self, client: AsyncMongoClient) -> list[str]:
        try:
            status = await client.admin.command("connectionStatus", showPrivileges=True)
        except Exception as error:
            raise self._classified(error, "reading the user's roles") from None
        auth = status.get("authInfo", {})
        names = {role.get("db") for role in auth.get("authenticatedUserRoles", [])}
        names.update(
            p.get("resource", {}).get("db") for p in auth.get("authenticatedUserPrivileges", [])
        )
        return sorted(n for n in names if n)

    async def _database(self, db: AsyncDatabase, info: Mapping[str, Any]) -> list[ExtractionBatch]:
        name = db.name
        properties: dict[str, Any] = {}
        if "sizeOnDisk" in info:
            properties["size_on_disk"] = int(info["sizeOnDisk"])
        if "empty" in info:
            properties["empty"] = bool(info["empty"])
        database = DatabaseMetadata(name=name, properties=properties)
        try:
            cursor = await db.list_collections()
            collections = await cursor.to_list()
        except Exception as error:
            classified = self._classified(error, f"listing collections of {name}")
            if not isinstance(classified, PermanentExtractorError):
                raise classified from None
            return [
                ExtractionBatch(databases=[database], errors=[self._error((name,), classified)])
            ]
        wanted = [c for c in collections if self.config.wants_collection(name, str(c["name"]))]
        tasks = [asyncio.ensure_future(self._collection(db, c)) for c in wanted]
        try:
            outcomes = await asyncio.gather(*tasks)
        except BaseException:
            # A whole-sync failure in one collection: stop the others before the client closes.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        tables = [table for table, _ in outcomes if table is not None]
        errors = [error for _, found in outcomes for error in found]
        size = self.config.batch_max_tables
        chunks = [tables[i : i + size] for i in range(0, len(tables), size)] or [[]]
        batches = [ExtractionBatch(tables=chunk) for chunk in chunks]
        batches[0].databases = [database]
        batches[0].errors = errors
        return batches

    async def _collection(
        self, db: AsyncDatabase, info: Mapping[str, Any]
    ) -> tuple[TableMetadata | None, list[ExtractionError]]:
        name = str(info["name"])
        scope = (db.name, name)
        kind = mapper.collection_kind(info)
        errors: list[ExtractionError] = []
        async with self._limit:
            try:
                indexes, stats = [], None
                if kind != "view":
                    cursor = await db[name].list_indexes()
                    indexes = [mapper.index(spec) for spec in await cursor.to_list()]
                    stats = await self._stats(db, name)
                columns: list[ColumnMetadata] = []
                sample: dict[str, Any] = {}
                if kind != "view" or self.config.sample_views:
                    count = _count(stats)
                    columns, sample = await self._sample(db, name, kind, count, errors)
            except Exception as error:
                if is_dropped(error):
                    return None, [
                        self._warning(
                            scope, f"{db.name}.{name} was dropped while it was read", "dropped"
                        )
                    ]
                classified = self._classified(error, f"reading {db.name}.{name}")
                # A server-side time limit on one collection's sample fails that collection only:
                # retrying would hit the same limit, and the other collections were read fine.
                if classified.retryable and not is_time_limit(error):
                    raise classified from None
                return None, [self._error(scope, classified, AssetType.TABLE)]
        schema = mapper.json_schema(info)
        if schema is not None:
            declared = mapper.declared_columns(schema, self.config.max_depth)
            columns = mapper.merge_declared(columns, declared, sample.get("sampled_documents", 0))
        if mapper.primary_key(indexes):
            columns = [
                c.model_copy(update={"is_primary_key": True, "nullable": False})
                if c.name == "_id"
                else c
                for c in columns
            ]
        table = mapper.table(
            db.name, info, stats=stats, columns=columns, indexes=indexes, sample=sample
        )
        return table, errors

    async def _stats(self, db: AsyncDatabase, name: str) -> Mapping[str, Any] | None:
        """collStats (every server version), or `$collStats` where the command is gone."""
        try:
            return await db.command("collStats", name)
        except OperationFailure as error:
            if error.code == _VIEW_NOT_COLLECTION:
                return None
            if not is_unsupported(error):
                raise
        cursor = await db[name].aggregate([{"$collStats": {"storageStats": {}}}])
        for reply in await cursor.to_list():
            return reply.get("storageStats")
        return None

    async def _sample(
        self,
        db: AsyncDatabase,
        name: str,
        kind: str,
        count: int | None,
        errors: list[ExtractionError],
    ) -> tuple[list[ColumnMetadata], dict[str, Any]]:
        """One bounded aggregation; the documents' shape as columns, and how they were sampled."""
        config = self.config
        pipeline, method = sampling_pipeline(
            config.sampling, config.schema_sample_size, count, kind
        )
        limits = Limits(max_depth=config.max_depth, max_fields=config.max_schema_fields)
        shape = RecordShape(BSON_TYPES, limits)
        cursor = await db[name].aggregate(
            pipeline,
            allowDiskUse=False,
            maxTimeMS=int(config.sample_max_time_seconds * 1000),
            batchSize=min(config.schema_sample_size, 1000),
            comment=SAMPLE_COMMENT,
        )
        async for document in cursor:
            shape.add(document)
        self.documents_read += shape.records
        if limits.cut:
            errors.append(
                self._warning(
                    (db.name, name),
                    f"schema of {db.name}.{name} cut: {limits.describe()}",
                    "schema_cut",
                )
            )
        columns = shape.columns(by_name=True, share=bucketed_share)
        return columns, {"sampling": method, "sampled_documents": shape.records}

    # Errors -------------------------------------------------------------------------------------

    def _classified(self, error: BaseException, what: str) -> ExtractorError:
        classified = classify(error, what)
        classified.message = scrub(classified.message, self.secret_values())
        return classified

    def _error(
        self,
        scope: tuple[str, ...],
        error: ExtractorError,
        asset_type: AssetType = AssetType.DATABASE,
    ) -> ExtractionError:
        logger.error("%s: %s", "/".join(scope), error.message)
        return ExtractionError(
            scope=scope,
            asset_type=asset_type,
            message=error.message,
            retryable=error.retryable,
            code=error.code,
        )

    def _warning(self, scope: tuple[str, ...], message: str, code: str) -> ExtractionError:
        message = scrub(message, self.secret_values())
        logger.warning("%s: %s", "/".join(scope) or "(source)", message)
        return ExtractionError(scope=scope, message=message, severity=Severity.WARNING, code=code)


def _count(stats: Mapping[str, Any] | None) -> int | None:
    if not stats or stats.get("count") is None:
        return None
    return int(stats["count"])
