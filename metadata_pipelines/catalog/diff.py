"""One diff of the rows the catalog holds against the rows it should hold, for assets and fields alike.

Rows are matched by key and compared by content hash: a desired row without a stored one is added, a
stored row that was soft-deleted comes back restored, a live one with another hash is changed, the
rest is unchanged. A stored live row that is no longer desired is removed unless `keep` protects it
(an extraction error covering its scope). Persistence writes from the diff, and its statistics and
change summary are read from it, so both kinds of row are classified by the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar


class StoredRow(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def deleted_at(self) -> datetime | None: ...


K = TypeVar("K", bound=Hashable)
D = TypeVar("D")
S = TypeVar("S", bound=StoredRow)


@dataclass(slots=True)
class RowDiff(Generic[K, D, S]):
    added: list[tuple[K, D]] = field(default_factory=list)
    changed: list[tuple[K, D, S]] = field(default_factory=list)
    restored: list[tuple[K, D, S]] = field(default_factory=list)
    unchanged: list[tuple[K, D, S]] = field(default_factory=list)
    removed: list[tuple[K, S]] = field(default_factory=list)
    #: Live stored rows not desired but protected by `keep`: left as they are.
    kept: list[tuple[K, S]] = field(default_factory=list)


def diff_rows(
    stored: Mapping[K, S],
    desired: Iterable[tuple[K, str, D]],
    keep: Callable[[K, S], bool] | None = None,
    *,
    removals: bool = True,
) -> RowDiff[K, D, S]:
    """Classify `desired` (key, content hash, row) against `stored` rows by key.

    With `removals=False` the stored rows are not scanned for removed ones: a batch of a streamed
    sync covers part of the source, so what it lacks is decided after the last batch."""
    diff: RowDiff[K, D, S] = RowDiff()
    seen: set[K] = set()
    for key, digest, row in desired:
        seen.add(key)
        old = stored.get(key)
        if old is None:
            diff.added.append((key, row))
        elif old.deleted_at is not None:
            diff.restored.append((key, row, old))
        elif old.content_hash != digest:
            diff.changed.append((key, row, old))
        else:
            diff.unchanged.append((key, row, old))
    if not removals:
        return diff
    for key, old in stored.items():
        if key in seen or old.deleted_at is not None:
            continue
        if keep is not None and keep(key, old):
            diff.kept.append((key, old))
        else:
            diff.removed.append((key, old))
    return diff
