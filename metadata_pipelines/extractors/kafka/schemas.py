"""Registry schemas (Avro, JSON Schema, Protobuf) as catalog fields.

`schema_fields` takes a schema's text, its type and its resolved references (the schemas it names,
each by the name the referencing schema uses for it) and returns the fields of the record it
describes. Avro goes through the shared mapping in `extractors/avro_fields.py`; Protobuf `.proto`
text is parsed by `proto-schema-parser`; JSON Schema is walked here (objects nest, arrays repeat,
`$ref` resolves inside the document and to referenced schemas).

A schema that is not a record (an Avro `"string"` key, a JSON Schema `{"type": "integer"}`) has no
fields: its type is returned as the native type, so a topic keyed by plain strings says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from antlr4.error.ErrorListener import ErrorListener
from proto_schema_parser import ast
from proto_schema_parser.parser import Parser

from metadata_pipelines.extractors.avro_fields import AvroSchema
from metadata_pipelines.models import MAX_FIELD_DEPTH, ColumnMetadata, DataType


class UnreadableSchema(ValueError):
    """A registered schema this connector cannot parse; reported as a warning on its topic."""


@dataclass(frozen=True)
class Reference:
    """A schema another schema references: the name it is referenced by, and its text."""

    name: str
    schema_type: str
    schema: str


@dataclass(frozen=True)
class MappedSchema:
    """A schema as fields: the record's fields (none for a scalar schema), its type and name."""

    native_type: str
    data_type: DataType
    columns: list[ColumnMetadata]
    record_name: str | None = None


def schema_fields(
    schema_type: str | None,
    text: str,
    references: Sequence[Reference] = (),
    message_index: Sequence[int] = (),
) -> MappedSchema:
    """The fields of a registered schema. `schema_type` is the registry's (None means AVRO);
    `message_index` picks a Protobuf message the way the wire format's index array does."""
    kind = (schema_type or "AVRO").upper()
    try:
        if kind == "AVRO":
            return _avro(text, references)
        if kind == "JSON":
            return _json_schema(text, references)
        if kind == "PROTOBUF":
            return _protobuf(text, references, message_index)
    except UnreadableSchema:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise UnreadableSchema(
            f"unreadable {kind} schema: {type(error).__name__}: {error}"
        ) from None
    raise UnreadableSchema(f"unknown schema type {schema_type!r}")


# Avro --------------------------------------------------------------------------------------------


def _avro(text: str, references: Sequence[Reference]) -> MappedSchema:
    names = AvroSchema()
    for reference in references:  # referenced named types first, so references to them resolve
        names.learn(json.loads(reference.schema))
    schema = json.loads(text)
    native, data_type, columns = names.columns(schema)
    record = None
    if isinstance(schema, dict) and schema.get("type") in ("record", "error"):
        record = names.full_name(schema, None)
    return MappedSchema(native, data_type, columns, record)


# JSON Schema -------------------------------------------------------------------------------------

_JSON_TYPES = {
    "string": DataType.STRING,
    "integer": DataType.INTEGER,
    "number": DataType.FLOAT,
    "boolean": DataType.BOOLEAN,
    "null": DataType.NULL,
    "object": DataType.STRUCT,
    "array": DataType.ARRAY,
}
_JSON_FORMATS = {
    "date-time": DataType.TIMESTAMP,
    "date": DataType.DATE,
    "time": DataType.TIME,
    "duration": DataType.INTERVAL,
}


