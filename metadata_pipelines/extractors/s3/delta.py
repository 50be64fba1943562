"""Delta Lake tables: the current snapshot (schema, partition columns, protocol, live files and their
row counts) from the table's own log, however long it is, without touching a data file.

A Delta table's state at version N is its newest checkpoint at or below N (Parquet, one file or
several parts, holding every live `add` and the current `metaData` / `protocol`) with the JSON
commits after it replayed in order (`add` makes a file live, `remove` ends it, a later `metaData`
replaces the schema). The listing already holds every log file, so the checkpoint is chosen from it
(the newest whose parts are all there) rather than from `_last_checkpoint`, which only points at
what the listing shows and may lag behind it.

Only the checkpoint columns a snapshot needs are read (`metaData`, `protocol`, `add.path`,
`add.size`, `add.stats`, `add.stats_parsed.numRecords`, `add.deletionVector.cardinality`,
`sidecar.path`), each a ranged GET of its column chunks. A row count is the sum of the live files'
`stats.numRecords` (less rows a deletion vector marks deleted), and only when every live file states
it: writers may omit statistics, and a partial sum would be a wrong count.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from metadata_pipelines.extractors.s3.layout import ObjectInfo
from metadata_pipelines.extractors.s3.readers import (
    Fetch,
    FileSchema,
    OverBudget,
    UnreadableFile,
    read_parquet_columns,
)
from metadata_pipelines.models import ColumnMetadata, DataType

_COMMIT = re.compile(r"(\d{20})\.json")
#: Classic (`N.checkpoint.parquet`), multi-part (`N.checkpoint.PART.PARTS.parquet`) and V2
#: (`N.checkpoint.UUID.parquet|json`) checkpoint names.
_CHECKPOINT = re.compile(
    r"(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10})|\.([0-9a-fA-F-]{36}))?\.(parquet|json)"
)
#: The checkpoint columns a snapshot needs (absent ones, e.g. `stats_parsed`, are skipped).
CHECKPOINT_COLUMNS = [
    "metaData.schemaString",
    "metaData.partitionColumns",
    "protocol.minReaderVersion",
    "protocol.minWriterVersion",
    "add.path",
    "add.size",
    "add.stats",
    "add.stats_parsed.numRecords",
    "add.deletionVector.cardinality",
    "sidecar.path",
]
SIDECAR_COLUMNS = [c for c in CHECKPOINT_COLUMNS if c.startswith("add.")]


@dataclass
class LogPlan:
    """The log files that make the table's newest snapshot, chosen from a listing."""

    version: int | None
    checkpoint_version: int | None = None
    checkpoint: list[ObjectInfo] = field(default_factory=list)
    commits: list[ObjectInfo] = field(default_factory=list)
    #: Why the files listed cannot give the whole state (commits missing), or None.
    gap: str | None = None


def plan_log(log_files: list[ObjectInfo]) -> LogPlan:
    """The newest complete checkpoint and the commits after it, in version order."""
    commits: dict[int, ObjectInfo] = {}
    checkpoints: dict[tuple[int, str], list[ObjectInfo]] = {}
    expected: dict[tuple[int, str], int] = {}
    prefix = ""
    for info in log_files:
        folder, _, name = info.key.rpartition("/")
        if not folder.endswith("_delta_log"):
            continue  # _sidecars/, _commits/: reached through what references them
        prefix = folder + "/"
        if match := _COMMIT.fullmatch(name):
            commits[int(match.group(1))] = info
        elif match := _CHECKPOINT.fullmatch(name):
            version, parts, uuid = match.group(1, 3, 4)
            ident = (int(version), uuid or "classic")
            checkpoints.setdefault(ident, []).append(info)
            expected[ident] = int(parts) if parts else 1
    newest = max([*commits, *(v for v, _ in checkpoints)], default=None)
    plan = LogPlan(version=newest)
    complete = sorted(
        (ident for ident, files in checkpoints.items() if len(files) == expected[ident]),
        reverse=True,
    )
    start = 0
    if complete:
        ident = complete[0]
        plan.checkpoint_version = ident[0]
        plan.checkpoint = sorted(checkpoints[ident], key=lambda f: f.key)
        start = ident[0] + 1
    if newest is None:
        return plan
    missing = [v for v in range(start, newest + 1) if v not in commits]
    if missing:
        shown = ", ".join(str(v) for v in missing[:5]) + (" …" if len(missing) > 5 else "")
        plan.gap = f"commits {shown} of {prefix} are missing and no checkpoint covers them"
    plan.commits = [commits[v] for v in range(start, newest + 1) if v in commits]
    return plan


