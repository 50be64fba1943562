"""Include / exclude name patterns, validated and applied the same way in every connector.

A pattern is a Python regular expression matched against a whole name (`re.fullmatch`), so `sales`
selects `sales` and not `sales_archive`. A connector tries each pattern against every form of a name
it knows (`orders`, `shop.orders`, ...), so a pattern can be as narrow as needed.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid regular expression {pattern!r}: {error}") from None
    return pattern


NamePattern = Annotated[str, Field(min_length=1), AfterValidator(_compiles)]
"""A Python regular expression matched against a whole name (`re.fullmatch`)."""

Patterns = list[NamePattern]
"""A config field of include or exclude patterns."""


class NameFilter:
    """A name passes when some form of it matches an include pattern (or there are none) and no
    form matches an exclude pattern."""

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self._include = [re.compile(p) for p in include]
        self._exclude = [re.compile(p) for p in exclude]

    def allows(self, *names: str) -> bool:
        def hit(patterns: list[re.Pattern[str]]) -> bool:
            return any(p.fullmatch(name) for p in patterns for name in names)

        if self._include and not hit(self._include):
            return False
        return not hit(self._exclude)
