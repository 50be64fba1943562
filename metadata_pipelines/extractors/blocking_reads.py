"""Blocking driver reads run from an extractor's async stream, and how a stream stops them.

The SQL drivers (PyMySQL, psycopg2) block, so a stream runs each read in a worker thread. When
the stream ends early (a terminate cancels it, or its consumer stops), a read may still be
running there: the stream must stop its statement on the server, or the connection stays busy
until the statement ends on its own (minutes for a slow catalog query), and must not close the
connection under the thread's feet.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable, Collection
from typing import Any, TypeVar

_T = TypeVar("_T")

#: Seconds between two interruptions of the reads being stopped.
INTERRUPT_INTERVAL = 0.5


def in_thread(function: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
    """`function(*args)` in a worker thread, as `asyncio.to_thread` runs it, but as a plain future
    rather than a task: a terminate that cancels every task of the loop leaves it running, so the
    stream can still wait for it to end."""
    call = functools.partial(contextvars.copy_context().run, function, *args)
    return asyncio.get_running_loop().run_in_executor(None, call)


async def stop_reads(reads: Collection[asyncio.Future[Any]], interrupt: Callable[[], None]) -> None:
    """Call `interrupt` (which stops the reads' statements on the server) until every read has
    returned, every `INTERRUPT_INTERVAL` seconds: a statement sent just after an interruption
    would run on. The reads' own outcomes no longer matter."""
    while running := [read for read in reads if not read.done()]:
        await asyncio.to_thread(interrupt)
        await asyncio.wait(running, timeout=INTERRUPT_INTERVAL)
    for read in reads:
        with contextlib.suppress(BaseException):
            read.result()
