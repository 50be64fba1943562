"""The S3 connector against moto in server mode (IAM authentication on), with files the tests write."""

from __future__ import annotations

import asyncio
import gzip
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from metadata_pipelines.extractors.errors import AuthenticationError, SourceUnavailableError
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.extractors.s3 import S3Extractor
from metadata_pipelines.models import (
    ContainerType,
    DataType,
    ExtractionResult,
    ExtractionStatus,
    Severity,
    TableType,
)
from metadata_pipelines_tests.support.local_server import free_port
from metadata_pipelines_tests.test_extractors.s3_support import (
    bucket_name,
    delta_commit,
    jsonl_bytes,
    parquet_bytes,
    put,
)


def extract(server, buckets, keys=None, **config) -> ExtractionResult:
    extractor = S3Extractor(
        server.config(buckets=buckets, **config), (keys or server.admin).as_credentials()
    )
    return asyncio.run(extractor.extract_metadata())


def by_name(result: ExtractionResult):
    return {(t.database, t.name): t for t in result.tables}


def warnings(result: ExtractionResult, code: str) -> list[str]:
    return [e.message for e in result.errors if e.severity is Severity.WARNING and e.code == code]


@pytest.fixture
def lake(s3_server):
    """One bucket holding a dataset of each kind the default layout recognises."""
    client = s3_server.client()
    bucket = bucket_name("lake")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    put(
        client,
        bucket,
        {
            "orders/year=2026/month=01/day=01/part-0.parquet": parquet_bytes(3),
            "orders/year=2026/month=01/day=02/part-0.parquet": parquet_bytes(4),
            "orders/year=2026/month=02/day=01/part-0.parquet": parquet_bytes(5),
            "orders/_SUCCESS": b"",
            "people/with header.csv": b"id,name,score\n1,ann,2.5\n2,bob,3.0\n",
            "plain/no-header.csv": b"1,2.5\n2,3.5\n3,4.5\n",
            "tabs/a.tsv.gz": gzip.compress(b"key\tvalue\nx\t1\ny\t2\n"),
            "events/2026/a.jsonl": jsonl_bytes(
                [{"id": 1, "user": {"name": "a"}}, {"id": 2, "user": {"name": "b", "age": 3}}]
            ),
            "events/2026/b.jsonl": jsonl_bytes([{"id": "x", "extra": [{"k": 1}]}]),
            "empty/": b"",
            "sales/_delta_log/00000000000000000000.json": delta_commit(
                [
                    {"name": "id", "type": "long", "nullable": False, "metadata": {}},
                    {
                        "name": "line",
                        "type": {
                            "type": "struct",
                            "fields": [
                                {"name": "sku", "type": "string", "nullable": True, "metadata": {}}
                            ],
                        },
                        "nullable": True,
                        "metadata": {},
                    },
                ],
                ["region"],
            ),
            "sales/region=eu/part-0.parquet": parquet_bytes(1),
            "odd keys/é =x/ü ñ.parquet": parquet_bytes(2),
            "root-file.parquet": parquet_bytes(1),
        },
    )
    return bucket


