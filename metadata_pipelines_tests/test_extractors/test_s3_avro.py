"""Avro datasets: the schema from the object container header, against moto in server mode."""

from __future__ import annotations

import asyncio
import io
import json

import fastavro

from metadata_pipelines.extractors.s3 import S3Extractor, readers
from metadata_pipelines.models import DataType, ExtractionResult, ExtractionStatus, Severity
from metadata_pipelines_tests.test_extractors.s3_support import (
    ORDER_AVRO_SCHEMA,
    avro_bytes,
    bucket_name,
    put,
)


def extract(server, bucket, **config) -> ExtractionResult:
    extractor = S3Extractor(
        server.config(buckets=[bucket], **config), server.admin.as_credentials()
    )
    return asyncio.run(extractor.extract_metadata())


def warnings(result: ExtractionResult, code: str) -> list[str]:
    return [e.message for e in result.errors if e.severity is Severity.WARNING and e.code == code]


def test_avro_schema_is_read_from_the_header_with_nested_and_logical_types(s3_server):
    client = s3_server.client()
    bucket = bucket_name("avro")
    client.create_bucket(Bucket=bucket)
    put(client, bucket, {"orders/a.avro": avro_bytes(3), "orders/b.avro": avro_bytes(2, "deflate")})
    result = extract(s3_server, bucket)

    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert not warnings(result, "format_not_supported") and not warnings(result, "schema_conflict")
    (orders,) = result.tables
    assert orders.native_type == "avro" and orders.properties["file_schema_name"] == "shop.Order"
    assert orders.properties["file_codec"] in {"null", "deflate"}
    fields = {path: f for path, _, _, f in orders.iter_fields()}
    assert list(fields) == [
        "id",
        "customer",
        "customer.name",
        "customer.email",
        "lines",
        "lines[].sku",
        "lines[].price",
        "attrs",
        "attrs{}.key",
        "attrs{}.value",
        "billing",
        "billing.name",
        "billing.email",
        "status",
        "code",
        "day",
        "at",
        "ref",
        "amount",
    ]
    expected = {
        "id": ("long", DataType.INTEGER, False),
        "customer": ("record<name:string,email:string>", DataType.STRUCT, False),
        "customer.email": ("string", DataType.STRING, True),
        "lines": ("array<record<sku:string,price:decimal(10,2)>>", DataType.ARRAY, False),
        "lines[].price": ("decimal(10,2)", DataType.DECIMAL, False),
        "attrs": ("map<string,long>", DataType.MAP, False),
        "billing": ("record<name:string,email:string>", DataType.STRUCT, True),
        "status": ("enum<NEW,PAID>", DataType.STRING, False),
        "code": ("fixed(4)", DataType.BINARY, False),
        "day": ("date", DataType.DATE, False),
        "at": ("timestamp-micros", DataType.TIMESTAMP, False),
        "ref": ("uuid", DataType.STRING, False),
        "amount": ("union<int,string>", DataType.UNKNOWN, False),
    }
    for path, (native, data_type, nullable) in expected.items():
        field = fields[path]
        assert (field.native_type, field.data_type, field.nullable) == (native, data_type, nullable)
    assert fields["id"].comment == "order number"


def test_a_header_longer_than_the_first_get_is_read_with_a_second(s3_server):
    client = s3_server.client()
    bucket = bucket_name("avrolong")
    client.create_bucket(Bucket=bucket)
    schema = json.loads(json.dumps(ORDER_AVRO_SCHEMA))
    schema["fields"][0]["doc"] = "x" * 40_000  # the header now exceeds the first 16 KiB GET
    sink = io.BytesIO()
    fastavro.writer(sink, fastavro.parse_schema(schema), [])
    put(client, bucket, {"t/long.avro": sink.getvalue()})
    result = extract(s3_server, bucket)
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    (table,) = result.tables
    assert table.columns[0].comment == "x" * 40_000

    result = extract(s3_server, bucket, max_bytes_read_per_file=20_000)
    (table,) = result.tables
    assert table.columns == []
    assert "longer than max_bytes_read_per_file" in " ".join(warnings(result, "unreadable_file"))


def test_truncated_corrupt_and_foreign_avro_files_are_warnings(s3_server):
    client = s3_server.client()
    bucket = bucket_name("avrobad")
    client.create_bucket(Bucket=bucket)
    good = avro_bytes(1)
    put(
        client,
        bucket,
        {
            "t/a-good.avro": good,
            "t/b-truncated.avro": good[:60],
            "t/c-magic-only.avro": b"Obj\x01",
            "t/d-not-avro.avro": b"PAR1 certainly not avro",
            "t/e-empty.avro": b"",
            "t/f-corrupt.avro": b"Obj\x01" + b"\xff" * 40,
            "bad/only.avro": good[:30],
        },
    )
    result = extract(s3_server, bucket, max_files_sampled_per_dataset=10)
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    tables = {t.name: t for t in result.tables}
    assert [c.name for c in tables["t/"].columns][:2] == ["id", "customer"]
    skipped = " ".join(warnings(result, "unreadable_file"))
    for name in ("b-truncated", "c-magic-only", "d-not-avro", "e-empty", "f-corrupt", "bad/only"):
        assert f"{name}.avro" in skipped
    assert "no Avro magic" in skipped
    assert tables["bad/"].columns == []
    assert warnings(result, "no_schema")


def test_named_references_resolve_in_their_namespace_and_recursion_stops():
    schema = {
        "type": "record",
        "name": "Node",
        "namespace": "tree",
        "fields": [
            {"name": "label", "type": "string"},
            {"name": "next", "type": ["null", "Node"], "default": None},
            {"name": "children", "type": {"type": "array", "items": "tree.Node"}},
        ],
    }
    sink = io.BytesIO()
    fastavro.writer(sink, fastavro.parse_schema(schema), [])
    data = sink.getvalue()

    def fetch(key: str, start: int, end: int) -> bytes:
        return data[start : end + 1]

    read = readers.read_avro(fetch, "k", len(data), 1024 * 1024)
    assert read.properties["schema_name"] == "tree.Node"
    label, following, children = read.columns
    assert label.data_type is DataType.STRING
    assert (following.native_type, following.nullable, following.children) == (
        "tree.Node",
        True,
        (),
    )
    assert (children.native_type, children.data_type) == ("array<tree.Node>", DataType.ARRAY)
