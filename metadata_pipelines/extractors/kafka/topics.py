"""A topic's facts (partitions, replicas, configs, groups, schemas) as a catalog dataset, and which
registry subjects belong to which topic.

Partition leaders and in-sync replicas move with broker restarts and elections: they are kept under
`partition_state` and `under_replicated_partitions`, which `models.VOLATILE_STATISTICS` leaves out of
change detection, so an election does not rewrite every topic's row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka.admin import ConfigSource

from metadata_pipelines.models import ColumnMetadata, TableMetadata, TableType

if TYPE_CHECKING:
    from metadata_pipelines.extractors.kafka.extractor import TopicSchemas
    from metadata_pipelines.extractors.kafka.schemas import MappedSchema

#: The top-level field holding the message key's schema ("key" itself may be a value field).
KEY_FIELD = "(key)"
#: Configs always recorded, default or not: what a consumer of the catalog asks first.
KEY_CONFIGS = (
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "min.insync.replicas",
    "compression.type",
)


@dataclass
class TopicFacts:
    name: str
    partitions: int
    replication_factor: int
    replicas: dict[str, list[int]] = field(default_factory=dict)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    under_replicated: list[int] = field(default_factory=list)


def topic_facts(meta: Any) -> TopicFacts:
    """From one topic of the Metadata response (confluent-kafka's TopicMetadata)."""
    partitions = sorted(meta.partitions.values(), key=lambda p: p.id)
    return TopicFacts(
        name=meta.topic,
        partitions=len(partitions),
        replication_factor=max((len(p.replicas) for p in partitions), default=0),
        replicas={str(p.id): list(p.replicas) for p in partitions},
        state={str(p.id): {"leader": p.leader, "isr": list(p.isrs)} for p in partitions},
        under_replicated=[p.id for p in partitions if len(p.isrs) < len(p.replicas)],
    )


def config_values(entries: dict[str, Any] | None) -> dict[str, str | None]:
    """The key configs always, and every other one set away from its default; a sensitive value
    (a password in a topic config) is never recorded."""
    out: dict[str, str | None] = {}
    for name, entry in sorted((entries or {}).items()):
        source = getattr(entry.source, "value", entry.source)  # an int in AdminClient results
        explicit = not entry.is_default or source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        if name in KEY_CONFIGS or explicit:
            out[name] = None if entry.is_sensitive else entry.value
    return out


def subjects_for(topic: str, subjects: set[str], strategy: str) -> list[tuple[str, str]]:
    """(role, subject) pairs of a topic: `key` / `value`. topic-name: `<topic>-key`,
    `<topic>-value`; topic-record-name adds every `<topic>-<record name>` subject as a value
    (a topic may carry several record types); record-name subjects name no topic and are matched
    through sampled messages instead."""
    pairs = [
        (role, f"{topic}-{role}") for role in ("key", "value") if f"{topic}-{role}" in subjects
    ]
    if strategy == "topic-record-name":
        prefix = f"{topic}-"
        pairs += [
            ("value", s)
            for s in sorted(subjects)
            if s.startswith(prefix)
            and s not in (f"{topic}-key", f"{topic}-value")
            # the record name is a dotted Avro / Protobuf / JSON name, not another topic's suffix
            and "." in s[len(prefix) :]
        ]
    return pairs


def key_field(mapped: MappedSchema) -> ColumnMetadata:
    """The key schema as one top-level field, marked as the primary key."""
    return ColumnMetadata(
        name=KEY_FIELD,
        ordinal=1,
        native_type=mapped.native_type,
        data_type=mapped.data_type,
        nullable=False,
        is_primary_key=True,
        children=tuple(mapped.columns),
    )


def renumber(columns: Iterable[ColumnMetadata]) -> list[ColumnMetadata]:
    return [c.model_copy(update={"ordinal": i}) for i, c in enumerate(columns, start=1)]


def record_fields(schemas: list[MappedSchema]) -> list[ColumnMetadata]:
    """One value schema's fields; several record types' (topic-record-name) as one top-level
    field each, named by the record."""
    if len(schemas) == 1:
        return schemas[0].columns
    return renumber(
        ColumnMetadata(
            name=s.record_name or s.native_type,
            ordinal=1,
            native_type=s.native_type,
            data_type=s.data_type,
            children=tuple(s.columns),
        )
        for s in schemas
    )


def topic_table(
    cluster: str,
    facts: TopicFacts,
    configs: dict[str, Any] | None,
    groups: list[str],
    schemas: TopicSchemas,
) -> TableMetadata:
    columns: list[ColumnMetadata] = []
    values = [schemas.values[subject] for subject in sorted(schemas.values)]
    described: dict[str, Any] = {}
    if len(values) == 1:
        described["value_schema"] = values[0][1]
    elif values:
        described["value_schemas"] = [desc for _, desc in values]
    if values:
        columns = list(record_fields([mapped for mapped, _ in values]))
    elif schemas.inferred is not None:
        columns = list(schemas.inferred)
    if schemas.key is not None:
        columns.append(key_field(schemas.key))
    properties: dict[str, Any] = {
        "partition_count": facts.partitions,
        "replication_factor": facts.replication_factor,
        "replicas": facts.replicas,
        "partition_state": facts.state,
        "under_replicated_partitions": facts.under_replicated,
        "configs": config_values(configs),
        "consumer_groups": groups,
        **schemas.properties,
        **described,
    }
    return TableMetadata(
        database=cluster,
        name=facts.name,
        table_type=TableType.TOPIC,
        native_type="topic",
        columns=renumber(columns),
        properties=properties,
    )
