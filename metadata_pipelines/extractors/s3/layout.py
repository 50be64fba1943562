"""How object keys become datasets: path-spec templates, or the default top-level-prefix layout.

Path-spec grammar (docs/connectors/s3.md): `s3://BUCKET/TEMPLATE`, where TEMPLATE is `/`-separated
segments of literal text and
- `{table}`: one path segment naming the dataset; the dataset is the key prefix up to and
  including it (`lake/orders/`). Without `{table}` the dataset is the literal prefix before the
  first placeholder or wildcard;
- `{name}` or `{partition[0]}`: one segment (or part of one, as in `year={year}`) whose value is a
  partition value;
- `*` any characters inside one segment, `**` any number of whole segments.
BUCKET may be `*` to apply to every bucket read.

The default layout: each top-level prefix is one dataset; `key=value` folders below it are Hive
partitions; a `_delta_log/` folder marks a Delta table, a `metadata/*.metadata.json` an Iceberg table.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?)\}")
_HIVE = re.compile(r"([^=/]+)=([^/]*)")
#: Extensions (before any compression suffix) and the format they mean.
EXTENSIONS = {
    "parquet": "parquet",
    "parq": "parquet",
    "pq": "parquet",
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "json": "json",
    "jsonl": "json",
    "ndjson": "json",
    "avro": "avro",
}
COMPRESSIONS = {"gz": "gzip", "gzip": "gzip", "bz2": "bzip2", "zst": "zstd", "snappy": "snappy"}


class PathSpecError(ValueError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object."""

    key: str
    size: int
    last_modified: datetime


def file_format(key: str) -> tuple[str | None, str | None]:
    """(format, compression) from a key's extensions; format None when unknown."""
    name = key.rsplit("/", 1)[-1].lower()
    parts = name.split(".")
    compression = None
    if len(parts) > 2 and parts[-1] in COMPRESSIONS:
        compression = COMPRESSIONS[parts.pop()]
    if len(parts) < 2:
        return None, compression
    return EXTENSIONS.get(parts[-1]), compression


def is_hidden(key: str) -> bool:
    """Markers and hidden files no dataset reads (`_SUCCESS`, `.crc`, `_temporary/` ...)."""
    return key.endswith("/") or any(part.startswith((".", "_")) for part in key.split("/"))


@dataclass(frozen=True)
class PathSpec:
    """A compiled path-spec template."""

    text: str
    bucket: str
    pattern: re.Pattern[str]
    #: Group names of partition placeholders, in template order, and their display names.
    partitions: tuple[tuple[str, str], ...]
    has_table: bool
    literal_prefix: str

    @classmethod
    def parse(cls, text: str) -> PathSpec:
        if not text.startswith("s3://"):
            raise PathSpecError(f"path spec {text!r} must start with s3://")
        bucket, _, template = text[5:].partition("/")
        if not bucket or not template:
            raise PathSpecError(f"path spec {text!r} needs a bucket and a key template")
        regex: list[str] = []
        partitions: list[tuple[str, str]] = []
        has_table = False
        literal_prefix: list[str] = []
        literal = True
        segments = template.split("/")
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if segment == "**":
                regex.append("(?:[^/]+/)*" if not last else ".*")
                literal = False
                continue
            piece = []
            position = 0
            for match in _PLACEHOLDER.finditer(segment):
                piece.append(_literal(segment[position : match.start()]))
                name = match.group(1)
                if name == "table":
                    if has_table:
                        raise PathSpecError(f"path spec {text!r} names {{table}} twice")
                    has_table = True
                    if match.start() != 0 or match.end() != len(segment):
                        raise PathSpecError(f"{{table}} must be a whole segment in {text!r}")
                    piece.append("(?P<table>[^/]+)")
                else:
                    group = f"p{len(partitions)}"
                    partitions.append((group, name))
                    piece.append(f"(?P<{group}>[^/]*)")
                position = match.end()
            piece.append(_literal(segment[position:]))
            if literal and not _PLACEHOLDER.search(segment) and "*" not in segment and not last:
                literal_prefix.append(segment + "/")
            else:
                literal = False
            regex.append("".join(piece) + ("" if last else "/"))
        try:
            pattern = re.compile("".join(regex))
        except re.error as error:
            raise PathSpecError(f"path spec {text!r} does not compile: {error}") from None
        if len({display for _, display in partitions}) != len(partitions):
            raise PathSpecError(f"path spec {text!r} repeats a partition name")
        return cls(text, bucket, pattern, tuple(partitions), has_table, "".join(literal_prefix))

    def applies_to(self, bucket: str) -> bool:
        return self.bucket in ("*", bucket)

    def match(self, key: str) -> tuple[str, dict[str, str]] | None:
        """(dataset prefix, partition values) for a key the template matches, else None."""
        found = self.pattern.fullmatch(key)
        if found is None:
            return None
        prefix = key[: found.end("table")] + "/" if self.has_table else self.literal_prefix
        values = {display: found.group(group) for group, display in self.partitions}
        return prefix, values


