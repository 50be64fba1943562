"""Validates JSON values against the schemas of a Google API discovery document (bigquery.v2.json).

The discovery format is JSON-Schema-like: `$ref` names a schema, `format: int64` values travel as
strings, `type: any` accepts anything. Objects are closed: a field the document does not declare is
a drift, not a silent extra. The document comes from google-api-python-client (a pinned dev
dependency), so the BigQuery fake is checked against Google's own description of the API.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

_STRING_FORMATS = {"int64", "uint64", "byte", "date-time", "google-datetime", "google-duration",
                   "google-fieldmask", "date"}  # fmt: skip
_KNOWN = {"id", "type", "properties", "items", "$ref", "additionalProperties", "format", "enum",
          "description", "readOnly", "annotations", "deprecated", "enumDescriptions",
          "enumDeprecated", "default", "pattern", "location", "required"}  # fmt: skip


@functools.lru_cache(maxsize=2)
def discovery_document(name: str = "bigquery.v2.json") -> dict[str, Any]:
    package = resources.files("googleapiclient") / "discovery_cache" / "documents" / name
    return json.loads(package.read_text(encoding="utf-8"))


class DiscoveryViolation(AssertionError):
    def __init__(self, what: str, problems: list[str]) -> None:
        super().__init__(f"{what} violates bigquery.v2.json: " + "; ".join(problems[:10]))
        self.problems = problems


class DiscoveryValidator:
    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document or discovery_document()
        self.schemas: dict[str, Any] = self.document["schemas"]

    def check(self, value: Any, schema_name: str, what: str | None = None) -> None:
        problems = self.problems(value, {"$ref": schema_name})
        if problems:
            raise DiscoveryViolation(what or schema_name, problems)

    def problems(self, value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        unknown = set(schema) - _KNOWN
        if unknown:
            return [f"{where}: unsupported keywords {sorted(unknown)}"]
        kind = schema.get("type")
        if kind == "any" or (kind is None and "properties" not in schema):
            return []
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(value, schema, where)
        if kind == "array":
            if not isinstance(value, list):
                return [f"{where}: expected an array, got {type(value).__name__}"]
            found: list[str] = []
            for index, item in enumerate(value):
                found += self.problems(item, schema.get("items", {}), f"{where}[{index}]")
            return found
        if kind == "string":
            if not isinstance(value, str):
                return [f"{where}: expected a string, got {type(value).__name__}"]
            if "enum" in schema and value not in schema["enum"]:
                return [f"{where}: {value!r} is not one of {schema['enum']}"]
            return []
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return [f"{where}: expected an integer, got {type(value).__name__}"]
            return []
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return [f"{where}: expected a number, got {type(value).__name__}"]
            return []
        if kind == "boolean":
            return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
        return [f"{where}: unsupported type {kind!r}"]

    def _object(self, value: Any, schema: dict[str, Any], where: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        found: list[str] = []
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                found += self.problems(item, properties[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                found += self.problems(item, extra, f"{where}.{key}")
            else:
                found.append(f"{where}: field {key!r} is not in the document")
        return found