def test_default_layout_reads_schemas_from_footers_and_heads(s3_server, lake):
    extractor = S3Extractor(s3_server.config(buckets=[lake]), s3_server.admin.as_credentials())
    result = asyncio.run(extractor.extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS, result.errors
    [bucket] = result.databases
    assert bucket.container_type is ContainerType.BUCKET
    assert bucket.properties["tags"] == {"team": "data"}
    assert bucket.properties["region"] == "us-east-1"
    tables = by_name(result)
    assert set(tables) == {
        (lake, name)
        for name in ("orders/", "people/", "plain/", "tabs/", "events/", "sales/", "odd keys/")
    }
    orders = tables[lake, "orders/"]
    assert orders.table_type is TableType.FILE_DATASET and orders.native_type == "parquet"
    assert orders.row_count == 12  # from the three footers: every file was sampled
    assert orders.properties["file_count"] == 3
    assert orders.properties["partition_keys"] == {
        "day": {"count": 2, "values": ["01", "02"]},
        "month": {"count": 2, "values": ["01", "02"]},
        "year": {"count": 1, "values": ["2026"]},
    }
    paths = {path: f.data_type for path, _, _, f in orders.iter_fields()}
    assert paths["customer.address.city"] is DataType.STRING
    assert paths["items"] is DataType.ARRAY and paths["items[].sku"] is DataType.STRING
    assert paths["attributes"] is DataType.MAP and paths["attributes{}.value"] is DataType.INTEGER
    assert paths["total"] is DataType.DECIMAL
    assert not next(c for c in orders.columns if c.name == "id").nullable

    people = tables[lake, "people/"]
    assert [c.name for c in people.columns] == ["id", "name", "score"]
    assert people.properties["file_header"] is True
    assert people.columns[2].data_type is DataType.FLOAT
    assert people.columns[0].inference.sample_size == 2
    plain = tables[lake, "plain/"]
    assert plain.properties["file_header"] is False
    assert [c.data_type for c in plain.columns] == [DataType.INTEGER, DataType.FLOAT]
    tabs = tables[lake, "tabs/"]
    assert tabs.properties["compression"] == "gzip" and [c.name for c in tabs.columns] == [
        "key",
        "value",
    ]

    sales = tables[lake, "sales/"]
    assert sales.native_type == "delta" and sales.properties["table_version"] == 0
    assert sales.properties["file_partition_columns"] == ["region"]
    # Its only commit adds no file: the log, not the listing, says what the table holds.
    assert (sales.row_count, sales.size_bytes, sales.properties["file_count"]) == (0, 0, 0)
    assert sales.properties["stored_file_count"] == 1
    assert [p for p, *_ in sales.iter_fields()] == ["id", "line", "line.sku"]
    assert tables[lake, "odd keys/"].row_count == 2

    # Only footers and heads were read: far less than what is stored.
    stored = sum(t.properties.get("stored_bytes", t.size_bytes) or 0 for t in result.tables)
    assert extractor.api.accounting.bytes_read < stored


def test_json_lines_inferred_with_presence_and_a_conflict_warning(s3_server, lake):
    result = extract(s3_server, [lake])
    events = by_name(result)[lake, "events/"]
    fields = {path: f for path, _, _, f in events.iter_fields()}
    # The newest file sampled wins; both were read, so their difference is a warning.
    assert set(fields) in ({"id", "extra", "extra[].k"}, {"id", "user", "user.name", "user.age"})
    [conflict] = warnings(result, "schema_conflict")
    assert "a.jsonl" in conflict and "b.jsonl" in conflict


def test_drifting_json_fields_carry_inference(s3_server):
    client = s3_server.client()
    bucket = bucket_name("drift")
    client.create_bucket(Bucket=bucket)
    records = [{"id": i, "v": i if i % 2 else str(i)} for i in range(4)] + [{"id": 9, "new": True}]
    put(client, bucket, {"d/x.json": jsonl_bytes(records)})
    [table] = extract(s3_server, [bucket]).tables
    fields = {c.name: c for c in table.columns}
    assert fields["v"].native_type == "integer|string" and fields["v"].data_type is DataType.JSON
    assert fields["v"].inference.presence == pytest.approx(0.8)
    assert {t.native_type: t.share for t in fields["v"].inference.types} == {
        "integer": 0.5,
        "string": 0.5,
    }
    assert fields["new"].inference.presence == pytest.approx(0.2) and fields["new"].nullable


def test_corrupt_truncated_and_empty_files_are_warnings_on_their_dataset(s3_server):
    client = s3_server.client()
    bucket = bucket_name("broken")
    client.create_bucket(Bucket=bucket)
    good = parquet_bytes(2)
    put(
        client,
        bucket,
        {
            "t/a-good.parquet": good,
            "t/b-truncated.parquet": good[: len(good) // 2],
            "t/c-empty.parquet": b"",
            "j/bad.jsonl": b"not json\n{also not\n",
        },
    )
    result = extract(s3_server, [bucket])
    assert result.status is ExtractionStatus.SUCCESS
    tables = by_name(result)
    assert [c.name for c in tables[bucket, "t/"].columns][:2] == ["id", "customer"]
    skipped = " ".join(warnings(result, "unreadable_file"))
    assert "b-truncated.parquet" in skipped and "c-empty.parquet" in skipped
    assert "j/bad.jsonl" in skipped
    assert tables[bucket, "j/"].columns == []
    assert warnings(result, "no_schema")


def test_path_specs_group_keys_and_collect_partition_values(s3_server):
    client = s3_server.client()
    bucket = bucket_name("specs")
    client.create_bucket(Bucket=bucket)
    put(
        client,
        bucket,
        {
            f"raw/events/{table}/{a}/{b}/x.json": jsonl_bytes([{"a": 1}])
            for table in ("clicks", "views")
            for a in ("2026", "2025")
            for b in ("01", "02")
        }
        | {"lake/orders/year=2026/p.parquet": parquet_bytes(1)},
    )
    result = extract(
        s3_server,
        [bucket],
        path_specs=[
            f"s3://{bucket}/raw/events/{{table}}/{{partition[0]}}/{{partition[1]}}/*.json",
            "s3://*/lake/{table}/year={year}/*.parquet",
        ],
    )
    tables = by_name(result)
    assert set(tables) == {
        (bucket, "raw/events/clicks/"),
        (bucket, "raw/events/views/"),
        (bucket, "lake/orders/"),
    }
    clicks = tables[bucket, "raw/events/clicks/"]
    assert clicks.properties["partition_keys"]["partition[0]"]["values"] == ["2025", "2026"]
    assert clicks.properties["file_count"] == 4
    assert tables[bucket, "lake/orders/"].properties["partition_keys"]["year"]["values"] == ["2026"]


def test_ten_thousand_objects_are_listed_in_pages(s3_server):
    client = s3_server.client()
    bucket = bucket_name("many")
    client.create_bucket(Bucket=bucket)
    body = jsonl_bytes([{"a": 1}])
    keys = [f"{prefix}/f{i:05d}.jsonl" for prefix in ("p0", "p1") for i in range(5000)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=body), keys))
    extractor = S3Extractor(
        s3_server.config(buckets=[bucket], max_files_sampled_per_dataset=2),
        s3_server.admin.as_credentials(),
    )
    result = asyncio.run(extractor.extract_metadata())
    assert {t.name: t.properties["file_count"] for t in result.tables} == {
        "p0/": 5000,
        "p1/": 5000,
    }
    requests = extractor.api.accounting.requests
    assert requests["ListObjectsV2"] == 1 + 2 * 5  # the delimiter listing, then 5 pages a prefix
    assert requests["GetObject"] == 4


