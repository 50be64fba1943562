"""Kafka extractor: the cluster as the container, its topics as datasets, their schemas as fields.

A sync reads, in this order: one Metadata request for all topics (partitions, leaders, replicas,
ISR), DescribeCluster, topic configs in batches, the consumer groups and their committed offsets,
the registry's subject list once and the latest version of each subject that matches a topic in
scope (bounded concurrency), and, with `sample_messages`, the newest messages of the topics that
have no registered value schema.

Fields: the value schema's fields are the topic's top-level fields (`lines[].sku`); a registered key
schema is one more top-level field, `(key)`, marked as the primary key, whose children are the key
record's fields (a plain string key has none). Which subjects belong to a topic depends on
`subject_naming_strategy` (see docs/connectors/kafka.md).

Failure rules (the catalog deletes nothing under an ERROR scope):
- the cluster unreachable, a rejected login, a denied cluster Describe: the whole sync fails
  (transient / permanent);
- a topic the metadata reports with an error (denied by ACL, leader not available): ERROR scoped to
  it, the topic is kept with what could be read;
- a topic whose configs cannot be described: ERROR scoped to it;
- the consumer groups unreadable (denied): WARNING, topics without groups;
- the registry down or failing for a subject: ERROR scoped to each topic whose schema could not be
  read (so its stored fields are kept, never deleted) and the topics themselves; the run is partial;
- a registered schema this connector cannot parse: WARNING on the topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from metadata_pipelines.extractors.base import BaseMetadataExtractor
from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    scrub,
)
from metadata_pipelines.extractors.inference import RecordShape
from metadata_pipelines.extractors.kafka.broker import BrokerClient, GroupOffsets, Sample, chunks
from metadata_pipelines.extractors.kafka.classify import ACLS_NEEDED, classify, is_authorization
from metadata_pipelines.extractors.kafka.config import (
    KafkaConfig,
    KafkaCredentials,
    client_config,
    registry_config,
)
from metadata_pipelines.extractors.kafka.registry import RegistryReader, SubjectSchema
from metadata_pipelines.extractors.kafka.schemas import (
    MappedSchema,
    UnreadableSchema,
    schema_fields,
)
from metadata_pipelines.extractors.kafka.topics import (
    TopicFacts,
    subjects_for,
    topic_facts,
    topic_table,
)
from metadata_pipelines.models import (
    AssetType,
    ColumnMetadata,
    ContainerType,
    DatabaseMetadata,
    ExtractionBatch,
    ExtractionError,
    FieldInference,
    ObservedType,
    Severity,
)

logger = logging.getLogger(__name__)


@dataclass
class TopicSchemas:
    """What the registry (or sampling) said about one topic."""

    #: Registered value schemas by subject (several only with topic-record-name).
    values: dict[str, tuple[MappedSchema, dict[str, Any]]] = field(default_factory=dict)
    key: MappedSchema | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    inferred: list[ColumnMetadata] | None = None
    errors: list[ExtractionError] = field(default_factory=list)


class KafkaExtractor(BaseMetadataExtractor):
    """Reads a Kafka cluster with confluent-kafka's AdminClient and its Schema Registry client."""

    connector_type: ClassVar[str] = "kafka"
    config_model = KafkaConfig
    credentials_model = KafkaCredentials
    config: KafkaConfig
    credentials: KafkaCredentials

    def __init__(self, config: Any, credentials: Any = None) -> None:
        super().__init__(config, credentials)
        try:
            self._settings = client_config(self.config, self.credentials)
        except ValueError as error:
            raise ConfigurationError(f"invalid kafka credentials: {error}") from None
        #: Requests of the last sync, by kind ("broker.metadata", "registry.subjects", ...).
        self.requests: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"KafkaExtractor(bootstrap_servers={self.config.bootstrap_servers!r})"

    def get_supported_asset_types(self) -> list[AssetType]:
        return [AssetType.DATABASE, AssetType.TABLE, AssetType.COLUMN]

    def _broker(self) -> BrokerClient:
        return BrokerClient(
            self._settings, self.config.request_timeout_seconds, self.config.max_concurrent_requests
        )

    def _fail(self, error: ExtractorError) -> ExtractorError:
        error.message = scrub(error.message, self.secret_values())
        return error

    async def check_connection(self) -> None:
        broker = self._broker()
        try:
            await broker.metadata()
        except ExtractorError as error:
            raise self._fail(error) from None
        if self.config.schema_registry_url:
            registry = RegistryReader(
                registry_config(self.config, self.credentials), self.config.max_concurrent_requests
            )
            try:
                await registry.subjects()
            except ExtractorError as error:
                if not error.retryable:
                    raise self._fail(error) from None
                # A registry that is down costs the schemas, not the sync: the extraction keeps
                # the topics and protects their stored fields (a partial run).
                logger.warning("schema registry unavailable: %s", self._fail(error).message)
            finally:
                await registry.close()

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        broker = self._broker()
        registry = (
            RegistryReader(
                registry_config(self.config, self.credentials), self.config.max_concurrent_requests
            )
            if self.config.schema_registry_url
            else None
        )
        try:
            async for batch in self._stream(broker, registry):
                yield batch
        finally:
            self.requests = {f"broker.{k}": v for k, v in broker.requests.items()}
            if registry is not None:
                self.requests.update({f"registry.{k}": v for k, v in registry.requests.items()})
                await registry.close()

    async def _stream(
        self, broker: BrokerClient, registry: RegistryReader | None
    ) -> AsyncIterator[ExtractionBatch]:
        try:
            metadata = await broker.metadata()
            cluster = await broker.describe_cluster()
        except ExtractorError as error:
            raise self._fail(error) from None
        name = self.config.cluster_name or metadata.cluster_id or "kafka"
        errors: list[ExtractionError] = []
        topics = {
            topic: meta
            for topic, meta in metadata.topics.items()
            if (self.config.include_internal_topics or not self.config.is_internal(topic))
            and self.config.topic_filter.allows(topic)
        }
        facts: dict[str, TopicFacts] = {}
        for topic, meta in sorted(topics.items()):
            facts[topic] = topic_facts(meta)
            if meta.error is not None:
                errors.append(self._topic_metadata_error(name, topic, meta.error))
        configs = await self._configs(broker, name, sorted(facts), errors)
        groups = await self._groups(broker, errors)
        schemas = await self._schemas(broker, registry, name, facts, errors)
        database = DatabaseMetadata(
            name=name,
            container_type=ContainerType.CLUSTER,
            properties={
                "cluster_id": metadata.cluster_id,
                "controller_id": getattr(cluster.controller, "id", metadata.controller_id),
                "broker_count": len(metadata.brokers),
                "brokers": sorted(f"{b.host}:{b.port}" for b in metadata.brokers.values()),
                "topic_count": len(facts),
            },
        )
        tables = [
            topic_table(
                name,
                facts[topic],
                configs.get(topic),
                sorted(g.group_id for g in groups if topic in g.topics),
                schemas.get(topic, TopicSchemas()),
            )
            for topic in sorted(facts)
        ]
        for topic_schemas in schemas.values():
            errors += topic_schemas.errors
        first = True
        for part in chunks(tables, self.config.batch_max_tables) if tables else [[]]:
            yield ExtractionBatch(
                databases=[database] if first else [],
                tables=part,
                errors=errors if first else [],
            )
            first = False

    def _topic_metadata_error(self, cluster: str, topic: str, error: Any) -> ExtractionError:
        """An error the Metadata response reports for one topic, scoped to it (its stored fields
        are kept): denied by ACL (permanent), leader not available (transient), ..."""
        classified = classify(error, f"topic {topic}")
        message = classified.message
        if is_authorization(error):
            message = f"topic {topic}: denied by ACL ({error.name()}); {ACLS_NEEDED}"
        return ExtractionError(
            scope=(cluster, topic),
            asset_type=AssetType.TABLE,
            message=message,
            retryable=classified.retryable,
            code=classified.code,
        )

    async def _configs(
        self, broker: BrokerClient, cluster: str, topics: list[str], errors: list[ExtractionError]
    ) -> dict[str, dict[str, Any]]:
        batches = list(chunks(topics, self.config.describe_configs_batch_size))
        try:
            results = await asyncio.gather(*(broker.describe_configs(b) for b in batches))
        except ExtractorError as error:
            raise self._fail(error) from None
        configs: dict[str, dict[str, Any]] = {}
        for result in results:
            for topic, entries in result.items():
                if isinstance(entries, ExtractorError):
                    errors.append(
                        ExtractionError(
                            scope=(cluster, topic),
                            asset_type=AssetType.TABLE,
                            message=scrub(entries.message, self.secret_values()),
                            retryable=entries.retryable,
                            code=entries.code,
                        )
                    )
                else:
                    configs[topic] = entries
        return configs

    async def _groups(
        self, broker: BrokerClient, errors: list[ExtractionError]
    ) -> list[GroupOffsets]:
        if not self.config.include_consumer_groups:
            return []
        try:
            return await broker.consumer_groups()
        except ExtractorError as error:
            errors.append(
                ExtractionError(
                    message=f"consumer groups not read: {scrub(error.message, self.secret_values())}",
                    severity=Severity.WARNING,
                    retryable=error.retryable,
                    code=error.code,
                )
            )
            return []

    # Schemas -------------------------------------------------------------------------------------

    async def _schemas(
        self,
        broker: BrokerClient,
        registry: RegistryReader | None,
        cluster: str,
        facts: dict[str, TopicFacts],
        errors: list[ExtractionError],
    ) -> dict[str, TopicSchemas]:
        out = {topic: TopicSchemas() for topic in facts}
        registry_down: ExtractorError | None = None
        if registry is not None:
            try:
                subjects = await registry.subjects()
            except ExtractorError as error:
                if isinstance(error, AuthenticationError | PrivilegeError):
                    raise self._fail(error) from None  # wrong registry credentials: fix, not retry
                registry_down = error
                subjects = set()
            if registry_down is None:
                await self._registered(registry, cluster, subjects, out)
        if registry_down is not None:
            message = scrub(registry_down.message, self.secret_values())
            for topic, item in out.items():
                item.errors.append(self._schema_error(cluster, topic, message, registry_down))
        wanted = [
            t for t, s in out.items() if not s.values and not s.errors and facts[t].partitions
        ]
        if self.config.sample_messages and wanted:
            await self._sampled(
                broker, registry, cluster, {t: facts[t].partitions for t in wanted}, out
            )
        return out

    def _schema_error(
        self, cluster: str, topic: str, message: str, error: ExtractorError
    ) -> ExtractionError:
        return ExtractionError(
            scope=(cluster, topic),
            asset_type=AssetType.TABLE,
            message=f"topic {topic}: schemas not read, stored fields kept: {message}",
            retryable=error.retryable,
            code="schema_registry_unavailable",
        )

    async def _registered(
        self,
        registry: RegistryReader,
        cluster: str,
        subjects: set[str],
        out: dict[str, TopicSchemas],
    ) -> None:
        async def read(topic: str, role: str, subject: str) -> None:
            item = out[topic]
            try:
                latest = await registry.latest(subject)
            except ExtractorError as error:
                message = scrub(error.message, self.secret_values())
                item.errors.append(self._schema_error(cluster, topic, message, error))
                return
            try:
                mapped = schema_fields(latest.schema_type, latest.schema, latest.references)
            except UnreadableSchema as error:
                item.errors.append(
                    ExtractionError(
                        scope=(cluster, topic),
                        asset_type=AssetType.TABLE,
                        message=f"topic {topic}: {role} subject {subject} version {latest.version}: {error}",
                        severity=Severity.WARNING,
                        code="unreadable_schema",
                    )
                )
                return
            if role == "key":
                item.key = mapped
                item.properties["key_schema"] = _describe(latest, mapped)
            else:
                item.values[subject] = (mapped, _describe(latest, mapped))

        work = [
            read(topic, role, subject)
            for topic in out
            for role, subject in subjects_for(topic, subjects, self.config.subject_naming_strategy)
        ]
        await asyncio.gather(*work)

    async def _sampled(
        self,
        broker: BrokerClient,
        registry: RegistryReader | None,
        cluster: str,
        partitions: dict[str, int],
        out: dict[str, TopicSchemas],
    ) -> None:
        try:
            samples = await broker.sample(
                partitions, self.config.sample_messages, self.config.sample_timeout_seconds
            )
        except ExtractorError as error:
            message = scrub(error.message, self.secret_values())
            for topic in partitions:
                out[topic].errors.append(
                    ExtractionError(
                        scope=(cluster, topic),
                        asset_type=AssetType.TABLE,
                        message=f"topic {topic}: messages not sampled: {message}",
                        severity=Severity.WARNING,
                        retryable=error.retryable,
                        code=error.code,
                    )
                )
            return

        async def infer(topic: str, sample: Sample) -> None:
            item = out[topic]
            if sample.schema_ids and registry is not None:
                schema_id, count = sample.schema_ids.most_common(1)[0]
                try:
                    kind, text, references = await registry.by_id(schema_id)
                    mapped = schema_fields(
                        kind, text, references, sample.message_indexes.get(schema_id, ())
                    )
                except (ExtractorError, UnreadableSchema) as error:
                    item.errors.append(
                        ExtractionError(
                            scope=(cluster, topic),
                            asset_type=AssetType.TABLE,
                            message=f"topic {topic}: schema id {schema_id} of sampled messages "
                            f"not read: {scrub(str(error), self.secret_values())}",
                            severity=Severity.WARNING,
                            code="unreadable_schema",
                        )
                    )
                    return
                presence = count / sample.messages
                item.inferred = [_declared(c, sample.messages, presence) for c in mapped.columns]
                item.properties["value_schema"] = {
                    "source": "sampled_schema_id",
                    "schema_id": schema_id,
                    "schema_type": kind,
                    "record_name": mapped.record_name,
                    "sample_size": sample.messages,
                    "schema_ids_seen": dict(sorted(sample.schema_ids.items())),
                }
            elif sample.json_records:
                shape = RecordShape()
                for record in sample.json_records:
                    shape.add(record)
                item.inferred = shape.columns()
                item.properties["value_schema"] = {
                    "source": "sampled_json",
                    "sample_size": sample.messages,
                    "json_records": len(sample.json_records),
                }
            elif sample.messages:
                item.properties["value_schema"] = {
                    "source": "sampled",
                    "sample_size": sample.messages,
                    "format": "unrecognized (neither JSON nor the registry wire format)",
                }

        await asyncio.gather(*(infer(t, s) for t, s in samples.items()))


def _describe(latest: SubjectSchema, mapped: MappedSchema) -> dict[str, Any]:
    return {
        "subject": latest.subject,
        "version": latest.version,
        "schema_id": latest.schema_id,
        "schema_type": latest.schema_type,
        "compatibility": latest.compatibility,
        "record_name": mapped.record_name,
        "references": latest.reference_names,
    }


def _declared(column: ColumnMetadata, sample_size: int, presence: float) -> ColumnMetadata:
    """A field of a schema found through sampled messages' schema ids: marked as inferred, with
    the share of sampled messages that carried that schema id."""
    return column.model_copy(
        update={
            "inference": FieldInference(
                sample_size=sample_size,
                presence=presence,
                types=[
                    ObservedType(
                        native_type=column.native_type, data_type=column.data_type, share=1.0
                    )
                ],
                declared=True,
            )
        }
    )
