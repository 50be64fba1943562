"""Include / exclude name patterns, validated and applied the same way in every connector's config;
and the loopback test that lets a connector accept plain http for a local test server only."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid regular expression {pattern!r}: {error}") from None
    return pattern


NamePattern = Annotated[str, Field(min_length=1), AfterValidator(_compiles)]
"""A Python regular expression matched against a whole name (`re.fullmatch`)."""


class NameFilter:
    """Include / exclude patterns: a name passes when it matches an include (or there are none)
    and no exclude; each pattern is tried against every given form of the name (short and full)."""

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self._include = [re.compile(p) for p in include]
        self._exclude = [re.compile(p) for p in exclude]

    def allows(self, *names: str) -> bool:
        def hit(patterns: list[re.Pattern[str]]) -> bool:
            return any(p.fullmatch(name) for p in patterns for name in names)

        if self._include and not hit(self._include):
            return False
        return not hit(self._exclude)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