def test_bucket_denied_by_policy_is_a_scoped_error(s3_server):
    client = s3_server.client()
    allowed, denied = bucket_name("open"), bucket_name("closed")
    for bucket in (allowed, denied):
        client.create_bucket(Bucket=bucket)
        put(client, bucket, {"d/a.jsonl": jsonl_bytes([{"a": 1}])})
    keys = s3_server.user(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{denied}", f"arn:aws:s3:::{denied}/*"],
                },
            ],
        }
    )
    result = extract(s3_server, [allowed, denied], keys=keys)
    assert result.status is ExtractionStatus.PARTIAL
    assert [t.database for t in result.tables] == [allowed]
    [error] = [e for e in result.errors if e.severity is Severity.ERROR]
    assert error.scope == (denied,) and error.code == "missing_privilege"
    assert "s3:ListBucket" in error.message


def test_denied_objects_protect_their_dataset(s3_server):
    client = s3_server.client()
    bucket = bucket_name("objs")
    client.create_bucket(Bucket=bucket)
    put(
        client, bucket, {"d/a.jsonl": jsonl_bytes([{"a": 1}]), "e/a.jsonl": jsonl_bytes([{"b": 1}])}
    )
    keys = s3_server.user(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/d/*",
                },
            ],
        }
    )
    result = extract(s3_server, [bucket], keys=keys)
    assert result.status is ExtractionStatus.PARTIAL
    [error] = [e for e in result.errors if e.severity is Severity.ERROR]
    assert error.scope == (bucket, "d/")
    assert [c.name for c in by_name(result)[bucket, "e/"].columns] == ["b"]


def test_bad_secret_is_a_permanent_failure_without_the_secret(s3_server):
    wrong = "wrong-secret-0123456789"
    extractor = S3Extractor(
        s3_server.config(),
        {"access_key_id": s3_server.admin.access_key_id, "secret_access_key": wrong},
    )
    with pytest.raises(AuthenticationError) as raised:
        asyncio.run(extractor.extract_metadata())
    assert "SignatureDoesNotMatch" in str(raised.value) and wrong not in str(raised.value)
    ok, message = asyncio.run(extractor.test_connection())
    assert not ok and "secret_access_key" in message and wrong not in message


def test_unknown_access_key_fails_check_connection(s3_server):
    extractor = S3Extractor(
        s3_server.config(), {"access_key_id": "AKIANOSUCHKEY0000000", "secret_access_key": "x"}
    )
    ok, message = asyncio.run(extractor.test_connection())
    assert not ok and "InvalidAccessKeyId" in message


def test_unreachable_endpoint_is_transient():
    extractor = S3Extractor(
        {
            "endpoint_url": f"http://127.0.0.1:{free_port()}",
            "region": "us-east-1",
            "max_attempts": 1,
        },
        {"access_key_id": "AKIAEXAMPLE000000000", "secret_access_key": "x"},
    )
    with pytest.raises(SourceUnavailableError) as raised:
        asyncio.run(extractor.extract_metadata())
    assert raised.value.retryable and "unreachable" in str(raised.value)


def test_factory_builds_it_and_rejects_bad_config():
    factory = MetadataExtractorFactory()
    assert factory.extractor_class("s3") is S3Extractor
    with pytest.raises(Exception, match="path_specs"):
        factory.validate("s3", {"path_specs": ["lake/{table}"]}, None)
    with pytest.raises(Exception, match="https"):
        factory.validate("s3", {"endpoint_url": "http://example.com"}, None)
    with pytest.raises(Exception, match="go together") as raised:
        factory.validate("s3", {}, {"access_key_id": "AKIA", "secret_access_key": ""})
    assert "AKIA" not in str(raised.value)


def test_iceberg_schema_and_row_count_from_the_newest_metadata_file(s3_server):
    client = s3_server.client()
    bucket = bucket_name("ice")
    client.create_bucket(Bucket=bucket)
    old = {"format-version": 1, "schema": {"type": "struct", "fields": []}}
    current = {
        "format-version": 2,
        "current-schema-id": 1,
        "schemas": [
            {"schema-id": 0, "type": "struct", "fields": []},
            {
                "schema-id": 1,
                "type": "struct",
                "fields": [
                    {"id": 1, "name": "id", "required": True, "type": "long"},
                    {
                        "id": 2,
                        "name": "lines",
                        "required": False,
                        "type": {
                            "type": "list",
                            "element-id": 3,
                            "element-required": True,
                            "element": {
                                "type": "struct",
                                "fields": [
                                    {"id": 4, "name": "sku", "required": True, "type": "string"},
                                    {"id": 5, "name": "price", "required": False, "type": "decimal(9,2)"},
                                ],
                            },
                        },
                    },
                    {
                        "id": 6,
                        "name": "attrs",
                        "required": False,
                        "type": {"type": "map", "key-id": 7, "key": "string", "value-id": 8,
                                 "value": "int", "value-required": False},
                    },
                ],
            },
        ],
        "default-spec-id": 0,
        "partition-specs": [{"spec-id": 0, "fields": [{"name": "id_bucket", "transform": "bucket[4]", "source-id": 1, "field-id": 1000}]}],
        "current-snapshot-id": 7,
        "snapshots": [{"snapshot-id": 7, "summary": {"operation": "append", "total-records": "42"}}],
    }  # fmt: skip
    put(
        client,
        bucket,
        {
            "orders/metadata/00001-a.metadata.json": json.dumps(old).encode(),
            "orders/metadata/00002-b.metadata.json": json.dumps(current).encode(),
            "orders/data/id_bucket=0/f.parquet": parquet_bytes(1),
        },
    )
    result = extract(s3_server, [bucket])
    tables = by_name(result)
    orders = tables[bucket, "orders/"]
    assert orders.native_type == "iceberg" and orders.row_count == 42
    assert orders.properties["table_version"] == 2
    assert orders.properties["file_partition_fields"] == ["bucket[4](id_bucket)"]
    fields = {path: f for path, _, _, f in orders.iter_fields()}
    assert list(fields) == [
        "id",
        "lines",
        "lines[].sku",
        "lines[].price",
        "attrs",
        "attrs{}.key",
        "attrs{}.value",
    ]
    assert fields["lines"].data_type is DataType.ARRAY and not fields["id"].nullable
    assert fields["lines[].price"].data_type is DataType.DECIMAL
