"""The Schema Registry fake against Confluent's documented API, and with the real client.

The shapes below are transcribed from Confluent's Schema Registry API reference
(docs.confluent.io, "Schema Registry API Reference": subjects, schemas, config; error codes 40401
subject not found, 40402 version not found, 40403 schema not found, 40408 subject compatibility
not configured, 50001 backend store error). Objects are closed: a field the reference does not
document is drift.
"""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from metadata_pipelines_tests.fakes.schema_registry_server import FakeSchemaRegistry

_REFERENCE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "subject": {"type": "string"},
        "version": {"type": "integer"},
    },
    "required": ["name", "subject", "version"],
    "additionalProperties": False,
}
_SCHEMA_TYPE = {"enum": ["JSON", "PROTOBUF"]}  # omitted for AVRO, the default
DOCUMENTED = {
    "subjects": {"type": "array", "items": {"type": "string"}},
    "versions": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    "version": {
        "type": "object",
        "properties": {
            "subject": {"type": "string"},
            "id": {"type": "integer"},
            "version": {"type": "integer"},
            "schemaType": _SCHEMA_TYPE,
            "schema": {"type": "string"},
            "references": {"type": "array", "items": _REFERENCE},
        },
        "required": ["subject", "id", "version", "schema"],
        "additionalProperties": False,
    },
    "schema_by_id": {
        "type": "object",
        "properties": {
            "schema": {"type": "string"},
            "schemaType": _SCHEMA_TYPE,
            "references": {"type": "array", "items": _REFERENCE},
        },
        "required": ["schema"],
        "additionalProperties": False,
    },
    "config": {
        "type": "object",
        "properties": {
            "compatibilityLevel": {
                "enum": [
                    "BACKWARD",
                    "BACKWARD_TRANSITIVE",
                    "FORWARD",
                    "FORWARD_TRANSITIVE",
                    "FULL",
                    "FULL_TRANSITIVE",
                    "NONE",
                ]
            }
        },
        "required": ["compatibilityLevel"],
        "additionalProperties": False,
    },
    "registered": {
        "type": "object",
        "properties": {"id": {"type": "integer"}},
        "required": ["id"],
        "additionalProperties": False,
    },
    "error": {
        "type": "object",
        "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
        "required": ["error_code", "message"],
        "additionalProperties": False,
    },
}


@pytest.fixture
def registry():
    with FakeSchemaRegistry() as fake:
        fake.register("base", {"type": "record", "name": "Base", "fields": []})
        fake.register(
            "orders-value",
            {"type": "record", "name": "O", "fields": [{"name": "b", "type": "Base"}]},
            references=[{"name": "Base", "subject": "base", "version": 1}],
        )
        fake.register("clicks-value", '{"type": "object"}', "JSON")
        yield fake


def _check(response: httpx.Response, status: int, shape: str) -> object:
    assert response.status_code == status
    body = response.json()
    jsonschema.validate(body, DOCUMENTED[shape])
    return body


def test_bodies_follow_the_documented_shapes(registry):
    with httpx.Client(base_url=registry.url) as http:
        assert _check(http.get("/subjects"), 200, "subjects") == [
            "base",
            "clicks-value",
            "orders-value",
        ]
        assert _check(http.get("/subjects/orders-value/versions"), 200, "versions") == [1]
        latest = _check(http.get("/subjects/orders-value/versions/latest"), 200, "version")
        assert "schemaType" not in latest and latest["references"][0]["subject"] == "base"
        clicks = _check(http.get("/subjects/clicks-value/versions/1"), 200, "version")
        assert clicks["schemaType"] == "JSON" and "references" not in clicks
        _check(http.get(f"/schemas/ids/{latest['id']}"), 200, "schema_by_id")
        _check(http.get("/config"), 200, "config")
        _check(
            http.post(
                "/subjects/new-value/versions",
                content=json.dumps({"schema": '"string"'}),
                headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
            ),
            200,
            "registered",
        )
        for path, status, code in [
            ("/subjects/nope/versions/latest", 404, 40401),
            ("/subjects/orders-value/versions/9", 404, 40402),
            ("/schemas/ids/999", 404, 40403),
            ("/config/orders-value", 404, 40408),
        ]:
            assert _check(http.get(path), status, "error")["error_code"] == code
        registry.fail_with_500 = True
        assert _check(http.get("/subjects"), 500, "error")["error_code"] == 50001


def test_the_real_client_reads_and_writes_it(registry):
    client = SchemaRegistryClient({"url": registry.url, "max.retries": 0})
    schema_id = client.register_schema(
        "payments-value",
        Schema('syntax = "proto3"; message P { string id = 1; }', "PROTOBUF"),
    )
    latest = client.get_latest_version("payments-value")
    assert (latest.schema_id, latest.version, latest.schema.schema_type) == (
        schema_id,
        1,
        "PROTOBUF",
    )
    orders = client.get_latest_version("orders-value")
    assert orders.schema.references == [SchemaReference("Base", "base", 1)]
    assert client.get_schema(orders.schema_id).schema_str == orders.schema.schema_str
    assert client.get_compatibility() == "BACKWARD"
    client.set_compatibility("orders-value", "FULL")
    assert client.get_compatibility("orders-value") == "FULL"
    with pytest.raises(SchemaRegistryError) as caught:
        client.get_latest_version("missing-value")
    assert (caught.value.http_status_code, caught.value.error_code) == (404, 40401)


def test_basic_auth_is_required_when_configured():
    with FakeSchemaRegistry(basic_auth=("u", "right")) as fake:
        fake.register("s", '"string"')
        good = SchemaRegistryClient({"url": fake.url, "basic.auth.user.info": "u:right"})
        assert good.get_subjects() == ["s"]
        bad = SchemaRegistryClient(
            {"url": fake.url, "basic.auth.user.info": "u:wrong", "max.retries": 0}
        )
        with pytest.raises(SchemaRegistryError) as caught:
            bad.get_subjects()
        assert (caught.value.http_status_code, caught.value.error_code) == (401, 40101)
