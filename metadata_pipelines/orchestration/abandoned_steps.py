"""Closing an op's generator that Dagster stops iterating because an output could not be stored.

When an IO manager's `handle_output` raises, Dagster fails the step but never closes the op's
generator: it stays suspended at its `yield` until the garbage collector finds it, which in a
long-lived process (an in-process run, a test session) can be minutes or never. Everything the
op holds across that `yield` stays open meanwhile: the source's connection, the thread renewing
the connector run's lease, the collector settings of `fewer_collections`, the log context.

So a generator op runs its body through `closed_if_abandoned`, and the IO manager calls
`close_abandoned` before it fails the step: the body gets `GeneratorExit` at its `yield` and
unwinds its `with` blocks at once, as it would had Dagster closed it.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any, TypeVar

import dagster as dg

logger = logging.getLogger(__name__)

_Yielded = TypeVar("_Yielded")

#: The bodies now running, by (run id, step key).
_running: dict[tuple[str, str], Generator[Any, None, None]] = {}


def closed_if_abandoned(
    context: dg.OpExecutionContext, body: Generator[_Yielded, None, None]
) -> Generator[_Yielded, None, None]:
    """`body`'s items, with `body` closed by `close_abandoned` if an output of the step fails."""
    key = (context.run_id, context.get_step_execution_context().step.key)
    _running[key] = body
    try:
        yield from body
    finally:
        if _running.get(key) is body:
            del _running[key]


def close_abandoned(context: dg.OutputContext) -> None:
    """Close the body of the step whose output failed, if it is a running generator op."""
    body = _running.pop((context.run_id, context.step_key), None)
    if body is None:
        return
    try:
        body.close()
    except Exception:  # its cleanup failed: the output's failure is the one to report
        logger.warning("closing step %s after its output failed", context.step_key, exc_info=True)
