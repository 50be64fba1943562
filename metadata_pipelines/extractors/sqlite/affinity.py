"""Column types: SQLite's affinity rules (https://sqlite.org/datatype3.html, section 3.1)."""

from __future__ import annotations

import re

from metadata_pipelines.models import DataType

_NUMERIC_NAMES: list[tuple[re.Pattern[str], DataType]] = [
    (re.compile(r"^BOOL(EAN)?\b"), DataType.BOOLEAN),
    (re.compile(r"^(DATETIME|TIMESTAMP)"), DataType.TIMESTAMP),
    (re.compile(r"^DATE\b"), DataType.DATE),
    (re.compile(r"^TIME\b"), DataType.TIME),
    (re.compile(r"^(DECIMAL|NUMERIC|NUMBER|MONEY)\b"), DataType.DECIMAL),
    (re.compile(r"^JSONB?\b"), DataType.JSON),
]


def affinity(declared: str) -> str:
    """The column affinity SQLite derives from a declared type, by its documented rules."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper.strip():
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def normalize_type(declared: str, *, strict: bool = False) -> DataType:
    """A normalized type family: the affinity decides, the name refines NUMERIC affinity.

    Affinity rules come first, quirks included (`POINT` contains "INT" and is an INTEGER column in
    SQLite). An empty declared type, or ANY in a STRICT table, holds any value: UNKNOWN.
    """
    upper = declared.strip().upper()
    if not upper or (strict and upper == "ANY"):
        return DataType.UNKNOWN
    found = affinity(upper)
    if found == "INTEGER":
        return DataType.INTEGER
    if found == "TEXT":
        return DataType.STRING
    if found == "BLOB":
        return DataType.BINARY
    if found == "REAL":
        return DataType.FLOAT
    for pattern, data_type in _NUMERIC_NAMES:
        if pattern.search(upper):
            return data_type
    return DataType.UNKNOWN
