"""Text the catalog can store: PostgreSQL's `text` and `jsonb` hold no NUL character (U+0000).

A source may hand over one anyway (a MariaDB comment, a default value, a SQLite string). Rather than
let one odd value fail the whole persist, every NUL is replaced by U+FFFD and the result carries a
warning naming each asset that held one.
"""

from __future__ import annotations

from typing import Any, TypeVar

from metadata_pipelines.catalog.prepared_batch import PreparedBatch
from metadata_pipelines.models import (
    ExtractionBatch,
    ExtractionError,
    ExtractionResult,
    Severity,
    qualified_name,
)

Handed = TypeVar("Handed", ExtractionResult, ExtractionBatch)

UNSTORABLE = "unstorable_text"
NUL = "\x00"
REPLACEMENT = "\ufffd"
_ASSET_LISTS = ("databases", "schemas", "tables", "routines")
_PATH_KEYS = ("database", "schema_name", "name")


def storable(result: Handed) -> tuple[Handed, list[str]]:
    """(the result with every NUL replaced, qualified names of the assets that held one)."""
    if "\\u0000" not in result.model_dump_json():  # the common case: one fast scan, no copy
        return result, []
    data = result.model_dump()
    cleaned: list[str] = []
    warnings: list[ExtractionError] = []
    for kind in _ASSET_LISTS:
        for index, item in enumerate(data[kind]):
            item, changed = _replace(item)
            if not changed:
                continue
            data[kind][index] = item
            path = tuple(item[key] for key in _PATH_KEYS if item.get(key) is not None)
            cleaned.append(qualified_name(path))
            warnings.append(
                ExtractionError(
                    scope=path,
                    message=(
                        f"{kind[:-1]} {qualified_name(path)} holds NUL characters, which the "
                        "catalog cannot store; they were replaced by U+FFFD"
                    ),
                    severity=Severity.WARNING,
                    code=UNSTORABLE,
                )
            )
    data["errors"] = [_replace(error)[0] for error in data["errors"]] + [
        warning.model_dump() for warning in warnings
    ]
    return type(result).model_validate(data), cleaned


def storable_batch(
    batch: ExtractionBatch | PreparedBatch,
) -> tuple[ExtractionBatch | PreparedBatch, list[str]]:
    """`storable` for a batch as handed over: a prepared one is parsed only if it holds a NUL."""
    if isinstance(batch, PreparedBatch):
        if not batch.holds_nul:
            return batch, []
        batch = batch.load()
    return storable(batch)


def _replace(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return (value.replace(NUL, REPLACEMENT), True) if NUL in value else (value, False)
    if isinstance(value, dict):
        pairs = [(_replace(key), _replace(item)) for key, item in value.items()]
        changed = any(k[1] or v[1] for k, v in pairs)
        return ({k[0]: v[0] for k, v in pairs}, changed) if changed else (value, False)
    if isinstance(value, list | tuple):
        items = [_replace(item) for item in value]
        changed = any(flag for _, flag in items)
        if not changed:
            return value, False
        return type(value)(item for item, _ in items), True
    return value, False