@dataclass
class DeltaState:
    """The snapshot built from a checkpoint and the commits after it."""

    metadata: dict[str, Any] | None = None
    protocol: dict[str, Any] | None = None
    #: Live files: path → (size in bytes, rows or None when the writer stated no statistics).
    files: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    #: False when some add/remove actions could not be read: the live files are then unknown.
    files_known: bool = True
    sidecars: list[str] = field(default_factory=list)

    def apply_checkpoint(self, table: pa.Table) -> None:
        """Rows of a checkpoint (or sidecar) part, as read with CHECKPOINT_COLUMNS."""
        for row in table.to_pylist():
            if row.get("metaData"):
                self.metadata = row["metaData"]
            if row.get("protocol"):
                self.protocol = row["protocol"]
            if row.get("add"):
                self._add(row["add"])
            if row.get("sidecar"):
                self.sidecars.append(row["sidecar"]["path"])

    def apply_commit(self, data: bytes) -> None:
        """One JSON commit (or a V2 checkpoint in JSON), actions applied in file order."""
        try:
            for line in data.splitlines():
                if not line.strip():
                    continue
                action = json.loads(line)
                if "metaData" in action:
                    self.metadata = action["metaData"]
                elif "protocol" in action:
                    self.protocol = action["protocol"]
                elif "add" in action:
                    self._add(action["add"])
                elif "remove" in action:
                    self.files.pop(action["remove"]["path"], None)
                elif "sidecar" in action:
                    self.sidecars.append(action["sidecar"]["path"])
        except (ValueError, KeyError, TypeError) as error:
            raise UnreadableFile(f"not a readable Delta log entry: {error}") from None

    def _add(self, add: dict[str, Any]) -> None:
        self.files[add["path"]] = (add.get("size"), _records(add))

    @property
    def row_count(self) -> int | None:
        if not self.files_known:
            return None
        counts = [rows for _, rows in self.files.values()]
        return None if any(rows is None for rows in counts) else sum(counts)  # type: ignore[misc]

    def schema(self) -> FileSchema | None:
        """The snapshot's schema and facts; None when no metaData action was read."""
        if self.metadata is None:
            return None
        try:
            schema = json.loads(self.metadata["schemaString"])
            columns = [_spark_field(f, i) for i, f in enumerate(schema["fields"], start=1)]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise UnreadableFile(f"not a readable Delta schema: {error}") from None
        properties: dict[str, Any] = {
            "partition_columns": list(self.metadata.get("partitionColumns") or [])
        }
        if self.protocol:
            properties["min_reader_version"] = self.protocol.get("minReaderVersion")
            properties["min_writer_version"] = self.protocol.get("minWriterVersion")
        return FileSchema(columns, row_count=self.row_count, properties=properties)


def _records(add: dict[str, Any]) -> int | None:
    """Rows of an added file from its statistics, less those its deletion vector deletes."""
    parsed = add.get("stats_parsed") or {}
    rows = parsed.get("numRecords")
    if rows is None and add.get("stats"):
        try:
            rows = json.loads(add["stats"]).get("numRecords")
        except (ValueError, AttributeError):
            rows = None
    if rows is None:
        return None
    deleted = (add.get("deletionVector") or {}).get("cardinality") or 0
    return int(rows) - int(deleted)


def read_checkpoint_part(fetch: Fetch, info: ObjectInfo, budget: int) -> tuple[pa.Table, bool]:
    """The columns a snapshot needs of one checkpoint part (Parquet), and whether its adds were
    read: when they are more than `budget`, only the (small) metaData and protocol columns are."""
    try:
        return read_parquet_columns(fetch, info.key, info.size, budget, CHECKPOINT_COLUMNS), True
    except OverBudget:
        small = [c for c in CHECKPOINT_COLUMNS if c.startswith(("metaData.", "protocol."))]
        return read_parquet_columns(fetch, info.key, info.size, budget, small), False


def read_sidecar(fetch: Fetch, key: str, size: int, budget: int) -> pa.Table:
    """The add columns of a V2 checkpoint's sidecar file."""
    return read_parquet_columns(fetch, key, size, budget, SIDECAR_COLUMNS)


# Delta's schema (Spark's JSON type grammar) as catalog fields -------------------------------------

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


def _spark_field(spec: dict[str, Any], ordinal: int) -> ColumnMetadata:
    native, data_type, children = _spark_type(spec["type"])
    comment = (spec.get("metadata") or {}).get("comment")
    return ColumnMetadata(
        name=spec["name"],
        ordinal=ordinal,
        native_type=native,
        data_type=data_type,
        nullable=bool(spec.get("nullable", True)),
        comment=comment if isinstance(comment, str) else None,
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
