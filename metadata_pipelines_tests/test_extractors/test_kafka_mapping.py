"""Kafka connector pieces without a broker: schema mapping edge cases, topic facts and configs,
subject matching, config validation, and the classification of librdkafka's real error objects
for what Tansu cannot produce (ACL denials, leader elections, timeouts)."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigEntry, ConfigSource, PartitionMetadata, TopicMetadata
from confluent_kafka.schema_registry.error import SchemaRegistryError

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    PrivilegeError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
)
from metadata_pipelines.extractors.kafka import KafkaExtractor
from metadata_pipelines.extractors.kafka.broker import Sample, _add
from metadata_pipelines.extractors.kafka.classify import classify, registry_error
from metadata_pipelines.extractors.kafka.schemas import (
    Reference,
    UnreadableSchema,
    schema_fields,
)
from metadata_pipelines.extractors.kafka.topics import (
    config_values,
    record_fields,
    subjects_for,
    topic_facts,
)
from metadata_pipelines.models import DataType, TableMetadata
from metadata_pipelines_tests.test_extractors.kafka_support import (
    ADDRESS_AVRO,
    CONTACT_JSON,
    CUSTOMER_JSON,
    MONEY_PROTO,
    ORDER_AVRO,
    PAYMENT_PROTO,
)


def _paths(mapped) -> dict[str, str]:
    table = TableMetadata(database="c", name="t", columns=mapped.columns)
    return {path: column.native_type for path, _, _, column in table.iter_fields()}


def test_avro_reference_must_be_resolved():
    address = Reference("shop.common.Address", "AVRO", json.dumps(ADDRESS_AVRO))
    resolved = _paths(schema_fields(None, json.dumps(ORDER_AVRO), [address]))
    unresolved = _paths(schema_fields(None, json.dumps(ORDER_AVRO)))
    assert resolved["ship_to.city"] == "string"
    assert unresolved["ship_to"] == "shop.common.Address" and "ship_to.city" not in unresolved


def test_avro_recursive_record_stops():
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"]}, {"name": "v", "type": "int"}],
    }
    paths = _paths(schema_fields("AVRO", json.dumps(node)))
    assert paths == {"next": "Node", "v": "int"}


def test_protobuf_message_index_picks_the_message():
    money = Reference("shop/common/money.proto", "PROTOBUF", MONEY_PROTO)
    first = schema_fields("PROTOBUF", PAYMENT_PROTO, [money])
    attempt = schema_fields("PROTOBUF", PAYMENT_PROTO, [money], message_index=[0, 0])
    assert first.record_name == "shop.payments.Payment"
    assert attempt.record_name == "shop.payments.Payment.Attempt"
    assert _paths(attempt) == {
        "number": "int32",
        "outcome": "shop.payments.Payment.Attempt.Outcome",
        "outcome.ok": "bool",
        "outcome.reason": "string",
    }
    with pytest.raises(UnreadableSchema):
        schema_fields("PROTOBUF", PAYMENT_PROTO, [money], message_index=[3])


def test_unparsable_schemas_are_unreadable_not_crashes():
    with pytest.raises(UnreadableSchema):
        schema_fields("PROTOBUF", "message {")
    with pytest.raises(UnreadableSchema):
        schema_fields("AVRO", "{not json")
    with pytest.raises(UnreadableSchema):
        schema_fields("JSON", json.dumps({"$ref": "missing.json"}))
    with pytest.raises(UnreadableSchema):
        schema_fields("XML", "<a/>")


def test_json_schema_refs_local_and_referenced():
    contact = Reference("contact.json", "JSON", json.dumps(CONTACT_JSON))
    mapped = schema_fields("JSON", json.dumps(CUSTOMER_JSON), [contact])
    paths = _paths(mapped)
    assert paths["home.city"] == "string"
    assert paths["contacts[].kind"] == "enum"
    assert paths["tags"] == "array<string>"
    assert mapped.record_name == "Customer"


def test_scalar_key_schema_has_no_fields():
    mapped = schema_fields(None, '"string"')
    assert (mapped.native_type, mapped.data_type, mapped.columns) == (
        "string",
        DataType.STRING,
        [],
    )


def test_several_record_types_become_one_field_each():
    a = schema_fields(
        None,
        json.dumps({"type": "record", "name": "x.A", "fields": [{"name": "i", "type": "int"}]}),
    )
    b = schema_fields(
        None,
        json.dumps({"type": "record", "name": "x.B", "fields": [{"name": "s", "type": "string"}]}),
    )
    fields = record_fields([a, b])
    assert [(f.name, f.ordinal, [c.name for c in f.children]) for f in fields] == [
        ("x.A", 1, ["i"]),
        ("x.B", 2, ["s"]),
    ]


def test_subjects_for_each_naming_strategy():
    subjects = {"t-key", "t-value", "t-shop.Order", "t-eu-value", "shop.Order"}
    assert subjects_for("t", subjects, "topic-name") == [("key", "t-key"), ("value", "t-value")]
    assert subjects_for("t", subjects, "topic-record-name") == [
        ("key", "t-key"),
        ("value", "t-value"),
        ("value", "t-shop.Order"),
    ]
    assert subjects_for("missing", subjects, "topic-name") == []


def _partition(pid, leader, replicas, isrs):
    partition = PartitionMetadata()
    partition.id, partition.leader, partition.replicas, partition.isrs = pid, leader, replicas, isrs
    return partition


def test_topic_facts_flag_under_replicated_partitions():
    topic = TopicMetadata()
    topic.topic = "orders"
    topic.partitions = {
        0: _partition(0, 1, [1, 2, 3], [1, 2, 3]),
        1: _partition(1, 2, [2, 3, 1], [2]),
    }
    facts = topic_facts(topic)
    assert (facts.partitions, facts.replication_factor, facts.under_replicated) == (2, 3, [1])
    assert facts.state["1"] == {"leader": 2, "isr": [2]}


def test_configs_keep_key_ones_and_non_defaults_and_hide_sensitive_values():
    entries = {
        "retention.ms": ConfigEntry(
            "retention.ms", "604800000", ConfigSource.DEFAULT_CONFIG, is_default=True
        ),
        "segment.ms": ConfigEntry(
            "segment.ms", "3600000", ConfigSource.DEFAULT_CONFIG, is_default=True
        ),
        "flush.ms": ConfigEntry("flush.ms", "1000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        "sasl.jaas.config": ConfigEntry(
            "sasl.jaas.config", "pw", ConfigSource.DYNAMIC_TOPIC_CONFIG, is_sensitive=True
        ),
    }
    assert config_values(entries) == {
        "flush.ms": "1000",
        "retention.ms": "604800000",
        "sasl.jaas.config": None,
    }


@pytest.mark.parametrize(
    ("code", "expected", "retryable"),
    [
        (KafkaError._AUTHENTICATION, AuthenticationError, False),
        (KafkaError.SASL_AUTHENTICATION_FAILED, AuthenticationError, False),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, PrivilegeError, False),
        (KafkaError.CLUSTER_AUTHORIZATION_FAILED, PrivilegeError, False),
        (KafkaError.BROKER_NOT_AVAILABLE, SourceUnavailableError, True),
        (KafkaError.LEADER_NOT_AVAILABLE, SourceUnavailableError, True),
        (KafkaError.REQUEST_TIMED_OUT, SourceTimeoutError, True),
        (KafkaError._TIMED_OUT, SourceTimeoutError, True),
        (KafkaError._TRANSPORT, SourceUnavailableError, True),
        (KafkaError.THROTTLING_QUOTA_EXCEEDED, ThrottledError, True),
        (KafkaError._SSL, ConfigurationError, False),
    ],
)
def test_librdkafka_error_codes_are_classified(code, expected, retryable):
    error = classify(KafkaError(code), "reading")
    assert type(error) is expected and error.retryable is retryable


def test_a_topic_denied_by_acl_is_an_error_scoped_to_it():
    extractor = KafkaExtractor({"bootstrap_servers": "127.0.0.1:9"})
    denied = extractor._topic_metadata_error(
        "prod", "payroll", KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    )
    assert denied.scope == ("prod", "payroll") and denied.code == "missing_privilege"
    assert "DESCRIBE" in denied.message and not denied.retryable
    electing = extractor._topic_metadata_error(
        "prod", "orders", KafkaError(KafkaError.LEADER_NOT_AVAILABLE)
    )
    assert electing.scope == ("prod", "orders") and electing.code == "source_unavailable"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, 40101, AuthenticationError),
        (403, 40301, PrivilegeError),
        (500, 50001, SourceUnavailableError),
        (429, 42901, ThrottledError),
    ],
)
def test_registry_errors_are_classified(status, code, expected):
    assert type(registry_error(SchemaRegistryError(status, code, "m"), "reading")) is expected


def test_sampled_wire_format_and_json_are_told_apart():
    sample = Sample()
    _add(sample, b"\x00\x00\x00\x00\x07" + b"\x02\x02" + b"payload")  # protobuf, indexes [1]
    _add(sample, b'{"a": 1}')
    _add(sample, b"\xff\xfe binary")
    _add(sample, None)
    assert sample.messages == 4 and sample.schema_ids == {7: 1}
    assert sample.message_indexes[7] == [1]
    assert sample.json_records == [{"a": 1}] and sample.other == 2


@pytest.mark.parametrize(
    ("config", "credentials", "message"),
    [
        ({"bootstrap_servers": "http://b:9092"}, {}, "bootstrap_servers"),
        ({"bootstrap_servers": "b:9092", "security_protocol": "SASL_SSL"}, {}, "sasl_mechanism"),
        (
            {
                "bootstrap_servers": "b:9092",
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
            },
            {},
            "sasl_username",
        ),
        (
            {"bootstrap_servers": "b:9092", "schema_registry_url": "http://registry.example"},
            {},
            "https",
        ),
        (
            {"bootstrap_servers": "b:9092", "schema_registry_url": "https://u:p@r.example"},
            {},
            "credentials",
        ),
        (
            {
                "bootstrap_servers": "b:9092",
                "schema_registry_url": "https://r",
                "subject_naming_strategy": "record-name",
            },
            {},
            "sample_messages",
        ),
        ({"bootstrap_servers": "b:9092", "ssl_ca_pem": "-----BEGIN CERTIFICATE-----"}, {}, "SSL"),
        ({"bootstrap_servers": "b:9092"}, {"sasl_username": "u"}, "go together"),
    ],
)
def test_bad_config_names_the_field(config, credentials, message):
    with pytest.raises(ConfigurationError) as caught:
        KafkaExtractor(config, credentials)
    assert message in str(caught.value)


def test_credentials_never_echoed_in_config_errors():
    with pytest.raises(ConfigurationError) as caught:
        KafkaExtractor({"bootstrap_servers": "b:9092"}, {"ssl_key_pem": "Sup3r-Secret-Key-Text"})
    assert "Sup3r-Secret-Key-Text" not in str(caught.value)
