"""Validates JSON values against the OpenAPI 3.0 schemas of a spec, so a fake cannot drift from it.

Only the keywords the Unity Catalog spec uses are implemented; an unknown keyword is an error rather
than silently ignored, so a newer spec cannot weaken the checks without anyone noticing.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).with_name("unity_catalog_openapi.yaml")

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_KNOWN = {
    "$ref",
    "type",
    "format",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "maxItems",
    "minLength",
    "maxLength",
    "description",
    "default",
    "example",
    "x-enum-descriptions",
    "maximum",
    "minimum",
}


@functools.lru_cache(maxsize=4)
def _read_spec(path: Path) -> dict[str, Any]:
    """Parsed once per process: the spec is read-only and every fake server uses it."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


class SpecViolation(AssertionError):
    """A value does not match its schema; `problems` lists each mismatch with its JSON path."""

    def __init__(self, what: str, problems: list[str]) -> None:
        super().__init__(f"{what} violates the spec: " + "; ".join(problems[:10]))
        self.problems = problems


class OpenApiValidator:
    def __init__(self, spec: dict[str, Any], *, closed_objects: bool = True) -> None:
        self.spec = spec
        self.closed_objects = closed_objects

    @classmethod
    def load(cls, path: Path = SPEC_PATH, **options: Any) -> OpenApiValidator:
        return cls(_read_spec(path), **options)

    # -- operations -----------------------------------------------------------------------------

    def operation(self, path: str, method: str) -> dict[str, Any]:
        return self.spec["paths"][path][method.lower()]

    def response_schema(self, path: str, method: str, status: str = "200") -> dict[str, Any]:
        response = self.operation(path, method)["responses"][status]
        return response["content"]["application/json"]["schema"]

    def query_parameters(self, path: str, method: str) -> dict[str, dict[str, Any]]:
        """name -> parameter object, for the path-level and operation-level query parameters."""
        item = self.spec["paths"][path]
        params = [*item.get("parameters", []), *self.operation(path, method).get("parameters", [])]
        return {p["name"]: p for p in params if p.get("in") == "query"}

    def check_response(self, path: str, method: str, body: Any) -> None:
        self.check(body, self.response_schema(path, method), f"{method.upper()} {path} response")

    # -- schemas --------------------------------------------------------------------------------

    def check(self, value: Any, schema: dict[str, Any], what: str = "value") -> None:
        problems = self.problems(value, schema)
        if problems:
            raise SpecViolation(what, problems)

    def problems(self, value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
        schema = self._resolve(schema)
        unknown = set(schema) - _KNOWN
        if unknown:
            return [f"{where}: schema uses unsupported keywords {sorted(unknown)}"]
        kind = schema.get("type")
        if kind is None and "properties" in schema:
            kind = "object"
        checker = {
            "object": self._object,
            "array": self._array,
            "string": self._string,
            "integer": self._integer,
            "number": self._number,
            "boolean": self._boolean,
            None: lambda v, s, w: [],
        }.get(kind)
        if checker is None:
            return [f"{where}: schema type {kind!r} is not supported"]
        found = checker(value, schema, where)
        if not found and "enum" in schema and value not in schema["enum"]:
            found = [f"{where}: {value!r} is not one of {schema['enum']}"]
        return found

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $ref is supported, got {ref!r}")
            target: Any = self.spec
            for part in ref[2:].split("/"):
                target = target[part]
            schema = target
            seen += 1
            if seen > 50:
                raise ValueError(f"$ref loop at {ref!r}")
        return schema

    def _object(self, value: Any, schema: dict[str, Any], where: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        found: list[str] = []
        properties: dict[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{where}: missing required field {name!r}")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                found += self.problems(item, properties[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                found += self.problems(item, extra, f"{where}.{key}")
            elif extra is False or (extra is None and self.closed_objects and properties):
                found.append(f"{where}: field {key!r} is not in the spec")
        return found

    def _array(self, value: Any, schema: dict[str, Any], where: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{where}: expected an array, got {type(value).__name__}"]
        found: list[str] = []
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{where}: more than {schema['maxItems']} items")
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                found += self.problems(item, items, f"{where}[{index}]")
        return found

    @staticmethod
    def _string(value: Any, schema: dict[str, Any], where: str) -> list[str]:
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {type(value).__name__}"]
        if len(value) < schema.get("minLength", 0):
            return [f"{where}: shorter than {schema['minLength']}"]
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return [f"{where}: longer than {schema['maxLength']}"]
        return []

    @staticmethod
    def _integer(value: Any, schema: dict[str, Any], where: str) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: expected an integer, got {type(value).__name__}"]
        low, high = _INT_RANGES.get(schema.get("format", ""), (None, None))
        if low is not None and not low <= value <= high:  # type: ignore[operator]
            return [f"{where}: {value} is out of range for {schema['format']}"]
        return []

    @staticmethod
    def _number(value: Any, schema: dict[str, Any], where: str) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{where}: expected a number, got {type(value).__name__}"]
        return []

    @staticmethod
    def _boolean(value: Any, schema: dict[str, Any], where: str) -> list[str]:
        if not isinstance(value, bool):
            return [f"{where}: expected a boolean, got {type(value).__name__}"]
        return []
