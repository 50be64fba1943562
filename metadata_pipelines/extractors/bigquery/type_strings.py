"""Parses GoogleSQL type strings (`INFORMATION_SCHEMA.COLUMNS.data_type`) into field resources.

`STRUCT<city STRING(10), geo ARRAY<STRUCT<lat FLOAT64>>>` becomes the same shape as the REST API's
`TableFieldSchema` (name, type, mode, fields, maxLength, precision, scale, rangeElementType), so
that one mapper serves both the INFORMATION_SCHEMA path and the `tables.get` fallback, and a table
maps to identical models whichever path read it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

FieldResource = dict[str, Any]

_TOKEN = re.compile(r"\s*(?:(`(?:[^`\\]|\\.)*`)|([A-Za-z_][A-Za-z0-9_]*)|(\d+)|(.))")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


class TypeStringError(ValueError):
    pass


class _Tokens:
    def __init__(self, text: str) -> None:
        self.text = text
        self.items: list[str] = []
        position = 0
        while position < len(text):
            if text[position].isspace():
                position += 1
                continue
            quoted = _QUOTED.match(text, position)
            if quoted:  # a COLLATE or OPTIONS literal: kept whole
                self.items.append(quoted.group())
                position = quoted.end()
                continue
            match = _TOKEN.match(text, position)
            if match is None:  # pragma: no cover - every character matches `.`
                raise TypeStringError(f"cannot read type {text!r}")
            self.items.append(match.group().strip())
            position = match.end()
        self.index = 0

    def peek(self) -> str | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise TypeStringError(
                f"expected {expected or 'a token'} in type {self.text!r}, found {token!r}"
            )
        self.index += 1
        return token


def parse_type(type_string: str, name: str = "") -> FieldResource:
    """One field resource for a column `name` whose GoogleSQL type is `type_string`.

    Parsed once per distinct type string (wide tables repeat a few types); do not mutate the result.
    """
    return _parsed(type_string, name)


@functools.lru_cache(maxsize=8192)
def _parsed(type_string: str, name: str) -> FieldResource:
    tokens = _Tokens(type_string)
    field = _field_type(tokens, name)
    if tokens.peek() is not None:
        raise TypeStringError(f"unexpected {tokens.peek()!r} in type {type_string!r}")
    return field


def _field_type(tokens: _Tokens, name: str) -> FieldResource:
    kind = tokens.take().upper()
    if kind == "ARRAY":
        tokens.take("<")
        element = _field_type(tokens, name)
        tokens.take(">")
        element["mode"] = "REPEATED"
        return element
    field: FieldResource = {"name": name, "type": kind, "mode": "NULLABLE"}
    if kind == "STRUCT":
        tokens.take("<")
        members = []
        while True:
            member_name = tokens.take()
            if member_name.startswith("`"):
                member_name = member_name[1:-1].replace("\\`", "`")
            member = _field_type(tokens, member_name)
            _modifiers(tokens, member)
            members.append(member)
            if tokens.peek() == ",":
                tokens.take()
                continue
            tokens.take(">")
            break
        field["fields"] = members
    elif kind == "RANGE":
        tokens.take("<")
        field["rangeElementType"] = {"type": tokens.take().upper()}
        tokens.take(">")
    elif tokens.peek() == "(":
        tokens.take()
        numbers = [tokens.take()]
        while tokens.peek() == ",":
            tokens.take()
            numbers.append(tokens.take())
        tokens.take(")")
        if kind in {"STRING", "BYTES"}:
            field["maxLength"] = numbers[0]
        else:
            field["precision"] = numbers[0]
            if len(numbers) > 1:
                field["scale"] = numbers[1]
    return field


def _modifiers(tokens: _Tokens, member: FieldResource) -> None:
    """`NOT NULL`, `COLLATE 'und:ci'`, `OPTIONS(...)` after a struct member's type."""
    while (token := tokens.peek()) is not None and token not in {",", ">"}:
        word = tokens.take().upper()
        if word == "NOT" and (tokens.peek() or "").upper() == "NULL":
            tokens.take()
            if member.get("mode") != "REPEATED":
                member["mode"] = "REQUIRED"
        elif word == "COLLATE" and tokens.peek():
            member["collation"] = tokens.take().strip("'\"")
        elif word == "OPTIONS" and tokens.peek() == "(":
            depth = 0
            while (part := tokens.take()) is not None:
                depth += part == "("
                depth -= part == ")"
                if depth == 0:
                    break