class _JsonSchema:
    """Resolves `$ref` against the document and its references, then maps subschemas to fields."""

    def __init__(self, root: Any, references: Mapping[str, Any]) -> None:
        self.root = root
        self.references = references
        self.expanding: list[str] = []

    def resolve(self, ref: str, document: Any) -> tuple[Any, Any]:
        target, _, pointer = ref.partition("#")
        if target:
            if target not in self.references:
                raise UnreadableSchema(f"$ref {ref!r} names no referenced schema")
            document = self.references[target]
        node = document
        for part in [p for p in pointer.split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node, document

    def column(
        self, name: str, spec: Any, ordinal: int, required: bool, document: Any
    ) -> ColumnMetadata:
        native, data_type, children, nullable = self.type(spec, document)
        return ColumnMetadata(
            name=name,
            ordinal=ordinal,
            native_type=native,
            data_type=data_type,
            nullable=nullable or not required,
            comment=spec.get("description") if isinstance(spec, dict) else None,
            children=tuple(children),
        )

    def type(self, spec: Any, document: Any) -> tuple[str, DataType, list[ColumnMetadata], bool]:
        if spec is True or spec == {}:
            return "any", DataType.JSON, [], True
        if not isinstance(spec, dict):
            return "any", DataType.JSON, [], True
        if "$ref" in spec:
            ref = spec["$ref"]
            key = f"{id(document)}:{ref}"
            if key in self.expanding or len(self.expanding) >= MAX_FIELD_DEPTH - 2:
                return ref.rpartition("/")[2] or ref, DataType.STRUCT, [], True  # recursive
            target, target_document = self.resolve(ref, document)
            self.expanding.append(key)
            try:
                return self.type(target, target_document)
            finally:
                self.expanding.pop()
        if "allOf" in spec:
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in spec["allOf"]:
                while isinstance(part, dict) and "$ref" in part:
                    part, document = self.resolve(part["$ref"], document)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            merged["properties"].update(spec.get("properties", {}))
            merged["required"] += spec.get("required", [])
            return self.type(merged, document)
        for keyword in ("oneOf", "anyOf"):
            if keyword in spec:
                branches = spec[keyword]
                non_null = [
                    b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")
                ]
                if len(non_null) == 1:
                    native, data_type, children, _ = self.type(non_null[0], document)
                    return native, data_type, children, len(non_null) < len(branches)
                natives = [self.type(b, document)[0] for b in branches]
                return f"{keyword}<{','.join(natives)}>", DataType.JSON, [], True
        kinds = spec.get("type")
        if kinds is None:
            kinds = "object" if "properties" in spec else ("array" if "items" in spec else None)
        if kinds is None:
            if "enum" in spec or "const" in spec:
                return "enum", DataType.ENUM, [], False
            return "any", DataType.JSON, [], True
        nullable = False
        if isinstance(kinds, list):
            nullable = "null" in kinds
            rest = [k for k in kinds if k != "null"]
            if len(rest) != 1:
                return "|".join(sorted(rest)) or "null", DataType.JSON, [], nullable
            kinds = rest[0]
        if kinds == "object":
            properties = spec.get("properties") or {}
            if not properties and isinstance(spec.get("additionalProperties"), dict):
                value = self.column("value", spec["additionalProperties"], 2, False, document)
                key = ColumnMetadata(
                    name="key",
                    ordinal=1,
                    native_type="string",
                    data_type=DataType.STRING,
                    nullable=False,
                )
                return f"map<string,{value.native_type}>", DataType.MAP, [key, value], nullable
            required = set(spec.get("required", []))
            children = [
                self.column(name, sub, ordinal, name in required, document)
                for ordinal, (name, sub) in enumerate(properties.items(), start=1)
            ]
            return "object", DataType.STRUCT, children, nullable
        if kinds == "array":
            items = spec.get("items", {})
            native, _, children, _ = self.type(items, document)
            return f"array<{native}>", DataType.ARRAY, children, nullable
        fmt = spec.get("format")
        if kinds == "string" and fmt in _JSON_FORMATS:
            return f"string({fmt})", _JSON_FORMATS[fmt], [], nullable
        if "enum" in spec:
            return f"enum<{','.join(map(str, spec['enum']))}>", DataType.ENUM, [], nullable
        return str(kinds), _JSON_TYPES.get(str(kinds), DataType.UNKNOWN), [], nullable


def _json_schema(text: str, references: Sequence[Reference]) -> MappedSchema:
    root = json.loads(text)
    documents = {r.name: json.loads(r.schema) for r in references}
    walker = _JsonSchema(root, documents)
    native, data_type, columns, _ = walker.type(root, root)
    title = root.get("title") if isinstance(root, dict) else None
    return MappedSchema(native, data_type, columns, title)


# Protobuf ----------------------------------------------------------------------------------------

_PROTO_SCALARS = {
    "double": DataType.FLOAT,
    "float": DataType.FLOAT,
    "int32": DataType.INTEGER,
    "int64": DataType.INTEGER,
    "uint32": DataType.INTEGER,
    "uint64": DataType.INTEGER,
    "sint32": DataType.INTEGER,
    "sint64": DataType.INTEGER,
    "fixed32": DataType.INTEGER,
    "fixed64": DataType.INTEGER,
    "sfixed32": DataType.INTEGER,
    "sfixed64": DataType.INTEGER,
    "bool": DataType.BOOLEAN,
    "string": DataType.STRING,
    "bytes": DataType.BINARY,
}
#: Well-known types whose meaning is a scalar, not their message shape.
_PROTO_WELL_KNOWN = {
    "google.protobuf.Timestamp": DataType.TIMESTAMP,
    "google.protobuf.Duration": DataType.INTERVAL,
    "google.protobuf.Struct": DataType.JSON,
    "google.protobuf.Value": DataType.JSON,
    "google.protobuf.Any": DataType.BINARY,
    "google.protobuf.StringValue": DataType.STRING,
    "google.protobuf.BytesValue": DataType.BINARY,
    "google.protobuf.BoolValue": DataType.BOOLEAN,
    "google.protobuf.DoubleValue": DataType.FLOAT,
    "google.protobuf.FloatValue": DataType.FLOAT,
    "google.protobuf.Int32Value": DataType.INTEGER,
    "google.protobuf.Int64Value": DataType.INTEGER,
    "google.protobuf.UInt32Value": DataType.INTEGER,
    "google.protobuf.UInt64Value": DataType.INTEGER,
    "google.type.Date": DataType.DATE,
    "google.type.Decimal": DataType.DECIMAL,
}


class _RaiseOnSyntaxError(ErrorListener):
    """ANTLR's default listener prints syntax errors and recovers; a schema with one is unreadable."""

    def syntaxError(
        self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise UnreadableSchema(f"Protobuf syntax error at line {line}:{column}: {msg}")


def _strict(recognizer: Any) -> None:
    recognizer.removeErrorListeners()
    recognizer.addErrorListener(_RaiseOnSyntaxError())


def _parse_proto(text: str) -> ast.File:
    try:
        return Parser(setup_lexer=_strict, setup_parser=_strict).parse(text)
    except UnreadableSchema:
        raise
    except Exception as error:  # the parser raises its own and ANTLR's error types
        raise UnreadableSchema(f"unreadable Protobuf schema: {error}") from None


class _ProtoTypes:
    """Every message and enum of a file and its references, by full name."""

    def __init__(self) -> None:
        self.types: dict[str, ast.Message | ast.Enum] = {}
        self.expanding: set[str] = set()

    def add_file(self, file: ast.File) -> list[str]:
        """Registers the file's types; returns its top-level message names in order."""
        package = next((e.name for e in file.file_elements if isinstance(e, ast.Package)), "")
        top: list[str] = []
        for element in file.file_elements:
            if isinstance(element, ast.Message | ast.Enum):
                name = f"{package}.{element.name}" if package else element.name
                self._add(name, element)
                if isinstance(element, ast.Message):
                    top.append(name)
        return top

    def _add(self, name: str, element: ast.Message | ast.Enum) -> None:
        self.types[name] = element
        if isinstance(element, ast.Message):
            for inner in element.elements:
                if isinstance(inner, ast.Message | ast.Enum):
                    self._add(f"{name}.{inner.name}", inner)

    def lookup(self, type_name: str, scope: str) -> tuple[str, ast.Message | ast.Enum] | None:
        """Protobuf's scoping: innermost enclosing scope first, then outwards; a leading dot is
        absolute."""
        if type_name.startswith("."):
            full = type_name[1:]
            return (full, self.types[full]) if full in self.types else None
        parts = scope.split(".") if scope else []
        while True:
            candidate = ".".join([*parts, type_name])
            if candidate in self.types:
                return candidate, self.types[candidate]
            if not parts:
                return None
            parts.pop()

    def message_columns(self, name: str, message: ast.Message) -> list[ColumnMetadata]:
        self.expanding.add(name)
        columns: list[ColumnMetadata] = []

        def add(field: Any, in_oneof: str | None) -> None:
            columns.append(self.field(field, len(columns) + 1, name, in_oneof))

        for element in message.elements:
            if isinstance(element, ast.Field | ast.MapField):
                add(element, None)
            elif isinstance(element, ast.OneOf):
                for inner in element.elements:
                    if isinstance(inner, ast.Field):
                        add(inner, element.name)
        self.expanding.discard(name)
        return columns

    def field(self, field: Any, ordinal: int, scope: str, oneof: str | None) -> ColumnMetadata:
        properties: dict[str, Any] = {"field_number": field.number}
        if oneof:
            properties["oneof"] = oneof
        if any(o.name == "deprecated" and o.value is True for o in field.options):
            properties["deprecated"] = True
        if isinstance(field, ast.MapField):
            key_native, key_type, _ = self.type(field.key_type, scope)
            value_native, value_type, value_children = self.type(field.value_type, scope)
            children = (
                ColumnMetadata(
                    name="key",
                    ordinal=1,
                    native_type=key_native,
                    data_type=key_type,
                    nullable=False,
                ),
                ColumnMetadata(
                    name="value",
                    ordinal=2,
                    native_type=value_native,
                    data_type=value_type,
                    children=tuple(value_children),
                ),
            )
            return ColumnMetadata(
                name=field.name,
                ordinal=ordinal,
                native_type=f"map<{key_native},{value_native}>",
                data_type=DataType.MAP,
                nullable=False,
                children=children,
                properties=properties,
            )
        native, data_type, children = self.type(field.type, scope)
        cardinality = field.cardinality.value if field.cardinality else None
        if cardinality == "REPEATED":
            native, data_type = f"repeated {native}", DataType.ARRAY
        # proto3: scalars always have a value; messages, `optional` and oneof members may be unset.
        nullable = bool(oneof) or cardinality == "OPTIONAL" or data_type is DataType.STRUCT
        return ColumnMetadata(
            name=field.name,
            ordinal=ordinal,
            native_type=native,
            data_type=data_type,
            nullable=nullable,
            children=tuple(children),
            properties=properties,
        )

    def type(self, type_name: str, scope: str) -> tuple[str, DataType, list[ColumnMetadata]]:
        if type_name in _PROTO_SCALARS:
            return type_name, _PROTO_SCALARS[type_name], []
        stripped = type_name.lstrip(".")
        if stripped in _PROTO_WELL_KNOWN:
            return stripped, _PROTO_WELL_KNOWN[stripped], []
        found = self.lookup(type_name, scope)
        if found is None:
            return type_name, DataType.UNKNOWN, []
        full, element = found
        if isinstance(element, ast.Enum):
            return f"enum {full}", DataType.ENUM, []
        if full in self.expanding or len(self.expanding) >= MAX_FIELD_DEPTH - 2:
            return full, DataType.STRUCT, []  # a recursive message lists no children
        return full, DataType.STRUCT, self.message_columns(full, element)


def _protobuf(
    text: str, references: Sequence[Reference], message_index: Sequence[int]
) -> MappedSchema:
    types = _ProtoTypes()
    for reference in references:
        types.add_file(_parse_proto(reference.schema))
    file = _parse_proto(text)
    top = types.add_file(file)
    if not top:
        raise UnreadableSchema("the Protobuf schema defines no message")
    indexes = list(message_index) or [0]
    try:
        name = top[indexes[0]]
        message = types.types[name]
        for index in indexes[1:]:
            nested = [e for e in message.elements if isinstance(e, ast.Message)]
            message = nested[index]
            name = f"{name}.{message.name}"
    except IndexError:
        raise UnreadableSchema(f"message index {indexes} is not in the schema") from None
    assert isinstance(message, ast.Message)
    return MappedSchema(name, DataType.STRUCT, types.message_columns(name, message), name)
