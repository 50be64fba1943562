"""Data for the MongoDB connector's tests, loaded with real pymongo into SecantusDB."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from bson import Binary, Decimal128, Int64, ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient

from metadata_pipelines.models import ColumnMetadata, TableMetadata, iter_fields

ORDERS = 100
#: Every 50th order has `coupon`: a field in 2% of the documents.
RARE_EVERY = 50
PEOPLE_SCHEMA = {
    "bsonType": "object",
    "required": ["name"],
    "properties": {
        "name": {"bsonType": "string", "description": "Full name"},
        "age": {"bsonType": ["int", "long"]},
        "nickname": {"bsonType": "string", "description": "Never set yet"},
        "address": {"bsonType": "object", "properties": {"city": {"bsonType": "string"}}},
    },
}


def database_name(prefix: str) -> str:
    return f"mp_{prefix}_{uuid.uuid4().hex[:8]}"


def order(i: int) -> dict[str, Any]:
    document: dict[str, Any] = {
        "number": i,
        "total": Decimal128(f"{i}.50"),
        "placed_at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        + datetime.timedelta(hours=i),
        "customer_id": ObjectId(),
        "receipt": Binary(b"\x00\x01" * 4),
        "views": Int64(2**40 + i),
        # Polymorphic: a string in half the documents, an int in the other half.
        "code": f"C{i}" if i % 2 else i,
        "shipping": {"address": {"geo": {"cell": {"id": f"cell-{i}", "level": i % 7}}}},
        "items": [{"sku": f"S{i}", "qty": 1}, {"sku": f"T{i}", "qty": 2, "gift": True}],
        "tags": ["a", "b"],
        "loc": {"type": "Point", "coordinates": [2.35, 48.85]},
    }
    if i % RARE_EVERY == 0:
        document["coupon"] = "WELCOME"
    return document


def load_shop(client: MongoClient, name: str) -> None:
    """orders (nested, polymorphic, rare, BSON types, indexes), a view, a validated, a capped, a
    time-series and an empty collection."""
    db = client[name]
    db.orders.insert_many([order(i) for i in range(ORDERS)])
    db.orders.create_index(
        [("customer_id", ASCENDING), ("placed_at", DESCENDING)], name="by_customer"
    )
    db.orders.create_index("placed_at", expireAfterSeconds=86400 * 365, name="ttl")
    db.orders.create_index(
        "coupon", partialFilterExpression={"coupon": {"$exists": True}}, name="with_coupon"
    )
    db.orders.create_index([("loc", "2dsphere")], name="geo")
    db.orders.create_index([("shipping.$**", 1)], name="shipping_wildcard")
    db.orders.create_index("number", unique=True, sparse=True, name="number_unique")
    db.create_collection(
        "big_orders", viewOn="orders", pipeline=[{"$match": {"number": {"$gte": 50}}}]
    )
    db.create_collection(
        "people",
        validator={"$jsonSchema": PEOPLE_SCHEMA},
        validationLevel="moderate",
        validationAction="warn",
    )
    db.people.insert_many(
        [{"name": "Ada", "age": 36, "address": {"city": "London"}}, {"name": "Alan", "age": 41}]
    )
    db.create_collection("events", capped=True, size=1 << 20, max=1000)
    db.events.insert_one({"kind": "boot"})
    db.create_collection(
        "metrics", timeseries={"timeField": "at", "metaField": "host", "granularity": "minutes"}
    )
    db.metrics.insert_one(
        {
            "at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            "host": {"name": "h1"},
            "cpu": 0.5,
        }
    )
    db.create_collection("empty")


def fields(table: TableMetadata) -> dict[str, ColumnMetadata]:
    return {path: column for path, _, _, column in iter_fields(table.columns)}


def nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {"leaf": 1}
    for level in range(depth):
        document = {f"l{level}": document}
    return document
