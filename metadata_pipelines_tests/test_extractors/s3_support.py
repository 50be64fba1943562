"""Files the S3 tests write into moto: Parquet with nested types, CSV, JSON Lines, a Delta log."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ORDER_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field(
            "customer",
            pa.struct([("name", pa.string()), ("address", pa.struct([("city", pa.string())]))]),
        ),
        pa.field("items", pa.list_(pa.struct([("sku", pa.string()), ("qty", pa.int32())]))),
        pa.field("attributes", pa.map_(pa.string(), pa.int64())),
        pa.field("total", pa.decimal128(10, 2)),
    ]
)


def parquet_bytes(rows: int = 3, schema: pa.Schema = ORDER_SCHEMA) -> bytes:
    data: dict[str, list[Any]] = {}
    for field in schema:
        if field.name == "id":
            data["id"] = list(range(rows))
        elif field.name == "customer":
            data["customer"] = [{"name": f"c{i}", "address": {"city": "Oslo"}} for i in range(rows)]
        elif field.name == "items":
            data["items"] = [[{"sku": "a", "qty": 1}] for _ in range(rows)]
        elif field.name == "attributes":
            data["attributes"] = [[("k", i)] for i in range(rows)]
        else:
            data[field.name] = [None] * rows
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(data, schema=schema), sink)
    return sink.getvalue()


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def delta_commit(schema_fields: list[dict[str, Any]], partition_columns: list[str]) -> bytes:
    actions = [
        {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
        {
            "metaData": {
                "id": str(uuid.uuid4()),
                "format": {"provider": "parquet", "options": {}},
                "schemaString": json.dumps({"type": "struct", "fields": schema_fields}),
                "partitionColumns": partition_columns,
                "configuration": {},
            }
        },
    ]
    return "".join(json.dumps(a) + "\n" for a in actions).encode()


def bucket_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def put(client: Any, bucket: str, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