def _literal(text: str) -> str:
    """A literal piece of a segment: `*` matches within the segment, the rest is itself."""
    return "[^/]*".join(re.escape(part) for part in text.split("*"))


@dataclass
class Dataset:
    """Files grouped into one dataset, with what listing alone tells about them."""

    bucket: str
    prefix: str
    spec: str | None = None
    table_format: str | None = None
    files: list[ObjectInfo] = field(default_factory=list)
    partitions: dict[str, set[str]] = field(default_factory=dict)
    formats: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    #: Metadata files of a Delta / Iceberg table (the log / metadata JSON), not data files.
    table_files: list[ObjectInfo] = field(default_factory=list)

    def add(self, info: ObjectInfo, values: dict[str, str]) -> None:
        self.files.append(info)
        for name, value in values.items():
            self.partitions.setdefault(name, set()).add(value)
        fmt, compression = file_format(info.key)
        if fmt is not None:
            self.formats[fmt, compression] += 1

    @property
    def format(self) -> tuple[str, str | None] | None:
        """The format most of its files have (a mix is reported by the extractor)."""
        if self.table_format:
            return self.table_format, None
        return self.formats.most_common(1)[0][0] if self.formats else None

    @property
    def total_bytes(self) -> int:
        return sum(info.size for info in self.files)

    @property
    def newest(self) -> datetime | None:
        return max((info.last_modified for info in self.files), default=None)

    def data_files(self) -> list[ObjectInfo]:
        """Its files of the dataset's format, newest first."""
        wanted = self.format
        if wanted is None:
            return []
        chosen = [f for f in self.files if file_format(f.key) == wanted]
        return sorted(chosen, key=lambda f: (f.last_modified, f.key), reverse=True)


def group_objects(bucket: str, objects: list[ObjectInfo], specs: list[PathSpec]) -> list[Dataset]:
    """Datasets of one bucket, by the first path spec that matches each key, else the default."""
    applicable = [spec for spec in specs if spec.applies_to(bucket)]
    datasets: dict[str, Dataset] = {}
    for info in objects:
        if "/_delta_log/" in f"/{info.key}":
            prefix = info.key.split("_delta_log/", 1)[0]
            dataset = datasets.setdefault(prefix, Dataset(bucket, prefix))
            dataset.table_format = "delta"
            dataset.table_files.append(info)
            continue
        if is_hidden(info.key):
            continue
        if applicable:
            for spec in applicable:
                matched = spec.match(info.key)
                if matched is not None:
                    prefix, values = matched
                    datasets.setdefault(prefix, Dataset(bucket, prefix, spec=spec.text)).add(
                        info, values
                    )
                    break
            continue
        top, sep, rest = info.key.partition("/")
        if not sep:
            continue  # a file at the bucket's root belongs to no dataset
        if rest.startswith("metadata/") and rest.endswith(".metadata.json"):
            dataset = datasets.setdefault(top + "/", Dataset(bucket, top + "/"))
            dataset.table_format = "iceberg"
            dataset.table_files.append(info)
            continue
        values = {}
        for folder in rest.split("/")[:-1]:
            hive = _HIVE.fullmatch(folder)
            if hive:
                values[hive.group(1)] = hive.group(2)
        datasets.setdefault(top + "/", Dataset(bucket, top + "/")).add(info, values)
    return [datasets[prefix] for prefix in sorted(datasets)]
