"""The one diff persistence classifies assets and fields with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from metadata_pipelines.catalog.diff import diff_rows

GONE = datetime(2026, 1, 1, tzinfo=UTC)


class Row(NamedTuple):
    id: str
    content_hash: str
    deleted_at: datetime | None = None


STORED = {
    "same": Row("1", "h1"),
    "edited": Row("2", "h2"),
    "back": Row("3", "h3", GONE),
    "dropped": Row("4", "h4"),
    "protected": Row("5", "h5"),
    "long_gone": Row("6", "h6", GONE),
}


def test_every_row_is_classified_once():
    desired = [
        ("same", "h1", "a"),
        ("edited", "new", "b"),
        ("back", "h3", "c"),
        ("fresh", "x", "d"),
    ]

    diff = diff_rows(STORED, desired, keep=lambda key, _: key == "protected")

    assert diff.added == [("fresh", "d")]
    assert diff.changed == [("edited", "b", STORED["edited"])]
    assert diff.restored == [("back", "c", STORED["back"])]
    assert diff.unchanged == [("same", "a", STORED["same"])]
    assert diff.removed == [("dropped", STORED["dropped"])]
    assert diff.kept == [("protected", STORED["protected"])]


def test_without_keep_everything_unwanted_is_removed():
    diff = diff_rows(STORED, [])

    assert [key for key, _ in diff.removed] == ["same", "edited", "dropped", "protected"]
    assert diff.added == diff.changed == diff.restored == diff.unchanged == diff.kept == []
