"""The Kafka connector against Tansu (a real Kafka-protocol broker) and the Schema Registry fake,
read by confluent-kafka's own AdminClient, consumer and SchemaRegistryClient."""

from __future__ import annotations

import asyncio
import io

import fastavro
import pytest
from confluent_kafka.admin import NewTopic

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.extractors.kafka import KafkaExtractor
from metadata_pipelines.models import ContainerType, ExtractionStatus, Severity, TableType
from metadata_pipelines_tests.fakes.schema_registry_server import FakeSchemaRegistry
from metadata_pipelines_tests.support.kafka_broker import tansu
from metadata_pipelines_tests.support.local_server import free_port, port_open, running
from metadata_pipelines_tests.test_extractors.kafka_support import (
    MONEY_PROTO,
    PAYMENT_PROTO,
    json_messages,
    prefix,
    register_shop,
)


@pytest.fixture
def registry():
    with FakeSchemaRegistry() as fake:
        yield fake


@pytest.fixture(scope="module")
def shop(kafka_broker):
    """Topics of one shop: Avro, Protobuf, JSON Schema, a schema-less JSON topic, an internal-
    looking one, and a consumer group reading orders."""
    p = prefix("shop")
    topics = {
        name: f"{p}.{name}" for name in ("orders", "payments", "customers", "clicks", "empty")
    }
    kafka_broker.create_topics(
        [
            NewTopic(
                topics["orders"],
                3,
                1,
                config={"cleanup.policy": "compact", "retention.ms": "604800000"},
            ),
            *(NewTopic(topics[n], 1, 1) for n in ("payments", "customers", "clicks", "empty")),
            NewTopic(f"_{p}-internal", 1, 1),
        ]
    )
    kafka_broker.produce(topics["clicks"], json_messages(6))
    kafka_broker.commit_offsets(f"{p}-billing", topics["orders"])
    return p, topics


def _extract(config, credentials=None):
    extractor = KafkaExtractor(config, credentials)
    return extractor, asyncio.run(extractor.extract_metadata())


def _fields(table):
    return {path: column for path, _, _, column in table.iter_fields()}


def test_cluster_topics_configs_groups_and_registry_schemas(kafka_broker, registry, shop):
    p, topics = shop
    register_shop(registry, topics)
    extractor, result = _extract(
        kafka_broker.config(
            cluster_name="prod",
            include_topics=[f"_?{p}.*"],
            schema_registry_url=registry.url,
            sample_messages=5,
        )
    )
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    [cluster] = result.databases
    assert (cluster.name, cluster.container_type) == ("prod", ContainerType.CLUSTER)
    assert cluster.properties["broker_count"] == 1
    assert cluster.properties["cluster_id"]
    tables = {t.name: t for t in result.tables}
    assert set(tables) == set(topics.values())  # the internal topic is left out
    orders = tables[topics["orders"]]
    assert orders.table_type is TableType.TOPIC
    assert orders.properties["partition_count"] == 3
    assert orders.properties["replication_factor"] == 1
    assert orders.properties["under_replicated_partitions"] == []
    assert orders.properties["configs"]["cleanup.policy"] == "compact"
    assert orders.properties["configs"]["retention.ms"] == "604800000"
    assert orders.properties["consumer_groups"] == [f"{p}-billing"]
    assert orders.properties["value_schema"] | {"schema_id": 0} == {
        "subject": f"{topics['orders']}-value",
        "version": 1,
        "schema_id": 0,
        "schema_type": "AVRO",
        "compatibility": "FULL_TRANSITIVE",
        "record_name": "shop.Order",
        "references": [
            {"name": "shop.common.Address", "subject": "shop.common.Address", "version": 1}
        ],
    }
    assert orders.properties["key_schema"]["compatibility"] == "BACKWARD"  # the global level

    fields = _fields(orders)
    assert fields["ship_to.city"].native_type == "string"  # from the referenced schema
    assert fields["ship_to.zip"].nullable
    assert fields["lines"].repeated and fields["lines[].sku"].native_type == "string"
    assert fields["attributes{}.value"].native_type == "long"
    assert fields["coupon"].nullable and fields["coupon"].native_type == "string"
    assert fields["payment"].native_type == "union<null,string,long>"
    assert fields["placed_at"].data_type == "timestamp"
    assert fields['"(key)"'].is_primary_key and fields['"(key)"'].native_type == "string"

    payments = _fields(tables[topics["payments"]])
    assert payments["amount.currency"].native_type == "string"  # imported from money.proto
    assert payments["attempts"].repeated
    assert payments["attempts[].outcome.reason"].native_type == "string"
    assert payments["labels{}.value"].native_type == "string"
    assert payments["card"].properties["oneof"] == "method"
    assert payments["status"].native_type == "enum shop.payments.Payment.Status"
    assert payments["at"].data_type == "timestamp"

    customers = _fields(tables[topics["customers"]])
    assert customers["home.city"].nullable is False  # required in the $ref'd definition
    assert customers["contacts[].kind"].data_type == "enum"  # from the referenced contact.json
    assert customers["since"].data_type == "timestamp"
    assert customers["id"].nullable is False and customers["email"].nullable

    clicks = tables[topics["clicks"]]
    assert clicks.properties["value_schema"]["source"] == "sampled_json"
    assert clicks.properties["value_schema"]["sample_size"] == 5
    clicked = _fields(clicks)
    assert clicked["geo.lat"].data_type == "float"
    assert clicked["user"].inference.sample_size == 5
    assert 0 < clicked["x"].inference.presence < 1
    assert _fields(tables[topics["empty"]]) == {}

    # Bounded requests: one Metadata, one DescribeConfigs batch, subjects listed once, and per
    # registered subject its latest version and compatibility (references read once each).
    assert extractor.requests["broker.metadata"] == 1
    assert extractor.requests["broker.describe_configs"] == 1
    assert extractor.requests["broker.sample_fetch"] == 1
    assert extractor.requests["registry.subjects"] == 1 + 4 + 3  # list, 4 latest, 3 references
    assert extractor.requests["registry.config"] == 4 + 1  # 4 subjects, the global level once


