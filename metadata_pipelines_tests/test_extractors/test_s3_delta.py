"""Delta tables written by the `deltalake` package (delta-rs), read from their log in moto: the
newest checkpoint (single and multi-part) plus the commits after it, row counts from the add
actions' statistics, schema evolution across commits, and no data file ever read.

deltalake writes the table into a local folder and the test uploads its files unchanged (keys =
paths under the table): delta-rs's own S3 writer needs conditional PUTs or a lock provider, which is
its concern, not what this connector reads."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from metadata_pipelines.extractors.s3 import S3Extractor, delta
from metadata_pipelines.extractors.s3.client import S3Api
from metadata_pipelines.extractors.s3.layout import ObjectInfo
from metadata_pipelines.extractors.s3.readers import OverBudget, read_parquet_columns
from metadata_pipelines.models import DataType, ExtractionResult, Severity
from metadata_pipelines_tests.test_extractors.s3_support import bucket_name

LOG = "_delta_log/"


def _batch(version: int, columns: list[str]) -> pa.Table:
    data = {
        "id": pa.array([version * 10 + i for i in range(3)], pa.int64()),
        "region": ["eu", "us", "eu"],
        "payload": pa.array(
            [{"kind": "a", "tags": ["x"]}] * 3,
            pa.struct([("kind", pa.string()), ("tags", pa.list_(pa.string()))]),
        ),
    }
    if "extra" in columns:
        data["extra"] = pa.array([f"e{version}"] * 3)
    if "note" in columns:
        data["note"] = pa.array([1.5] * 3)
    return pa.table(data)


@pytest.fixture(scope="module")
def delta_table(tmp_path_factory) -> tuple[Path, DeltaTable]:
    """Versions 0-11 appended (checkpoints at 4 and 9, `extra` added at 7), `note` added at 12 —
    after the newest checkpoint — and rows deleted at 13 (files removed and rewritten)."""
    path = tmp_path_factory.mktemp("delta") / "events"
    for version in range(13):
        columns = ["extra"] * (version >= 7) + ["note"] * (version >= 12)
        write_deltalake(
            path,
            _batch(version, columns),
            mode="append",
            partition_by=["region"],
            schema_mode="merge" if version in (7, 12) else None,
            configuration={"delta.checkpointInterval": "5"} if version == 0 else None,
        )
    table = DeltaTable(path)
    table.delete("id % 10 = 1")  # the "us" row of every version: its files removed, none added
    return path, DeltaTable(path)


def _upload(client, bucket: str, root: Path, prefix: str, skip=lambda name: False) -> None:
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root).as_posix()
        if file.is_file() and not skip(relative):
            client.put_object(Bucket=bucket, Key=prefix + relative, Body=file.read_bytes())


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every key the connector GETs."""
    keys: list[str] = []
    original = S3Api.get_range

    def recording(self, bucket, key, start, end):
        keys.append(key)
        return original(self, bucket, key, start, end)

    monkeypatch.setattr(S3Api, "get_range", recording)
    return keys


def extract(server, bucket: str, **config) -> ExtractionResult:
    extractor = S3Extractor(
        server.config(buckets=[bucket], **config), server.admin.as_credentials()
    )
    return asyncio.run(extractor.extract_metadata())


def _expected(table: DeltaTable) -> tuple[int, int]:
    """(rows, live files) as deltalake itself reads the table."""
    return table.to_pyarrow_table().num_rows, len(table.file_uris())


def test_checkpoint_and_later_commits_give_schema_partitions_and_row_count(
    s3_server, delta_table, reads
):
    root, table = delta_table
    client = s3_server.client()
    bucket = bucket_name("delta")
    client.create_bucket(Bucket=bucket)
    _upload(client, bucket, root, "events/")
    rows, live = _expected(table)
    assert sorted(p.name for p in (root / "_delta_log").glob("*.checkpoint.parquet")) == [
        "00000000000000000004.checkpoint.parquet",
        "00000000000000000009.checkpoint.parquet",
    ]

    result = extract(s3_server, bucket)

    assert not [e for e in result.errors if e.severity is Severity.ERROR], result.errors
    [events] = result.tables
    assert events.native_type == "delta"
    assert events.properties["table_version"] == table.version() == 13
    assert events.properties["checkpoint_version"] == 9
    assert events.properties["file_partition_columns"] == ["region"]
    # `extra` came in with the checkpoint, `note` only with commit 12 after it.
    names = [f.name for f in table.schema().fields]
    assert [c.name for c in events.columns] == names
    assert set(names) == {"id", "region", "payload", "extra", "note"}
    fields = {path: f for path, _, _, f in events.iter_fields()}
    assert fields["payload.tags"].data_type is DataType.ARRAY
    assert fields["note"].data_type is DataType.FLOAT
    assert events.row_count == rows == 13 * 2  # the delete removed one row of each version
    assert events.properties["file_count"] == live
    assert events.size_bytes == sum(
        Path(uri.removeprefix("file://")).stat().st_size for uri in table.file_uris()
    )
    assert events.properties["stored_file_count"] > live  # removed files not vacuumed

    # Only the log: the newest checkpoint and the commits after it, no data file, no older commit.
    assert all(key.startswith(f"events/{LOG}") for key in reads), reads
    read_names = {key.rsplit("/", 1)[1] for key in reads}
    assert "00000000000000000004.checkpoint.parquet" not in read_names
    assert {n for n in read_names if n.endswith(".json")} == {
        f"{v:020d}.json" for v in range(10, 14)
    }


