"""Include / exclude name patterns, validated the same way in every connector's config."""

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
