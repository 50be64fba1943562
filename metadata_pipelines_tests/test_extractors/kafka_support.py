"""Schemas and topics the Kafka tests register and create: Avro with nested records, arrays, maps,
unions and a reference; Protobuf with nested messages, a map, a oneof and an imported type; JSON
Schema with local and cross-schema `$ref`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from metadata_pipelines_tests.fakes.schema_registry_server import FakeSchemaRegistry

ADDRESS_AVRO: dict[str, Any] = {
    "type": "record",
    "name": "Address",
    "namespace": "shop.common",
    "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": ["null", "string"]}],
}

ORDER_AVRO: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "doc": "one order",
    "fields": [
        {"name": "id", "type": "long", "doc": "order number"},
        {"name": "ship_to", "type": "shop.common.Address"},
        {
            "name": "lines",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Line",
                    "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}],
                },
            },
        },
        {"name": "attributes", "type": {"type": "map", "values": "long"}},
        {"name": "coupon", "type": ["null", "string"], "default": None},
        {"name": "payment", "type": ["null", "string", "long"]},
        {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}

ORDER_AVRO_V2 = {
    **ORDER_AVRO,
    "fields": [
        *[
            {**f, "type": "string"} if f["name"] == "id" else f  # retyped: long -> string
            for f in ORDER_AVRO["fields"]
        ],
        {"name": "channel", "type": ["null", "string"], "default": None},  # added
    ],
}

MONEY_PROTO = """syntax = "proto3";
package shop.common;
message Money { string currency = 1; int64 units = 2; }
"""

PAYMENT_PROTO = """syntax = "proto3";
package shop.payments;
import "shop/common/money.proto";
import "google/protobuf/timestamp.proto";

message Payment {
  string id = 1;
  shop.common.Money amount = 2;
  repeated Attempt attempts = 3;
  map<string, string> labels = 4;
  oneof method { string card = 5; string iban = 6; }
  Status status = 7;
  google.protobuf.Timestamp at = 8;

  message Attempt { int32 number = 1; Outcome outcome = 2;
    message Outcome { bool ok = 1; string reason = 2; } }
  enum Status { PENDING = 0; DONE = 1; }
}
"""

CUSTOMER_JSON: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Customer",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": ["string", "null"], "format": "email"},
        "home": {"$ref": "#/definitions/Place"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "contacts": {"type": "array", "items": {"$ref": "contact.json"}},
        "since": {"type": "string", "format": "date-time"},
    },
    "required": ["id"],
    "definitions": {
        "Place": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }
    },
}

CONTACT_JSON: dict[str, Any] = {
    "type": "object",
    "properties": {"kind": {"enum": ["phone", "mail"]}, "value": {"type": "string"}},
}


def prefix(name: str) -> str:
    """A topic prefix of its own for each test: the session's broker is shared."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def register_shop(registry: FakeSchemaRegistry, topics: dict[str, str]) -> None:
    """orders: Avro value (referencing Address) and a string key; payments: Protobuf value;
    customers: JSON Schema value."""
    registry.register("shop.common.Address", ADDRESS_AVRO)
    registry.register(
        f"{topics['orders']}-value",
        ORDER_AVRO,
        references=[
            {"name": "shop.common.Address", "subject": "shop.common.Address", "version": 1}
        ],
    )
    registry.register(f"{topics['orders']}-key", '"string"')
    registry.register("shop/common/money.proto", MONEY_PROTO, "PROTOBUF")
    registry.register(
        f"{topics['payments']}-value",
        PAYMENT_PROTO,
        "PROTOBUF",
        references=[
            {"name": "shop/common/money.proto", "subject": "shop/common/money.proto", "version": 1}
        ],
    )
    registry.register("contact.json", CONTACT_JSON, "JSON")
    registry.register(
        f"{topics['customers']}-value",
        CUSTOMER_JSON,
        "JSON",
        references=[{"name": "contact.json", "subject": "contact.json", "version": 1}],
    )
    registry.set_compatibility(f"{topics['orders']}-value", "FULL_TRANSITIVE")


def json_messages(count: int) -> list[bytes]:
    return [
        json.dumps(
            {"user": f"u{i}", "n": i, "geo": {"lat": 1.5}} | ({"x": True} if i % 2 else {})
        ).encode()
        for i in range(count)
    ]
