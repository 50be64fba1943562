"""Fewer garbage collections while a sync builds and writes a large source's models.

CPython's cyclic collector runs a young collection after every 700 net allocations of container
objects, and older collections walk every object that survived, the Dagster and library objects a
step process holds included. Mapping a million columns into models triggers thousands of them:
measured on the MySQL mapper, they took two thirds of its time. During a sync step (and any
persist, whoever calls it), what existed before it is frozen (`gc.freeze`: moved out of the collector's view) and young collections run every
`YOUNG_THRESHOLD` allocations. Reference cycles are still collected, in larger rounds.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect less often inside the block (re-entrant: the outermost block restores)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(YOUNG_THRESHOLD, _saved[1], _saved[2])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