def test_multi_part_checkpoint_after_log_cleanup(s3_server, delta_table, reads):
    """Commits up to the checkpoint deleted (log retention), the checkpoint split in two parts, an
    incomplete newer multi-part checkpoint (a writer that died) ignored."""
    root, table = delta_table
    client = s3_server.client()
    bucket = bucket_name("deltaparts")
    client.create_bucket(Bucket=bucket)

    def cleaned(name: str) -> bool:
        if not name.startswith(LOG) or "/" in name.removeprefix(LOG):
            return False
        file = name.removeprefix(LOG)
        return ".checkpoint." in file or (file[:20].isdigit() and int(file[:20]) <= 9)

    _upload(client, bucket, root, "t/", skip=cleaned)
    checkpoint = pq.read_table(root / LOG / "00000000000000000009.checkpoint.parquet")
    half = checkpoint.num_rows // 2
    for part, rows in enumerate((checkpoint.slice(0, half), checkpoint.slice(half)), start=1):
        sink = io.BytesIO()
        pq.write_table(rows, sink)
        key = f"t/{LOG}00000000000000000009.checkpoint.{part:010d}.0000000002.parquet"
        client.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())
    client.put_object(
        Bucket=bucket,
        Key=f"t/{LOG}00000000000000000012.checkpoint.0000000001.0000000003.parquet",
        Body=b"not a checkpoint",
    )

    [t] = extract(s3_server, bucket).tables

    rows, live = _expected(table)
    assert t.properties["checkpoint_version"] == 9
    assert (t.row_count, t.properties["file_count"]) == (rows, live)
    assert [c.name for c in t.columns] == [f.name for f in table.schema().fields]
    parts = sorted(k.rsplit("/", 1)[1] for k in reads if ".checkpoint." in k)
    assert set(parts) == {
        "00000000000000000009.checkpoint.0000000001.0000000002.parquet",
        "00000000000000000009.checkpoint.0000000002.0000000002.parquet",
    }


def test_a_gap_in_the_log_leaves_the_row_count_unknown(s3_server, delta_table):
    root, table = delta_table
    client = s3_server.client()
    bucket = bucket_name("deltagap")
    client.create_bucket(Bucket=bucket)
    _upload(
        client,
        bucket,
        root,
        "g/",
        skip=lambda name: ".checkpoint." in name or name.endswith("00000000000000000003.json"),
    )
    result = extract(s3_server, bucket)
    [g] = result.tables
    assert g.row_count is None
    assert [c.name for c in g.columns] == [f.name for f in table.schema().fields]
    [gap] = [e.message for e in result.errors if e.code == "partial_log"]
    assert "commits 3 of g/_delta_log/ are missing" in gap


def test_checkpoint_adds_over_the_budget_still_give_the_schema(delta_table):
    """A checkpoint of a big table: its add columns are more than max_bytes_read_per_file, so only
    the metaData and protocol column chunks are fetched."""
    root, _ = delta_table
    checkpoint = pq.read_table(root / LOG / "00000000000000000009.checkpoint.parquet")
    rows = checkpoint.to_pylist()
    template = next(row for row in rows if row["add"])
    rows += [  # 8,000 more live files, each with its own path and statistics
        template
        | {
            "add": template["add"]
            | {
                "path": f"region=eu/part-{i:05d}-{uuid.uuid4()}.parquet",
                "stats": json.dumps({"numRecords": i, "minValues": {"id": i}}),
            }
        }
        for i in range(8000)
    ]
    big = pa.Table.from_pylist(rows, schema=checkpoint.schema)
    sink = io.BytesIO()
    pq.write_table(big, sink, row_group_size=len(big))
    data = sink.getvalue()
    fetched: list[int] = []

    def fetch(key: str, start: int, end: int) -> bytes:
        fetched.append(end - start + 1)
        return data[start : end + 1]

    budget = 64 * 1024
    with pytest.raises(OverBudget):
        read_parquet_columns(fetch, "k", len(data), budget, delta.CHECKPOINT_COLUMNS)
    fetched.clear()
    table, adds_read = delta.read_checkpoint_part(fetch, ObjectInfo("k", len(data), None), budget)
    assert not adds_read and sum(fetched) <= 2 * budget < len(data)
    state = delta.DeltaState()
    state.apply_checkpoint(table)
    schema = state.schema()
    assert {c.name for c in schema.columns} == {"id", "region", "payload", "extra"}
