"""Snowflake column types: the exact type text from SHOW COLUMNS' JSON, its family, and the
members of structured types as nested fields.

`SHOW COLUMNS` gives each column's type as JSON in the service's internal words
(`{"type":"FIXED","precision":10,"scale":2,"nullable":true}`, `{"type":"TEXT","length":20,...}`);
they are rendered in SQL words (`NUMBER(10,2)`, `VARCHAR(20)`) so the native type reads as DDL does.
The INFORMATION_SCHEMA fallback's rows are turned into the same JSON first (`type_from_columns`),
so both paths give the same text.

Structured types (`OBJECT(city VARCHAR, zip NUMBER)`, `ARRAY(OBJECT(...))`, `MAP(VARCHAR,
OBJECT(...))`) arrive either as that text or, in the result-metadata shape the connector documents,
as JSON with `fields`; an OBJECT's fields become children, an ARRAY's or a MAP's children are those
of its element or value type (through nested arrays and maps), as for every connector.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from metadata_pipelines.models import MAX_FIELD_DEPTH, ColumnMetadata, DataType

_FAMILY = {
    "FIXED": DataType.DECIMAL,
    "NUMBER": DataType.DECIMAL,
    "DECIMAL": DataType.DECIMAL,
    "NUMERIC": DataType.DECIMAL,
    "INT": DataType.INTEGER,
    "INTEGER": DataType.INTEGER,
    "BIGINT": DataType.INTEGER,
    "SMALLINT": DataType.INTEGER,
    "TINYINT": DataType.INTEGER,
    "BYTEINT": DataType.INTEGER,
    "REAL": DataType.FLOAT,
    "FLOAT": DataType.FLOAT,
    "DOUBLE": DataType.FLOAT,
    "TEXT": DataType.STRING,
    "VARCHAR": DataType.STRING,
    "CHAR": DataType.STRING,
    "STRING": DataType.STRING,
    "BINARY": DataType.BINARY,
    "VARBINARY": DataType.BINARY,
    "BOOLEAN": DataType.BOOLEAN,
    "DATE": DataType.DATE,
    "TIME": DataType.TIME,
    "TIMESTAMP_NTZ": DataType.TIMESTAMP,
    "TIMESTAMP_LTZ": DataType.TIMESTAMP,
    "TIMESTAMP_TZ": DataType.TIMESTAMP,
    "TIMESTAMP": DataType.TIMESTAMP,
    "DATETIME": DataType.TIMESTAMP,
    "VARIANT": DataType.JSON,
    "OBJECT": DataType.STRUCT,
    "ARRAY": DataType.ARRAY,
    "MAP": DataType.MAP,
    "GEOGRAPHY": DataType.GEOMETRY,
    "GEOMETRY": DataType.GEOMETRY,
    "VECTOR": DataType.ARRAY,
}
#: INFORMATION_SCHEMA's words for the JSON's internal ones.
_INTERNAL = {"NUMBER": "FIXED", "FLOAT": "REAL"}
#: Digits Snowflake gives a fractional-second type when the JSON leaves its scale out.
_DEFAULT_FRACTION = 9


class TypeSyntaxError(ValueError):
    """A type text this module cannot read (recorded as the column's native type, unparsed)."""


@dataclass(frozen=True)
class ColumnType:
    native_type: str
    data_type: DataType
    children: tuple[ColumnMetadata, ...] = ()


def family(word: str) -> DataType:
    return _FAMILY.get(word.upper(), DataType.UNKNOWN)


def parse_show_type(text: str | None) -> dict[str, Any]:
    """SHOW COLUMNS' `data_type` JSON; a bare type text (some services send one) as `{"type": t}`."""
    if not text:
        return {"type": "UNKNOWN"}
    try:
        value = json.loads(text)
    except ValueError:
        return {"type": text}
    return value if isinstance(value, dict) and "type" in value else {"type": text}


def type_from_columns(
    data_type: str, length: int | None, precision: int | None, scale: int | None
) -> dict[str, Any]:
    """An INFORMATION_SCHEMA.COLUMNS row's type as SHOW COLUMNS' JSON would give it."""
    word = _INTERNAL.get(data_type.upper(), data_type)
    spec: dict[str, Any] = {"type": word}
    if word == "FIXED":
        spec.update(precision=precision, scale=scale)
    elif word in ("TEXT", "BINARY") and length is not None:
        spec["length"] = length
    return spec


def column_type(spec: dict[str, Any]) -> ColumnType:
    """The exact type text, family and nested members of one column."""
    word = str(spec.get("type") or "UNKNOWN")
    if "(" in word:  # a structured type (or any parameterised one) given as text
        return _from_text(word)
    upper = word.upper()
    if upper in ("OBJECT", "ARRAY", "MAP") and spec.get("fields"):
        return _from_fields(upper, spec["fields"], 1)
    return ColumnType(_render(upper, spec), family(upper))


def _render(word: str, spec: dict[str, Any]) -> str:
    if word == "FIXED":
        precision, scale = spec.get("precision"), spec.get("scale")
        return f"NUMBER({precision},{scale})" if precision is not None else "NUMBER"
    if word == "TEXT":
        return f"VARCHAR({spec['length']})" if spec.get("length") else "VARCHAR"
    if word == "BINARY":
        return f"BINARY({spec['length']})" if spec.get("length") else "BINARY"
    if word == "REAL":
        return "FLOAT"
    if word in ("TIME", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ"):
        scale = spec.get("scale")
        return f"{word}({_DEFAULT_FRACTION if scale is None else scale})"
    if word == "VECTOR" and spec.get("dimension"):
        return f"VECTOR({spec.get('vectorType', 'FLOAT')}, {spec['dimension']})"
    return word


# Structured types given as JSON `fields` (the documented result-metadata shape) -----------------


def _from_fields(word: str, fields: list[dict[str, Any]], depth: int) -> ColumnType:
    if depth >= MAX_FIELD_DEPTH:
        raise TypeSyntaxError(f"structured type nested deeper than {MAX_FIELD_DEPTH} levels")
    if word == "OBJECT":
        members = []
        for position, field in enumerate(fields, 1):
            inner = _field_type(field, depth + 1)
            members.append(
                ColumnMetadata(
                    name=str(field.get("name")),
                    ordinal=position,
                    native_type=inner.native_type,
                    data_type=inner.data_type,
                    nullable=bool(field.get("nullable", True)),
                    children=inner.children,
                )
            )
        text = ", ".join(f"{_quote_member(m.name)} {m.native_type}" for m in members)
        return ColumnType(f"OBJECT({text})", DataType.STRUCT, tuple(members))
    inner_types = [_field_type(field, depth + 1) for field in fields]
    if word == "ARRAY" and len(inner_types) == 1:
        element = inner_types[0]
        return ColumnType(f"ARRAY({element.native_type})", DataType.ARRAY, element.children)
    if word == "MAP" and len(inner_types) == 2:
        key, value = inner_types
        return ColumnType(
            f"MAP({key.native_type}, {value.native_type})", DataType.MAP, value.children
        )
    raise TypeSyntaxError(f"{word} with {len(fields)} fields")


def _field_type(field: dict[str, Any], depth: int) -> ColumnType:
    word = str(field.get("type") or "UNKNOWN").upper()
    if word in ("OBJECT", "ARRAY", "MAP") and field.get("fields"):
        return _from_fields(word, field["fields"], depth)
    return ColumnType(_render(_INTERNAL.get(word, word), field), family(word))


# Structured types given as text: OBJECT(a VARCHAR(10) NOT NULL, "b c" ARRAY(NUMBER(38,0))) ------

_TOKEN = re.compile(r'\s*(?:(?P<quoted>"(?:[^"]|"")*")|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)|'
                    r"(?P<number>\d+)|(?P<punct>[(),]))")  # fmt: skip


def _from_text(text: str) -> ColumnType:
    parser = _TypeParser(text)
    result = parser.type_(1)
    parser.end()
    return result


class _TypeParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                if text[position:].strip():
                    raise TypeSyntaxError(f"unexpected {text[position:]!r} in type {text!r}")
                break
            kind = match.lastgroup or "punct"
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1].upper() != value):
            raise TypeSyntaxError(f"expected {value or 'more'} in type {self.text!r}")
        self.at += 1
        return token

    def end(self) -> None:
        if self.peek() is not None:
            raise TypeSyntaxError(f"trailing text in type {self.text!r}")

    def type_(self, depth: int) -> ColumnType:
        if depth >= MAX_FIELD_DEPTH:
            raise TypeSyntaxError(f"type nested deeper than {MAX_FIELD_DEPTH} levels")
        kind, word = self.take()
        if kind != "word":
            raise TypeSyntaxError(f"expected a type name in {self.text!r}")
        upper = word.upper()
        if upper == "DOUBLE" and self.peek() == ("word", "PRECISION"):
            self.take()
        if self.peek() != ("punct", "("):
            return ColumnType(upper, family(upper))
        self.take("(")
        if upper == "OBJECT":
            return self._object(depth)
        if upper == "ARRAY":
            element = self.type_(depth + 1)
            self._not_null()
            self.take(")")
            return ColumnType(f"ARRAY({element.native_type})", DataType.ARRAY, element.children)
        if upper == "MAP":
            key = self.type_(depth + 1)
            self.take(",")
            value = self.type_(depth + 1)
            self._not_null()
            self.take(")")
            return ColumnType(
                f"MAP({key.native_type}, {value.native_type})", DataType.MAP, value.children
            )
        arguments = []
        while True:
            arguments.append(self.take()[1])
            if self.take()[1] == ")":
                break
        return ColumnType(f"{upper}({','.join(arguments)})", family(upper))

    def _object(self, depth: int) -> ColumnType:
        members: list[ColumnMetadata] = []
        if self.peek() == ("punct", ")"):
            self.take(")")
            return ColumnType("OBJECT()", DataType.STRUCT)
        while True:
            kind, name = self.take()
            if kind == "quoted":
                name = name[1:-1].replace('""', '"')
            elif kind != "word":
                raise TypeSyntaxError(f"expected a field name in {self.text!r}")
            member = self.type_(depth + 1)
            nullable = not self._not_null()
            members.append(
                ColumnMetadata(
                    name=name,
                    ordinal=len(members) + 1,
                    native_type=member.native_type,
                    data_type=member.data_type,
                    nullable=nullable,
                    children=member.children,
                )
            )
            if self.take()[1] == ")":
                break
        text = ", ".join(
            f"{_quote_member(m.name)} {m.native_type}{'' if m.nullable else ' NOT NULL'}"
            for m in members
        )
        return ColumnType(f"OBJECT({text})", DataType.STRUCT, tuple(members))

    def _not_null(self) -> bool:
        if self.peek() is not None and self.peek()[1].upper() == "NOT":
            self.take("NOT")
            self.take("NULL")
            return True
        return False


def _quote_member(name: str) -> str:
    return (
        name
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name)
        else '"' + name.replace('"', '""') + '"'
    )
