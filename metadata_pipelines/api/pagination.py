"""Opaque keyset cursors: the position after a page's last item, as url-safe base64 JSON.

Clients pass `next_cursor` back unchanged; its content is not part of the API and may change.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from metadata_pipelines.api.problems import ApiProblem

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[
    str | None,
    Query(max_length=4096, description="`next_cursor` of the previous page; omit for the first."),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(position: dict[str, str]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: tuple[str, ...]) -> dict[str, str]:
    """The position in `cursor`, which must hold exactly `keys` as strings; else a 400 problem."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position: Any = json.loads(raw)
    except (binascii.Error, ValueError):
        position = None
    if (
        not isinstance(position, dict)
        or set(position) != set(keys)
        or not all(isinstance(value, str) for value in position.values())
    ):
        raise ApiProblem(
            400, "invalid_cursor", "Invalid cursor", "pass back a next_cursor unchanged"
        )
    return position


def paginate(
    items: list[T], limit: int, position: Callable[[T], dict[str, str]]
) -> tuple[list[T], str | None]:
    """The page and the cursor after it, from `limit + 1` fetched items (the extra one only tells
    that there is more); no cursor on the last page."""
    if len(items) <= limit:
        return items, None
    return items[:limit], encode_cursor(position(items[limit - 1]))
