"""Schemas read from the few bytes a format needs: a Parquet footer, the head of a CSV / JSON file,
an Avro container header, a Delta table's log. Whole files are never downloaded: every read is a ranged GET within
`max_bytes_read_per_file`.

Readers are synchronous (pyarrow reads through a file object) and run in worker threads; `Fetch`
is the client's ranged GET. A file that cannot be read as its format raises `UnreadableFile`, which
the extractor reports as a warning on the dataset.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastavro.read import HEADER_SCHEMA

from metadata_pipelines.extractors.inference import RecordShape
from metadata_pipelines.extractors.s3.arrow_types import columns_from_schema
from metadata_pipelines.models import (
    ColumnMetadata,
    DataType,
    FieldInference,
    ObservedType,
    iter_fields,
)

#: fetch(key, first byte, last byte inclusive) -> bytes
Fetch = Callable[[str, int, int], bytes]
#: Bytes fetched from a Parquet file's end at first: most footers fit, so one GET usually does.
PARQUET_TAIL = 16 * 1024
_MAGIC = b"PAR1"


class UnreadableFile(Exception):
    """The file is empty, truncated, corrupt or not of its format; the message says which."""


@dataclass
class FileSchema:
    columns: list[ColumnMetadata]
    row_count: int | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def signature(self) -> list[str]:
        """Its fields as `path native_type` lines, to compare files and show a conflict."""
        return [f"{path} {column.native_type}" for path, _, _, column in iter_fields(self.columns)]


def read_parquet(fetch: Fetch, key: str, size: int, budget: int) -> FileSchema:
    """The footer by one suffix GET (two when it is longer than PARQUET_TAIL), parsed by pyarrow.

    A Parquet file ends with its footer (thrift FileMetaData), the footer's length (4 bytes, little
    endian) and the magic `PAR1`; pyarrow parses the footer given `PAR1` + footer + length + `PAR1`.
    """
    if size < 12:
        raise UnreadableFile(f"{size} bytes is too short for a Parquet file")
    first = max(0, size - min(PARQUET_TAIL, budget))
    tail = fetch(key, first, size - 1)
    if tail[-4:] != _MAGIC:
        raise UnreadableFile("no Parquet magic at its end (truncated, or not Parquet)")
    length = int.from_bytes(tail[-8:-4], "little")
    if length + 12 > size:
        raise UnreadableFile(f"its footer length ({length}) exceeds the file ({size} bytes)")
    if length + 8 > budget:
        raise UnreadableFile(
            f"its Parquet footer ({length} bytes) is larger than max_bytes_read_per_file"
        )
    if length + 8 > len(tail):
        tail = fetch(key, size - 8 - length, first - 1) + tail
    try:
        with pq.ParquetFile(io.BytesIO(_MAGIC + tail[-8 - length :])) as parquet:
            metadata = parquet.metadata
            schema = parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as error:
        raise UnreadableFile(f"not a readable Parquet footer: {error}") from None
    return FileSchema(
        columns_from_schema(schema),
        row_count=metadata.num_rows,
        properties={
            "created_by": metadata.created_by,
            "row_groups": metadata.num_row_groups,
            "format_version": metadata.format_version,
        },
    )


def _head(fetch: Fetch, key: str, size: int, budget: int, compression: str | None) -> bytes:
    """The first complete lines of a text file within the budget (gzip decompressed)."""
    if size == 0:
        raise UnreadableFile("the file is empty")
    raw = fetch(key, 0, min(size, budget) - 1)
    whole = size <= budget
    if compression == "gzip":
        try:
            decompressor = zlib.decompressobj(wbits=31)
            raw = decompressor.decompress(raw, budget * 8)
            whole = whole and decompressor.eof
        except zlib.error as error:
            raise UnreadableFile(f"not readable as gzip: {error}") from None
    elif compression is not None:
        raise UnreadableFile(f"{compression} compressed text is not sampled")
    if not whole:
        cut = raw.rfind(b"\n")
        if cut < 0:
            raise UnreadableFile("no complete line within max_bytes_read_per_file")
        raw = raw[: cut + 1]
    return raw


def read_csv(
    fetch: Fetch, key: str, size: int, budget: int, compression: str | None, delimiter: str
) -> FileSchema:
    head = _head(fetch, key, size, budget, compression)
    text = head.decode("utf-8", errors="replace")
    try:
        has_header = csv.Sniffer().has_header(text[:65536])
    except csv.Error:
        has_header = True
    try:
        table = pacsv.read_csv(
            io.BytesIO(head),
            read_options=pacsv.ReadOptions(autogenerate_column_names=not has_header),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
        )
    except (pa.ArrowException, ValueError) as error:
        raise UnreadableFile(f"not readable as CSV: {error}") from None
    columns = []
    for column, arrow_column in zip(columns_from_schema(table.schema), table.columns, strict=True):
        rows = len(arrow_column)
        present = rows - arrow_column.null_count
        column.inference = FieldInference(
            sample_size=rows,
            presence=present / rows if rows else 0.0,
            types=[
                ObservedType(native_type=column.native_type, data_type=column.data_type, share=1.0)
            ]
            if present
            else [],
        )
        columns.append(column)
    return FileSchema(
        columns,
        properties={"header": has_header, "delimiter": delimiter, "sampled_rows": table.num_rows},
    )


def read_json_lines(
    fetch: Fetch, key: str, size: int, budget: int, compression: str | None
) -> FileSchema:
    head = _head(fetch, key, size, budget, compression)
    shape = RecordShape()
    bad = 0
    for line in head.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict):
            shape.add(record)
        else:
            bad += 1
    if shape.records == 0:
        raise UnreadableFile("no JSON object lines in its first bytes")
    return FileSchema(
        shape.columns(), properties={"sampled_records": shape.records, "unparsed_lines": bad}
    )


# Delta Lake: the schema is in the newest commit that carries a metaData action ---------------------

_SPARK_TYPES = {
    "string": DataType.STRING,
    "long": DataType.INTEGER,
    "integer": DataType.INTEGER,
    "short": DataType.INTEGER,
    "byte": DataType.INTEGER,
    "float": DataType.FLOAT,
    "double": DataType.FLOAT,
    "boolean": DataType.BOOLEAN,
    "binary": DataType.BINARY,
    "date": DataType.DATE,
    "timestamp": DataType.TIMESTAMP,
    "timestamp_ntz": DataType.TIMESTAMP,
}


def read_delta_commit(data: bytes) -> FileSchema | None:
    """The schema a Delta commit file declares, or None when it has no metaData action."""
    metadata, protocol = None, None
    try:
        for line in data.splitlines():
            if line.strip():
                action = json.loads(line)
                metadata = action.get("metaData", metadata)
                protocol = action.get("protocol", protocol)
        if metadata is None:
            return None
        schema = json.loads(metadata["schemaString"])
        columns = [_spark_field(f, i) for i, f in enumerate(schema["fields"], start=1)]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UnreadableFile(f"not a readable Delta log entry: {error}") from None
    properties: dict[str, Any] = {"partition_columns": metadata.get("partitionColumns", [])}
    if protocol:
        properties["min_reader_version"] = protocol.get("minReaderVersion")
        properties["min_writer_version"] = protocol.get("minWriterVersion")
    return FileSchema(columns, properties=properties)


def _spark_field(spec: dict[str, Any], ordinal: int) -> ColumnMetadata:
    kind = spec["type"]
    native, data_type, children = _spark_type(kind)
    return ColumnMetadata(
        name=spec["name"],
        ordinal=ordinal,
        native_type=native,
        data_type=data_type,
        nullable=bool(spec.get("nullable", True)),
        children=tuple(children),
    )


def _spark_type(kind: Any) -> tuple[str, DataType, list[ColumnMetadata]]:
    if isinstance(kind, str):
        if kind.startswith("decimal"):
            return kind, DataType.DECIMAL, []
        return kind, _SPARK_TYPES.get(kind, DataType.UNKNOWN), []
    if kind["type"] == "struct":
        children = [_spark_field(f, i) for i, f in enumerate(kind["fields"], start=1)]
        inner = ",".join(f"{c.name}:{c.native_type}" for c in children)
        return f"struct<{inner}>", DataType.STRUCT, children
    if kind["type"] == "array":
        native, _, children = _spark_type(kind["elementType"])
        return f"array<{native}>", DataType.ARRAY, children
    if kind["type"] == "map":
        key_native, key_type, key_children = _spark_type(kind["keyType"])
        value_native, value_type, value_children = _spark_type(kind["valueType"])
        children = [
            ColumnMetadata(
                name="key",
                ordinal=1,
                native_type=key_native,
                data_type=key_type,
                nullable=False,
                children=tuple(key_children),
            ),
            ColumnMetadata(
                name="value",
                ordinal=2,
                native_type=value_native,
                data_type=value_type,
                children=tuple(value_children),
            ),
        ]
        return f"map<{key_native},{value_native}>", DataType.MAP, children
    return json.dumps(kind, sort_keys=True), DataType.UNKNOWN, []


# Iceberg: the schema, partition spec and row count are in the newest metadata JSON ---------------

_ICEBERG_TYPES = {
    "boolean": DataType.BOOLEAN,
    "int": DataType.INTEGER,
    "long": DataType.INTEGER,
    "float": DataType.FLOAT,
    "double": DataType.FLOAT,
    "date": DataType.DATE,
    "time": DataType.TIME,
    "timestamp": DataType.TIMESTAMP,
    "timestamptz": DataType.TIMESTAMP,
    "timestamp_ns": DataType.TIMESTAMP,
    "timestamptz_ns": DataType.TIMESTAMP,
    "string": DataType.STRING,
    "uuid": DataType.STRING,
    "binary": DataType.BINARY,
    "variant": DataType.JSON,
}


def read_iceberg_metadata(data: bytes) -> FileSchema:
    """The current schema of an Iceberg table metadata file (format v1, v2 or v3)."""
    try:
        metadata = json.loads(data)
        if "schemas" in metadata:
            current = metadata.get("current-schema-id")
            schema = next(s for s in metadata["schemas"] if s.get("schema-id") == current)
        else:
            schema = metadata["schema"]
        columns = [_iceberg_field(f, i) for i, f in enumerate(schema["fields"], start=1)]
        snapshot_id = metadata.get("current-snapshot-id")
        snapshot = next(
            (s for s in metadata.get("snapshots", []) if s.get("snapshot-id") == snapshot_id),
            None,
        )
        specs = metadata.get("partition-specs") or [{"fields": metadata.get("partition-spec", [])}]
        default = metadata.get("default-spec-id", 0)
        spec = next((s for s in specs if s.get("spec-id", default) == default), specs[0])
    except (ValueError, KeyError, TypeError, StopIteration, AttributeError) as error:
        raise UnreadableFile(f"not a readable Iceberg metadata file: {error}") from None
    total = (snapshot or {}).get("summary", {}).get("total-records")
    return FileSchema(
        columns,
        row_count=int(total) if total is not None else None,
        properties={
            "format_version": metadata.get("format-version", 1),
            "partition_fields": [
                f"{f.get('transform')}({f.get('name')})" for f in spec.get("fields", [])
            ],
            "current_snapshot_id": snapshot_id,
        },
    )


def _iceberg_field(spec: dict[str, Any], ordinal: int) -> ColumnMetadata:
    native, data_type, children = _iceberg_type(spec["type"])
    return ColumnMetadata(
        name=spec["name"],
        ordinal=ordinal,
        native_type=native,
        data_type=data_type,
        nullable=not spec.get("required", False),
        comment=spec.get("doc"),
        children=tuple(children),
    )


def _iceberg_type(kind: Any) -> tuple[str, DataType, list[ColumnMetadata]]:
    if isinstance(kind, str):
        if kind.startswith("decimal"):
            return kind, DataType.DECIMAL, []
        if kind.startswith("fixed"):
            return kind, DataType.BINARY, []
        return kind, _ICEBERG_TYPES.get(kind, DataType.UNKNOWN), []
    if kind["type"] == "struct":
        children = [_iceberg_field(f, i) for i, f in enumerate(kind["fields"], start=1)]
        inner = ",".join(f"{c.name}:{c.native_type}" for c in children)
        return f"struct<{inner}>", DataType.STRUCT, children
    if kind["type"] == "list":
        native, _, children = _iceberg_type(kind["element"])
        return f"list<{native}>", DataType.ARRAY, children
    if kind["type"] == "map":
        key = {"name": "key", "type": kind["key"], "required": True}
        value = {"name": "value", "type": kind["value"], "required": kind.get("value-required")}
        children = [_iceberg_field(key, 1), _iceberg_field(value, 2)]
        return f"map<{children[0].native_type},{children[1].native_type}>", DataType.MAP, children
    return json.dumps(kind, sort_keys=True), DataType.UNKNOWN, []


# Avro: the schema is in the object container file's header --------------------------------------

#: Bytes fetched from an Avro file's start at first: most headers (magic, metadata map with the
#: schema, sync marker) fit; a longer header costs one more GET up to max_bytes_read_per_file.
AVRO_HEAD = 16 * 1024
_AVRO_MAGIC = b"Obj\x01"

_AVRO_TYPES = {
    "null": DataType.NULL,
    "boolean": DataType.BOOLEAN,
    "int": DataType.INTEGER,
    "long": DataType.INTEGER,
    "float": DataType.FLOAT,
    "double": DataType.FLOAT,
    "bytes": DataType.BINARY,
    "string": DataType.STRING,
}
_AVRO_LOGICAL = {
    "decimal": DataType.DECIMAL,
    "date": DataType.DATE,
    "time-millis": DataType.TIME,
    "time-micros": DataType.TIME,
    "timestamp-millis": DataType.TIMESTAMP,
    "timestamp-micros": DataType.TIMESTAMP,
    "timestamp-nanos": DataType.TIMESTAMP,
    "local-timestamp-millis": DataType.TIMESTAMP,
    "local-timestamp-micros": DataType.TIMESTAMP,
    "local-timestamp-nanos": DataType.TIMESTAMP,
    "uuid": DataType.STRING,
    "duration": DataType.INTERVAL,
}


def read_avro(fetch: Fetch, key: str, size: int, budget: int) -> FileSchema:
    """The writer schema from the container header, parsed by fastavro; no data block is read.

    A container file starts with the magic `Obj\x01`, a metadata map (`avro.schema`, `avro.codec`)
    and a 16-byte sync marker: fastavro reads them as a datum of its HEADER_SCHEMA.
    """
    if size < 4:
        raise UnreadableFile(f"{size} bytes is too short for an Avro file")
    limit = min(size, budget)
    head = fetch(key, 0, min(limit, AVRO_HEAD) - 1)
    if head[:4] != _AVRO_MAGIC:
        raise UnreadableFile("no Avro magic at its start (not an Avro container file)")
    header = _avro_header(head)
    if header is None and len(head) < limit:
        head += fetch(key, len(head), limit - 1)
        header = _avro_header(head)
    if header is None:
        where = "the file" if size <= budget else "max_bytes_read_per_file"
        raise UnreadableFile(f"its Avro header is truncated or longer than {where}")
    meta = header["meta"]
    try:
        schema = json.loads(meta["avro.schema"])
        if not isinstance(schema, dict) or schema.get("type") != "record":
            raise ValueError("the schema is not a record")
        names = _AvroSchema()
        columns = names.type(schema, None)[2]
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise UnreadableFile(f"not a readable Avro schema: {error}") from None
    return FileSchema(
        columns,
        properties={
            "codec": meta.get("avro.codec", b"null").decode(errors="replace"),
            "schema_name": names.full_name(schema, None),
        },
    )


def _avro_header(head: bytes) -> dict[str, Any] | None:
    """The header datum, or None when `head` ends inside it."""
    try:
        return fastavro.schemaless_reader(io.BytesIO(head), HEADER_SCHEMA)  # type: ignore[return-value]
    except EOFError:
        return None
    except (ValueError, TypeError, IndexError, UnicodeDecodeError) as error:
        raise UnreadableFile(f"not a readable Avro container header: {error}") from None


class _AvroSchema:
    """Avro types as catalog fields; named types (records, enums, fixed) are remembered by full name
    so a later reference by name resolves (a recursive reference lists no children)."""

    def __init__(self) -> None:
        self.named: dict[str, Any] = {}
        self.expanding: set[str] = set()

    @staticmethod
    def full_name(spec: dict[str, Any], namespace: str | None) -> str:
        name: str = spec["name"]
        space = spec.get("namespace", namespace)
        return name if "." in name or not space else f"{space}.{name}"

    def column(
        self, name: str, kind: Any, ordinal: int, doc: str | None, namespace: str | None
    ) -> ColumnMetadata:
        nullable = False
        if isinstance(kind, list) and "null" in kind and len(kind) == 2:
            nullable = True
            kind = next(k for k in kind if k != "null")
        native, data_type, children = self.type(kind, namespace)
        return ColumnMetadata(
            name=name,
            ordinal=ordinal,
            native_type=native,
            data_type=data_type,
            nullable=nullable or data_type is DataType.NULL,
            comment=doc,
            children=tuple(children),
        )

    def type(self, kind: Any, namespace: str | None) -> tuple[str, DataType, list[ColumnMetadata]]:
        if isinstance(kind, list):
            members = [self.type(k, namespace)[0] for k in kind]
            return f"union<{','.join(members)}>", DataType.UNKNOWN, []
        if isinstance(kind, str):
            if kind in _AVRO_TYPES:
                return kind, _AVRO_TYPES[kind], []
            full = kind if "." in kind or namespace is None else f"{namespace}.{kind}"
            spec = self.named.get(full, self.named.get(kind))
            if spec is None:
                return kind, DataType.UNKNOWN, []
            if full in self.expanding:  # a recursive reference
                return spec["name"], DataType.STRUCT, []
            return self.type(spec, namespace)
        logical = kind.get("logicalType")
        base = kind["type"]
        if logical in _AVRO_LOGICAL:
            if logical == "decimal":
                return f"decimal({kind['precision']},{kind.get('scale', 0)})", DataType.DECIMAL, []
            return logical, _AVRO_LOGICAL[logical], []
        if base in ("record", "error", "enum", "fixed"):
            full = self.full_name(kind, namespace)
            self.named[full] = kind
            if base == "enum":
                return f"enum<{','.join(kind['symbols'])}>", DataType.STRING, []
            if base == "fixed":
                return f"fixed({kind['size']})", DataType.BINARY, []
            self.expanding.add(full)
            space = full.rpartition(".")[0] or None  # names inside resolve in its namespace
            children = [
                self.column(f["name"], f["type"], ordinal, f.get("doc"), space)
                for ordinal, f in enumerate(kind["fields"], start=1)
            ]
            self.expanding.discard(full)
            inner = ",".join(f"{c.name}:{c.native_type}" for c in children)
            return f"record<{inner}>", DataType.STRUCT, children
        if base == "array":
            native, _, children = self.type(kind["items"], namespace)
            return f"array<{native}>", DataType.ARRAY, children
        if base == "map":  # keys are strings in Avro
            key = self.column("key", "string", 1, None, namespace)
            value = self.column("value", kind["values"], 2, None, namespace)
            return f"map<string,{value.native_type}>", DataType.MAP, [key, value]
        return self.type(base, namespace)