def test_five_hundred_topics_in_one_metadata_and_one_config_batch(kafka_broker, registry):
    p = prefix("many")
    names = [f"{p}-{i:03d}" for i in range(500)]
    kafka_broker.create_topics([NewTopic(n, 1, 1) for n in names])
    registry.register(f"{names[7]}-value", {"type": "record", "name": "R", "fields": []})
    extractor, result = _extract(
        kafka_broker.config(include_topics=[f"{p}-.*"], schema_registry_url=registry.url)
    )
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert sorted(t.name for t in result.tables) == names
    assert extractor.requests["broker.metadata"] == 1
    assert extractor.requests["broker.describe_configs"] == 1
    # No registry call for the 499 topics the subject list says have no schema.
    assert extractor.requests["registry.subjects"] == 2
    assert registry.requests["subjects"] == 2


def test_registry_returning_500_keeps_topics_and_is_partial(kafka_broker, registry, shop):
    p, topics = shop
    register_shop(registry, topics)
    registry.fail_with_500 = True
    _, result = _extract(
        kafka_broker.config(
            include_topics=[f"{p}.*"], schema_registry_url=registry.url, registry_max_retries=0
        )
    )
    assert result.status is ExtractionStatus.PARTIAL
    assert {t.name for t in result.tables} == set(topics.values())
    assert all(not t.columns for t in result.tables)
    scoped = {e.scope[1]: e for e in result.errors}
    assert set(scoped) == set(topics.values())  # each topic's stored fields are protected
    error = scoped[topics["orders"]]
    assert error.severity is Severity.ERROR and error.retryable
    assert error.code == "schema_registry_unavailable" and "50001" in error.message


def test_wrong_sasl_password_is_a_permanent_authentication_error():
    """Tansu with --authentication rejects the SCRAM login; the password never shows."""
    port = free_port()
    password = "Not-the-Right-Password-42"
    with running(tansu(port, authentication=True)):
        extractor = KafkaExtractor(
            {
                "bootstrap_servers": f"127.0.0.1:{port}",
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "request_timeout_seconds": 5,
            },
            {"sasl_username": "reader", "sasl_password": password},
        )
        with pytest.raises(AuthenticationError) as caught:
            asyncio.run(extractor.check_connection())
        ok, message = asyncio.run(extractor.test_connection())
    assert not caught.value.retryable
    assert "sasl_password" in str(caught.value) and password not in str(caught.value)
    assert not ok and password not in message


def test_unreachable_brokers_are_transient():
    port = free_port()
    assert not port_open(port)
    extractor = KafkaExtractor(
        {"bootstrap_servers": f"127.0.0.1:{port}", "request_timeout_seconds": 2}
    )
    with pytest.raises((SourceUnavailableError, SourceTimeoutError)) as caught:
        asyncio.run(extractor.check_connection())
    assert caught.value.retryable


