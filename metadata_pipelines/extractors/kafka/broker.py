"""The cluster side of a sync: confluent-kafka's AdminClient and a sampling consumer, with every
request counted.

Requests per sync: one Metadata request (all topics, partitions, leaders, replicas, ISR), one
DescribeCluster, one DescribeConfigs per `describe_configs_batch_size` topics, one ListGroups and one
OffsetFetch per consumer group (librdkafka takes one group per OffsetFetch), run at most
`max_concurrent_requests` at a time. librdkafka calls block, so they run in worker threads.

librdkafka reports a rejected login through the error callback and then retries until the request
times out; `BrokerClient` keeps the first such error so a timed-out request after a failed login is
reported as the authentication failure it is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ClusterMetadata, ConfigResource, ResourceType

from metadata_pipelines.extractors.errors import ExtractorError
from metadata_pipelines.extractors.kafka.classify import classify

#: librdkafka's own log lines (failed connections, rejected logins) go to logging, not stderr.
_LIBRDKAFKA = logging.getLogger("metadata_pipelines.extractors.kafka.librdkafka")
#: librdkafka's logical offset "N messages before the end" (RD_KAFKA_OFFSET_TAIL_BASE).
_OFFSET_TAIL_BASE = -2000


@dataclass
class GroupOffsets:
    group_id: str
    state: str
    topics: set[str] = field(default_factory=set)


@dataclass
class Sample:
    """What the sampled messages of one topic held."""

    messages: int = 0
    schema_ids: Counter[int] = field(default_factory=Counter)
    message_indexes: dict[int, list[int]] = field(default_factory=dict)
    json_records: list[dict[str, Any]] = field(default_factory=list)
    other: int = 0


class BrokerClient:
    """AdminClient calls as coroutines, counted in `requests` by kind."""

    def __init__(self, settings: dict[str, Any], timeout: float, concurrency: int) -> None:
        self._settings = settings
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self.requests: Counter[str] = Counter()
        self._login_error: KafkaError | None = None
        self._lock = threading.Lock()
        self._admin = AdminClient({**settings, "error_cb": self._on_error, "logger": _LIBRDKAFKA})

    def _on_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            with self._lock:
                self._login_error = self._login_error or error

    def failure(self, error: BaseException, what: str) -> ExtractorError:
        """The classified error, preferring a rejected login seen meanwhile over its timeout."""
        self._admin.poll(0)  # serves the error callbacks queued meanwhile
        with self._lock:
            login = self._login_error
        return classify(login if login is not None else error, what)

    async def _call(
        self, kind: str | None, what: str, function: Any, *args: Any, **kwargs: Any
    ) -> Any:
        async with self._limit:
            if kind is not None:
                self.requests[kind] += 1
            try:
                return await asyncio.to_thread(function, *args, **kwargs)
            except KafkaException as error:
                raise self.failure(error, what) from None

    async def metadata(self) -> ClusterMetadata:
        """All topics in one Metadata request. Asked in short slices of the timeout, so a login
        the brokers reject (which librdkafka retries silently until the timeout) fails at once."""
        self.requests["metadata"] += 1
        deadline = time.monotonic() + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return await self._call(
                    None,
                    "reading cluster metadata",
                    self._admin.list_topics,
                    timeout=max(0.1, min(1.0, remaining)),
                )
            except ExtractorError as error:
                if error.code == "authentication_failed" or remaining <= 1.0:
                    raise

    async def describe_cluster(self) -> Any:
        def run() -> Any:
            return self._admin.describe_cluster(request_timeout=self._timeout).result()

        return await self._call("describe_cluster", "describing the cluster", run)

    async def describe_configs(
        self, topics: list[str]
    ) -> dict[str, dict[str, Any] | ExtractorError]:
        """Each topic's config entries, or the classified error of that topic alone."""

        def run() -> dict[str, dict[str, Any] | ExtractorError]:
            resources = [ConfigResource(ResourceType.TOPIC, topic) for topic in topics]
            futures = self._admin.describe_configs(resources, request_timeout=self._timeout)
            out: dict[str, dict[str, Any] | ExtractorError] = {}
            for resource, future in futures.items():
                try:
                    out[resource.name] = future.result()
                except KafkaException as error:
                    out[resource.name] = self.failure(
                        error, f"describing configs of {resource.name}"
                    )
            return out

        return await self._call("describe_configs", "describing topic configs", run)

    async def consumer_groups(self) -> list[GroupOffsets]:
        """Every consumer group with the topics it has committed offsets for."""

        def listing() -> Any:
            return self._admin.list_consumer_groups(request_timeout=self._timeout).result()

        listed = await self._call("list_groups", "listing consumer groups", listing)
        groups = [
            GroupOffsets(g.group_id, getattr(g.state, "name", str(g.state)).lower())
            for g in listed.valid
        ]

        async def offsets(group: GroupOffsets) -> None:
            def run() -> Any:
                futures = self._admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group.group_id)], request_timeout=self._timeout
                )
                return next(iter(futures.values())).result()

            result = await self._call("offset_fetch", f"reading offsets of {group.group_id}", run)
            group.topics = {tp.topic for tp in result.topic_partitions or () if tp.offset >= 0}

        await asyncio.gather(*(offsets(group) for group in groups))
        return groups

    async def sample(
        self, partitions: dict[str, int], messages: int, timeout: float
    ) -> dict[str, Sample]:
        """Up to `messages` of the newest messages of each topic (`partitions`: topic -> count),
        read by one consumer assigned to every partition, never committing (it joins no group)."""
        self.requests["sample_fetch"] += 1
        return await asyncio.to_thread(self._sample, partitions, messages, timeout)

    def _sample(
        self, partitions: dict[str, int], messages: int, timeout: float
    ) -> dict[str, Sample]:
        consumer = Consumer(
            {
                **self._settings,
                "group.id": "metadata-pipelines-sampler",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "error_cb": self._on_error,
                "logger": _LIBRDKAFKA,
            }
        )
        samples = {topic: Sample() for topic in partitions}
        try:
            assignment = []
            for topic, count in partitions.items():
                per_partition = max(1, -(-messages // max(count, 1)))
                assignment += [
                    TopicPartition(topic, p, _OFFSET_TAIL_BASE - per_partition)
                    for p in range(count)
                ]
            if not assignment:
                return samples
            consumer.assign(assignment)
            open_partitions = {(tp.topic, tp.partition) for tp in assignment}
            deadline = time.monotonic() + timeout
            while open_partitions and time.monotonic() < deadline:
                for message in consumer.consume(500, 0.5):
                    key = (message.topic(), message.partition())
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            open_partitions.discard(key)
                            continue
                        raise self.failure(KafkaException(error), f"sampling {message.topic()}")
                    sample = samples[message.topic()]
                    if sample.messages >= messages:
                        open_partitions.discard(key)
                        continue
                    _add(sample, message.value())
                full = {t for t, s in samples.items() if s.messages >= messages}
                open_partitions = {k for k in open_partitions if k[0] not in full}
        finally:
            consumer.close()
        return samples


def _add(sample: Sample, value: bytes | None) -> None:
    sample.messages += 1
    if value is None:
        sample.other += 1
        return
    if len(value) >= 5 and value[0] == 0:  # Confluent wire format: magic 0, 4-byte schema id
        schema_id = int.from_bytes(value[1:5], "big")
        sample.schema_ids[schema_id] += 1
        sample.message_indexes.setdefault(schema_id, _message_index(value[5:]))
        return
    try:
        record = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        sample.other += 1
        return
    if isinstance(record, dict):
        sample.json_records.append(record)
    else:
        sample.other += 1


def _message_index(payload: bytes) -> list[int]:
    """The Protobuf wire format's message indexes (zig-zag varints: a count, then the indexes;
    a single 0 means the first message). Meaningless, and unused, for Avro and JSON payloads."""
    values: list[int] = []
    position = 0

    def varint() -> int:
        nonlocal position
        shift = result = 0
        while position < len(payload):
            byte = payload[position]
            position += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7
        raise ValueError("truncated varint")

    try:
        count = varint()
        if count <= 0 or count > 16:
            return []
        values = [varint() for _ in range(count)]
    except ValueError:
        return []
    return values


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