def test_factory_knows_kafka():
    assert MetadataExtractorFactory().extractor_class("kafka") is KafkaExtractor


def test_wrong_registry_password_fails_the_sync_without_showing_it(kafka_broker):
    password = "Registry-Wrong-Canary-77"
    with FakeSchemaRegistry(basic_auth=("catalog", "the-right-one")) as fake:
        extractor = KafkaExtractor(
            kafka_broker.config(schema_registry_url=fake.url, include_topics=["none"]),
            {"schema_registry_username": "catalog", "schema_registry_password": password},
        )
        with pytest.raises(AuthenticationError) as caught:
            asyncio.run(extractor.extract_metadata())
        ok, message = asyncio.run(extractor.test_connection())
    assert "schema_registry_password" in str(caught.value) and password not in str(caught.value)
    assert not ok and password not in message


def _wire(schema_id: int, payload: bytes, indexes: bytes = b"") -> bytes:
    """Confluent's wire format: magic byte 0, the 4-byte schema id, [message indexes,] payload."""
    return b"\x00" + schema_id.to_bytes(4, "big") + indexes + payload


def test_record_name_subjects_are_matched_through_sampled_schema_ids(kafka_broker, registry):
    """record-name subjects name no topic: the schema ids in sampled messages find them, Avro and
    Protobuf (with the wire format's message index) alike."""
    p = prefix("wire")
    clicks, payments = f"{p}.clicks", f"{p}.payments"
    kafka_broker.create_topics([NewTopic(clicks, 1, 1), NewTopic(payments, 1, 1)])
    click = {
        "type": "record",
        "name": "Click",
        "namespace": "web",
        "fields": [{"name": "url", "type": "string"}, {"name": "ms", "type": "long"}],
    }
    click_id = registry.register("web.Click", click)
    payload = io.BytesIO()
    fastavro.schemaless_writer(payload, fastavro.parse_schema(click), {"url": "/", "ms": 3})
    kafka_broker.produce(clicks, [_wire(click_id, payload.getvalue())] * 3 + [b'{"not": "wire"}'])
    money = registry.register("shop/common/money.proto", MONEY_PROTO, "PROTOBUF")
    assert money
    payment_id = registry.register(
        "shop.payments.Payment",
        PAYMENT_PROTO,
        "PROTOBUF",
        references=[
            {"name": "shop/common/money.proto", "subject": "shop/common/money.proto", "version": 1}
        ],
    )
    # Message index [0, 0]: the first message's first nested message (Payment.Attempt).
    kafka_broker.produce(payments, [_wire(payment_id, b"\x08\x01", indexes=b"\x04\x00\x00")] * 2)
    _, result = _extract(
        kafka_broker.config(
            include_topics=[f"{p}.*"],
            schema_registry_url=registry.url,
            subject_naming_strategy="record-name",
            sample_messages=10,
        )
    )
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    tables = {t.name: t for t in result.tables}
    described = tables[clicks].properties["value_schema"]
    assert described["source"] == "sampled_schema_id"
    assert (described["schema_id"], described["record_name"]) == (click_id, "web.Click")
    assert described["sample_size"] == 4 and described["schema_ids_seen"] == {click_id: 3}
    url = _fields(tables[clicks])["url"]
    assert url.inference.declared and url.inference.presence == 0.75
    attempt = _fields(tables[payments])
    assert tables[payments].properties["value_schema"]["record_name"] == (
        "shop.payments.Payment.Attempt"
    )
    assert attempt["outcome.reason"].native_type == "string"


def test_topic_record_name_gives_each_record_type_a_field(kafka_broker, registry):
    p = prefix("multi")
    topic = f"{p}.events"
    kafka_broker.create_topics([NewTopic(topic, 1, 1)])
    for name in ("Created", "Shipped"):
        registry.register(
            f"{topic}-shop.{name}",
            {
                "type": "record",
                "name": name,
                "namespace": "shop",
                "fields": [{"name": "at", "type": "long"}],
            },
        )
    _, result = _extract(
        kafka_broker.config(
            include_topics=[topic],
            schema_registry_url=registry.url,
            subject_naming_strategy="topic-record-name",
        )
    )
    [table] = result.tables
    assert set(_fields(table)) == {
        '"shop.Created"',
        '"shop.Created".at',
        '"shop.Shipped"',
        '"shop.Shipped".at',
    }
    assert [s["subject"] for s in table.properties["value_schemas"]] == [
        f"{topic}-shop.Created",
        f"{topic}-shop.Shipped",
    ]
