"""A fake Databricks workspace: a real HTTP server on a loopback port, for tests and benchmarks.

It serves the Unity Catalog list/get endpoints the connector uses, the OAuth M2M token endpoint, the
SQL Statement Execution API and GET of a SQL warehouse, and it can misbehave on demand (latency, 429
with and without Retry-After, 503, 401, 403, 404 mid-listing, dropped connections, malformed bodies).

Every successful JSON body is validated against the Unity Catalog OpenAPI spec before it is sent
(the Statement and Warehouses APIs, absent from that spec, against the schemas below, transcribed from the Databricks
SDK's `service/sql.py`); a body that does not match is recorded in `violations` and answered as HTTP
500, so a test built on a fake that drifted from the API fails loudly. Query parameters are checked
against the spec too (plus the few extra ones the Databricks SDK sends, `SDK_EXTRA_QUERY`).

Statements are really executed: each catalog's information_schema views are SQLite tables, and the
statement's `` `catalog`.information_schema.view `` references are rewritten to them.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import secrets
import sqlite3
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from metadata_pipelines_tests.fakes.openapi_validator import OpenApiValidator, SpecViolation

UC = "/api/2.1/unity-catalog"
STATEMENTS = "/api/2.0/sql/statements"
WAREHOUSES = "/api/2.0/sql/warehouses/"
TOKEN_PATH = "/oidc/v1/token"

# Query parameters the Databricks SDK for Python (v0.133.0, `service/catalog.py`) sends beyond the
# OSS spec.
SDK_EXTRA_QUERY = {
    "/catalogs": {"include_browse", "include_unbound"},
    "/catalogs/{name}": {"include_browse"},
    "/schemas": {"include_browse"},
    "/schemas/{full_name}": {"include_browse"},
    "/tables": {
        "include_browse",
        "include_manifest_capabilities",
        "omit_columns",
        "omit_properties",
        "omit_username",
    },
    "/tables/{full_name}": {
        "include_browse",
        "include_delta_metadata",
        "include_manifest_capabilities",
    },
}

# Statement Execution and SQL Warehouses API response schemas (Databricks SDK service/sql.py: the
# fields used here), as OpenAPI components.
STATEMENT_SCHEMAS: dict[str, Any] = {
    "StatementState": {
        "type": "string",
        "enum": ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "CLOSED"],
    },
    "ServiceError": {
        "type": "object",
        "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    },
    "StatementStatus": {
        "type": "object",
        "properties": {
            "state": {"$ref": "#/components/schemas/StatementState"},
            "error": {"$ref": "#/components/schemas/ServiceError"},
            "sql_state": {"type": "string"},
        },
    },
    "ColumnInfo": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "position": {"type": "integer", "format": "int32"},
            "type_name": {"type": "string"},
            "type_text": {"type": "string"},
        },
    },
    "ResultManifest": {
        "type": "object",
        "properties": {
            "format": {"type": "string", "enum": ["JSON_ARRAY", "ARROW_STREAM", "CSV"]},
            "schema": {
                "type": "object",
                "properties": {
                    "column_count": {"type": "integer"},
                    "columns": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ColumnInfo"},
                    },
                },
            },
            "total_row_count": {"type": "integer", "format": "int64"},
            "total_chunk_count": {"type": "integer"},
            "truncated": {"type": "boolean"},
            "chunks": {"type": "array", "items": {"type": "object", "properties": {
                "chunk_index": {"type": "integer"},
                "row_offset": {"type": "integer", "format": "int64"},
                "row_count": {"type": "integer", "format": "int64"},
            }}},
        },
    },
    "ResultData": {
        "type": "object",
        "properties": {
            "chunk_index": {"type": "integer"},
            "row_offset": {"type": "integer", "format": "int64"},
            "row_count": {"type": "integer", "format": "int64"},
            "data_array": {"type": "array", "items": {"type": "array"}},
            "next_chunk_index": {"type": "integer"},
            "next_chunk_internal_link": {"type": "string"},
        },
    },
    "WarehouseState": {
        "type": "string",
        "enum": ["DELETED", "DELETING", "RUNNING", "STARTING", "STOPPED", "STOPPING"],
    },
    "GetWarehouseResponse": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "state": {"$ref": "#/components/schemas/WarehouseState"},
            "cluster_size": {"type": "string"},
            "auto_stop_mins": {"type": "integer"},
            "num_clusters": {"type": "integer"},
            "warehouse_type": {"type": "string", "enum": ["CLASSIC", "PRO", "TYPE_UNSPECIFIED"]},
            "enable_serverless_compute": {"type": "boolean"},
        },
    },
    "StatementResponse": {
        "type": "object",
        "required": ["statement_id", "status"],
        "properties": {
            "statement_id": {"type": "string"},
            "status": {"$ref": "#/components/schemas/StatementStatus"},
            "manifest": {"$ref": "#/components/schemas/ResultManifest"},
            "result": {"$ref": "#/components/schemas/ResultData"},
        },
    },
}  # fmt: skip

INFORMATION_SCHEMA_VIEWS: dict[str, list[str]] = {
    "table_constraints": [
        "constraint_catalog", "constraint_schema", "constraint_name", "table_catalog",
        "table_schema", "table_name", "constraint_type", "is_deferrable", "initially_deferred",
        "enforced", "comment",
    ],
    "key_column_usage": [
        "constraint_catalog", "constraint_schema", "constraint_name", "table_catalog",
        "table_schema", "table_name", "column_name", "ordinal_position",
        "position_in_unique_constraint",
    ],
    "referential_constraints": [
        "constraint_catalog", "constraint_schema", "constraint_name", "unique_constraint_catalog",
        "unique_constraint_schema", "unique_constraint_name", "match_option", "update_rule",
        "delete_rule",
    ],
    "constraint_column_usage": [
        "table_catalog", "table_schema", "table_name", "column_name", "constraint_catalog",
        "constraint_schema", "constraint_name",
    ],
}  # fmt: skip

_IS_REFERENCE = re.compile(r"`((?:[^`]|``)+)`\.information_schema\.(\w+)", re.IGNORECASE)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: bytes = b""


@dataclass
class Fault:
    """Answer matching requests with `status` (or drop the connection), `times` times (None: always).

    `path` is a regular expression matched against the whole path; `when` narrows by request (query
    values, ...); `probability` makes storms; `on_hit` can change the workspace (e.g. delete a table
    so that a restarted listing no longer sees it).
    """

    path: str
    status: int = 500
    method: str = "GET"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    when: Callable[[Request], bool] | None = None
    probability: float = 1.0
    delay: float = 0.0
    drop: bool = False
    on_hit: Callable[[FakeUnityCatalog], None] | None = None
    hits: int = 0

    def matches(self, request: Request, rng: random.Random) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if request.method != self.method or not re.fullmatch(self.path, request.path):
            return False
        if self.when is not None and not self.when(request):
            return False
        return not (self.probability < 1.0 and rng.random() >= self.probability)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error_code": code, "message": message}


def column(
    name: str,
    type_name: str,
    position: int,
    type_text: str | None = None,
    *,
    spark_type: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """An API column. `spark_type` (from `struct_type` / `array_type` / `map_type`) makes a complex
    column whose `type_json` and `type_text` describe it the way Unity Catalog does."""
    if spark_type is not None:
        type_text = type_text or spark_type_text(spark_type)
        type_json = {"name": name, "type": spark_type, "nullable": True, "metadata": {}}
    else:
        type_json = {"name": name, "type": (type_text or type_name).lower()}
    info = {
        "name": name,
        "type_name": type_name,
        "type_text": type_text or type_name.lower(),
        "type_json": json.dumps(type_json),
        "position": position,
        "nullable": True,
    }
    info.update(extra)
    return info


def field(name: str, spark_type: Any, nullable: bool = True, comment: str | None = None) -> dict:
    """A member of a Spark struct type, as in a column's `type_json`."""
    return {
        "name": name,
        "type": spark_type,
        "nullable": nullable,
        "metadata": {"comment": comment} if comment else {},
    }


def struct_type(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "struct", "fields": list(fields)}


def array_type(element: Any) -> dict[str, Any]:
    return {"type": "array", "elementType": element, "containsNull": True}


def map_type(key: Any, value: Any) -> dict[str, Any]:
    return {"type": "map", "keyType": key, "valueType": value, "valueContainsNull": True}


_SQL_NAMES = {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint"}


def spark_type_text(spark_type: Any) -> str:
    """Databricks SQL text of a Spark JSON type (`struct<a:int,b:array<string>>`)."""
    if isinstance(spark_type, str):
        return _SQL_NAMES.get(spark_type, spark_type)
    if spark_type["type"] == "array":
        return f"array<{spark_type_text(spark_type['elementType'])}>"
    if spark_type["type"] == "map":
        key, value = (
            spark_type_text(spark_type["keyType"]),
            spark_type_text(spark_type["valueType"]),
        )
        return f"map<{key},{value}>"
    members = ",".join(f"{f['name']}:{spark_type_text(f['type'])}" for f in spark_type["fields"])
    return f"struct<{members}>"


class _EncodedJson(bytes):
    """A JSON body already encoded (served as application/json, unlike raw bytes faults)."""


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class FakeUnityCatalog:
    """The workspace state, its behaviour knobs and the counters tests assert on."""

    def __init__(
        self,
        *,
        tokens: set[str] | None = None,
        oauth_clients: dict[str, str] | None = None,
        oauth_expires_in: int = 3600,
        catalogs_page_size: int = 1000,
        schemas_page_size: int = 1000,
        tables_page_size: int = 50,
        empty_pages: bool = False,
        last_page_token: str | None = None,
        latency: float = 0.0,
        warehouse_id: str = "fakewarehouse01",
        statement_polls: int = 0,
        statement_chunk_rows: int = 1000,
        seed: int = 7,
        validate_responses: bool = True,
        cache_bodies: bool = False,
    ) -> None:
        """`validate_responses=False` and `cache_bodies=True` are for benchmarks only.

        Validation would dominate a benchmark's CPU. `cache_bodies` encodes each Unity Catalog read
        once per distinct request (path, query and the paging knobs) and serves the same bytes
        again, so the fake does not take CPU from the client it measures; requests, latency, faults
        and bodies are unchanged. Any `add_*` / `drop_*` clears the cache; a test that edits the
        workspace dicts directly must leave it off.
        """
        self.tokens = set(tokens or set())
        self.oauth_clients = dict(oauth_clients or {})
        self.oauth_expires_in = oauth_expires_in
        self.page_sizes = {
            "catalogs": catalogs_page_size,
            "schemas": schemas_page_size,
            "tables": tables_page_size,
        }
        self.empty_pages = empty_pages
        self.last_page_token = last_page_token
        self.latency = latency
        self.warehouse_id = warehouse_id
        self.warehouse_state = "RUNNING"
        self.statement_polls = statement_polls
        self.statement_chunk_rows = statement_chunk_rows
        self.validate_responses = validate_responses
        self.cache_bodies = cache_bodies
        self._bodies: dict[tuple[Any, ...], _EncodedJson] = {}
        self._version = 0  # bumped by every change to the workspace content
        self.faults: list[Fault] = []
        self.violations: list[str] = []
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.oauth_exchanges = 0
        self.catalogs: dict[str, dict[str, Any]] = {}
        self.schemas: dict[str, dict[str, dict[str, Any]]] = {}
        self.tables: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.validator = OpenApiValidator.load()
        self.statement_validator = OpenApiValidator(
            {"components": {"schemas": STATEMENT_SCHEMAS}, "paths": {}}
        )
        self._issued: dict[str, float] = {}
        self._statements: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._server: _Server | None = None
        self._scheme = "http"
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, tls: ssl.SSLContext | None = None) -> FakeUnityCatalog:
        """Serve on a loopback port; over HTTPS with `tls` (a server-side context)."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._db.close()

    def __enter__(self) -> FakeUnityCatalog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    # -- workspace content ----------------------------------------------------------------------

    def add_catalog(self, name: str, **fields: Any) -> dict[str, Any]:
        info = {"name": name, "owner": "admins", "created_at": 1_700_000_000_000, **fields}
        with self._lock:
            self._changed()
            self.catalogs[name] = info
            self.schemas.setdefault(name, {})
            for view, columns in INFORMATION_SCHEMA_VIEWS.items():
                self._db.execute(
                    f'CREATE TABLE IF NOT EXISTS "{self._is_table(name, view)}" '
                    f"({', '.join(columns)})"
                )
        return info

    def add_schema(self, catalog: str, name: str, **fields: Any) -> dict[str, Any]:
        info = {
            "name": name,
            "catalog_name": catalog,
            "full_name": f"{catalog}.{name}",
            "owner": "admins",
            "created_at": 1_700_000_000_000,
            **fields,
        }
        with self._lock:
            self._changed()
            self.schemas[catalog][name] = info
            self.tables.setdefault((catalog, name), {})
        return info

    def add_table(
        self,
        catalog: str,
        schema: str,
        name: str,
        columns: list[dict[str, Any]] | None = None,
        table_type: str = "MANAGED",
        **fields: Any,
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": name,
            "catalog_name": catalog,
            "schema_name": schema,
            "table_type": table_type,
            "columns": columns if columns is not None else [column("id", "LONG", 0)],
            "owner": "admins",
            "created_at": 1_700_000_000_000,
            "updated_at": 1_700_000_500_000,
            "table_id": f"tid-{catalog}-{schema}-{name}",
            **fields,
        }
        if table_type in {"MANAGED", "EXTERNAL"}:
            info.setdefault("data_source_format", "DELTA")
        with self._lock:
            self._changed()
            self.tables[(catalog, schema)][name] = info
        return info

    def _changed(self) -> None:
        """The workspace content changed (caller holds the lock): cached bodies are stale."""
        self._version += 1
        self._bodies.clear()

    def drop_table(self, catalog: str, schema: str, name: str) -> None:
        with self._lock:
            self._changed()
            self.tables[(catalog, schema)].pop(name, None)

    def drop_schema(self, catalog: str, schema: str) -> None:
        with self._lock:
            self._changed()
            self.schemas[catalog].pop(schema, None)
            self.tables.pop((catalog, schema), None)

    def add_primary_key(
        self, catalog: str, schema: str, table: str, name: str, columns: list[str]
    ) -> None:
        self._insert(catalog, "table_constraints", [
            catalog, schema, name, catalog, schema, table, "PRIMARY KEY", "NO", "NO", "NO", None,
        ])  # fmt: skip
        for ordinal, col in enumerate(columns, 1):
            self._insert(catalog, "key_column_usage", [
                catalog, schema, name, catalog, schema, table, col, ordinal, None,
            ])  # fmt: skip

    def add_foreign_key(
        self,
        catalog: str,
        schema: str,
        table: str,
        name: str,
        columns: list[str],
        references: tuple[str, str, str],
        positions: list[int] | None = None,
    ) -> None:
        """`references` = (catalog, schema, constraint name) of the referenced primary key."""
        self._insert(catalog, "table_constraints", [
            catalog, schema, name, catalog, schema, table, "FOREIGN KEY", "NO", "NO", "NO", None,
        ])  # fmt: skip
        for ordinal, col in enumerate(columns, 1):
            position = positions[ordinal - 1] if positions else ordinal
            self._insert(catalog, "key_column_usage", [
                catalog, schema, name, catalog, schema, table, col, ordinal, position,
            ])  # fmt: skip
        self._insert(catalog, "referential_constraints", [
            catalog, schema, name, *references, "NONE", "NO ACTION", "NO ACTION",
        ])  # fmt: skip

    def _insert(self, catalog: str, view: str, values: list[Any]) -> None:
        marks = ", ".join("?" for _ in values)
        with self._lock:
            self._db.execute(
                f'INSERT INTO "{self._is_table(catalog, view)}" VALUES ({marks})', values
            )

    @staticmethod
    def _is_table(catalog: str, view: str) -> str:
        return f"{catalog.replace(chr(34), '')}.information_schema.{view}"

    # -- behaviour knobs ------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def count(self, method: str | None = None, path: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method)
                and (path is None or re.fullmatch(path, r.path))
            )

    def paths(self) -> Counter[str]:
        with self._lock:
            return Counter(f"{r.method} {r.path}" for r in self.requests)

    def expire_oauth_tokens(self) -> None:
        with self._lock:
            self._issued.clear()

    # -- request handling (server threads) ------------------------------------------------------

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes] | None:
        """(status, headers, body) for a request, or None to drop the connection."""
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            with self._lock:
                fault = next((f for f in self.faults if f.matches(request, self._rng)), None)
                if fault is not None:
                    fault.hits += 1
            if fault is not None:
                if fault.on_hit is not None:
                    fault.on_hit(self)
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.drop:
                    return None
                return self._encode(fault.status, fault.body, fault.headers)
            try:
                status, body = self._route(request)
            except _Reply as reply:
                return self._encode(reply.status, reply.body, reply.headers)
            return self._encode(status, body, {})
        finally:
            with self._lock:
                self.in_flight -= 1

    @staticmethod
    def _encode(
        status: int, body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if isinstance(body, _EncodedJson):
            payload = body
            headers = {"Content-Type": "application/json", **headers}
        elif isinstance(body, bytes):
            payload = body
            headers = {"Content-Type": "text/html", **headers}
        elif body is None:
            payload = b""
        else:
            payload = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **headers}
        return status, headers, payload

    def _route(self, request: Request) -> tuple[int, Any]:
        path, method = request.path, request.method
        if method == "POST" and path == TOKEN_PATH:
            return self._token(request)
        self._authenticate(request)
        if path.startswith(UC + "/"):
            return self._unity_catalog(request, path[len(UC) :])
        if path.startswith(STATEMENTS):
            return self._statement_api(request, path[len(STATEMENTS) :])
        if path.startswith(WAREHOUSES) and method == "GET":
            return self._warehouse(unquote(path[len(WAREHOUSES) :]))
        raise _Reply(404, error_body("ENDPOINT_NOT_FOUND", f"no API at {path}"))

    def _authenticate(self, request: Request) -> None:
        header = request.authorization or ""
        token = header[7:] if header.startswith("Bearer ") else None
        with self._lock:
            valid = token is not None and (
                token in self.tokens or self._issued.get(token, 0) > time.monotonic()
            )
        if not valid:
            raise _Reply(401, error_body("UNAUTHENTICATED", "Invalid access token."))

    def _token(self, request: Request) -> tuple[int, Any]:
        header = request.authorization or ""
        try:
            client_id, _, secret = (
                base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
            )
        except ValueError:
            client_id, secret = "", ""
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials" or form.get("scope") != "all-apis":
            raise _Reply(400, {"error": "invalid_request", "error_description": "bad grant"})
        if not header.startswith("Basic ") or self.oauth_clients.get(client_id) != secret:
            raise _Reply(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        token = "fake-oauth-" + secrets.token_hex(12)
        with self._lock:
            self.oauth_exchanges += 1
            self._issued[token] = time.monotonic() + self.oauth_expires_in
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.oauth_expires_in,
            "scope": "all-apis",
        }  # fmt: skip

    # -- Unity Catalog --------------------------------------------------------------------------

    def _unity_catalog(self, request: Request, path: str) -> tuple[int, Any]:
        if request.method != "GET":
            raise _Reply(405, error_body("NOT_IMPLEMENTED", "the fake only reads"))
        parts = path.strip("/").split("/", 1)
        collection, name = parts[0], unquote(parts[1]) if len(parts) > 1 else None
        template = f"/{collection}" + (
            {"catalogs": "/{name}"}.get(collection, "/{full_name}") if name else ""
        )
        if template not in self.validator.spec["paths"] or collection not in self.page_sizes:
            raise _Reply(404, error_body("ENDPOINT_NOT_FOUND", f"no API at {path}"))
        self._check_query(template, request.query)
        key = (
            collection,
            name,
            tuple(sorted(request.query.items())),
            tuple(self.page_sizes.items()),
            self.empty_pages,
            self.last_page_token,
            self.validate_responses,
        )
        with self._lock:
            cached = self._bodies.get(key) if self.cache_bodies else None
            if cached is not None:
                return 200, cached
            body = self._read(collection, name, request.query)
            version = self._version
        try:
            if self.validate_responses:
                self.validator.check_response(template, "get", body)
        except SpecViolation as violation:
            with self._lock:
                self.violations.append(str(violation))
            raise _Reply(500, error_body("FAKE_SPEC_VIOLATION", str(violation))) from None
        if not self.cache_bodies:
            return 200, body
        encoded = _EncodedJson(json.dumps(body).encode())
        with self._lock:
            if version == self._version:  # not changed while this body was encoded
                self._bodies[key] = encoded
        return 200, encoded

    def _check_query(self, template: str, query: dict[str, str]) -> None:
        declared = self.validator.query_parameters(template, "get")
        allowed = set(declared) | SDK_EXTRA_QUERY.get(template, set())
        unknown = set(query) - allowed
        if unknown:
            raise _Reply(
                400, error_body("INVALID_PARAMETER_VALUE", f"unknown parameters {sorted(unknown)}")
            )
        for name, parameter in declared.items():
            if parameter.get("required") and name not in query:
                raise _Reply(400, error_body("INVALID_PARAMETER_VALUE", f"{name} is required"))
        if "max_results" in query:
            try:
                value = int(query["max_results"])
            except ValueError:
                raise _Reply(400, error_body("INVALID_PARAMETER_VALUE", "max_results")) from None
            maximum = declared["max_results"]["schema"].get("maximum")
            if value < 0 or (maximum is not None and value > maximum):
                raise _Reply(400, error_body("INVALID_PARAMETER_VALUE", "max_results out of range"))
        for key, value in query.items():
            if key.startswith(("include_", "omit_")) and value not in {"true", "false"}:
                raise _Reply(
                    400, error_body("INVALID_PARAMETER_VALUE", f"{key} must be true/false")
                )

    def _read(self, collection: str, name: str | None, query: dict[str, str]) -> dict[str, Any]:
        if collection == "catalogs":
            if name is not None:
                return self._get(self.catalogs, name, "CATALOG_DOES_NOT_EXIST")
            return self._page("catalogs", list(self.catalogs.values()), query)
        if collection == "schemas":
            if name is not None:
                catalog, _, schema = name.partition(".")
                return self._get(self.schemas.get(catalog, {}), schema, "SCHEMA_DOES_NOT_EXIST")
            catalog = query["catalog_name"]
            if catalog not in self.catalogs:
                raise _Reply(
                    404,
                    error_body("CATALOG_DOES_NOT_EXIST", f"Catalog '{catalog}' does not exist."),
                )
            return self._page("schemas", list(self.schemas[catalog].values()), query)
        if name is not None:
            catalog, schema, table = [*name.split(".", 2), "", ""][:3]
            return self._get(self.tables.get((catalog, schema), {}), table, "TABLE_DOES_NOT_EXIST")
        key = (query["catalog_name"], query["schema_name"])
        if key not in self.tables:
            raise _Reply(
                404,
                error_body("SCHEMA_DOES_NOT_EXIST", f"Schema '{key[0]}.{key[1]}' does not exist."),
            )
        # The listing leaves out view_dependencies (SDK docstring); GET of one table has them.
        listed = [
            {k: v for k, v in table.items() if k != "view_dependencies"}
            for table in self.tables[key].values()
        ]
        return self._page("tables", listed, query)

    @staticmethod
    def _get(items: dict[str, dict[str, Any]], name: str, code: str) -> dict[str, Any]:
        if name not in items:
            raise _Reply(404, error_body(code, f"'{name}' does not exist."))
        return dict(items[name])

    def _page(self, key: str, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        items = sorted(items, key=lambda item: item["name"])
        limit = self.page_sizes[key]
        requested = query.get("max_results")
        size = (
            len(items)
            if requested is None
            else (limit if int(requested) == 0 else min(int(requested), limit))
        )
        offset, emptied = 0, False
        if query.get("page_token"):
            try:
                raw = base64.urlsafe_b64decode(query["page_token"].encode()).decode()
                offset, emptied = int(raw.rstrip("e")), raw.endswith("e")
            except ValueError:
                raise _Reply(400, error_body("INVALID_PARAMETER_VALUE", "bad page_token")) from None
        if self.empty_pages and not emptied and requested is not None:
            return {key: [], "next_page_token": _token(offset, True)}
        page = items[offset : offset + max(size, 1)]
        following = offset + max(size, 1)
        body: dict[str, Any] = {key: page}
        if following < len(items):
            body["next_page_token"] = _token(following, False)
        elif self.last_page_token is not None:
            body["next_page_token"] = self.last_page_token
        return body

    # -- SQL Statement Execution API ------------------------------------------------------------

    def _statement_api(self, request: Request, rest: str) -> tuple[int, Any]:
        if request.method == "POST" and rest in {"", "/"}:
            return 200, self._checked(self._execute(json.loads(request.body or b"{}")))
        match = re.fullmatch(r"/([^/]+)(?:/result/chunks/(\d+)|/(cancel))?", rest)
        if match is None:
            raise _Reply(404, error_body("ENDPOINT_NOT_FOUND", rest))
        with self._lock:
            statement = self._statements.get(match.group(1))
        if statement is None:
            raise _Reply(404, error_body("RESOURCE_DOES_NOT_EXIST", "no such statement"))
        if match.group(3):
            statement["state"] = "CANCELED"
            return 200, {}
        if match.group(2) is not None:
            return 200, self._checked(self._chunk(statement, int(match.group(2))), "ResultData")
        if statement["state"] in {"PENDING", "RUNNING"}:
            statement["polls_left"] -= 1
            statement["state"] = "RUNNING" if statement["polls_left"] > 0 else statement["final"]
        return 200, self._checked(self._statement_body(statement))

    def _warehouse(self, warehouse_id: str) -> tuple[int, Any]:
        if warehouse_id != self.warehouse_id:
            raise _Reply(404, error_body("RESOURCE_DOES_NOT_EXIST", "SQL warehouse not found"))
        body = {
            "id": self.warehouse_id,
            "name": "Metadata warehouse",
            "state": self.warehouse_state,
            "cluster_size": "2X-Small",
            "auto_stop_mins": 10,
            "num_clusters": 1 if self.warehouse_state == "RUNNING" else 0,
            "warehouse_type": "PRO",
            "enable_serverless_compute": True,
        }
        return 200, self._checked(body, "GetWarehouseResponse")

    def _checked(self, body: dict[str, Any], schema: str = "StatementResponse") -> dict[str, Any]:
        try:
            self.statement_validator.check(body, {"$ref": f"#/components/schemas/{schema}"}, schema)
        except SpecViolation as violation:
            with self._lock:
                self.violations.append(str(violation))
            raise _Reply(500, error_body("FAKE_SPEC_VIOLATION", str(violation))) from None
        return body

    def _execute(self, body: dict[str, Any]) -> dict[str, Any]:
        for required in ("statement", "warehouse_id"):
            if not body.get(required):
                raise _Reply(400, error_body("INVALID_PARAMETER_VALUE", f"{required} is required"))
        if body["warehouse_id"] != self.warehouse_id:
            raise _Reply(404, error_body("RESOURCE_DOES_NOT_EXIST", "SQL warehouse not found"))
        wait = body.get("wait_timeout", "10s")
        seconds = int(wait[:-1]) if re.fullmatch(r"\d+s", wait) else -1
        if not (seconds == 0 or 5 <= seconds <= 50):
            raise _Reply(
                400, error_body("INVALID_PARAMETER_VALUE", "wait_timeout must be 0s or 5s-50s")
            )
        if (
            body.get("disposition", "INLINE") == "INLINE"
            and body.get("format", "JSON_ARRAY") != "JSON_ARRAY"
        ):
            raise _Reply(400, error_body("INVALID_PARAMETER_VALUE", "INLINE needs JSON_ARRAY"))
        statement: dict[str, Any] = {
            "id": f"stmt-{next(self._ids)}",
            "polls_left": self.statement_polls,
        }
        sql = _IS_REFERENCE.sub(
            lambda m: f'"{self._is_table(m.group(1).replace("``", "`"), m.group(2).lower())}"',
            body["statement"],
        )
        try:
            with self._lock:
                cursor = self._db.execute(sql)
                rows = cursor.fetchall()
                statement["columns"] = [d[0] for d in cursor.description or []]
            statement["rows"] = [[None if v is None else str(v) for v in row] for row in rows]
            statement["final"] = "SUCCEEDED"
        except sqlite3.Error as error:
            statement["final"] = "FAILED"
            statement["error"] = {
                "error_code": "BAD_REQUEST",
                "message": f"[TABLE_OR_VIEW_NOT_FOUND] {error}",
            }
        statement["state"] = "PENDING" if self.statement_polls > 0 else statement["final"]
        with self._lock:
            self._statements[statement["id"]] = statement
        return self._statement_body(statement)

    def _statement_body(self, statement: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "statement_id": statement["id"],
            "status": {"state": statement["state"]},
        }
        if statement["state"] == "FAILED":
            body["status"]["error"] = statement["error"]
        if statement["state"] != "SUCCEEDED":
            return body
        rows, size = statement["rows"], self.statement_chunk_rows
        chunks = max(1, -(-len(rows) // size))
        body["manifest"] = {
            "format": "JSON_ARRAY",
            "schema": {
                "column_count": len(statement["columns"]),
                "columns": [
                    {"name": n, "position": i, "type_name": "STRING", "type_text": "STRING"}
                    for i, n in enumerate(statement["columns"])
                ],
            },
            "total_row_count": len(rows),
            "total_chunk_count": chunks,
            "truncated": False,
        }
        body["result"] = self._chunk(statement, 0)
        return body

    def _chunk(self, statement: dict[str, Any], index: int) -> dict[str, Any]:
        rows, size = statement.get("rows", []), self.statement_chunk_rows
        chunks = max(1, -(-len(rows) // size))
        if statement["state"] != "SUCCEEDED" or not 0 <= index < chunks:
            raise _Reply(404, error_body("RESOURCE_DOES_NOT_EXIST", "no such chunk"))
        part = rows[index * size : (index + 1) * size]
        data: dict[str, Any] = {
            "chunk_index": index,
            "row_offset": index * size,
            "row_count": len(part),
            "data_array": part,
        }
        if index + 1 < chunks:
            data["next_chunk_index"] = index + 1
            data["next_chunk_internal_link"] = (
                f"{STATEMENTS}/{statement['id']}/result/chunks/{index + 1}"
            )
        return data


def _token(offset: int, emptied: bool) -> str:
    return base64.urlsafe_b64encode(f"{offset}{'e' if emptied else ''}".encode()).decode()


class _Server(ThreadingHTTPServer):
    """A listen backlog like a real front end's: socketserver's default of 5 drops the SYNs of a
    client that opens more connections at once, and each dropped SYN costs that client a 1 s
    retransmission, a stall no real workspace imposes."""

    request_queue_size = 128
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as real front ends: no delayed-ACK stall on a last segment
    fake: FakeUnityCatalog

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read counters, not access logs."""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            authorization=self.headers.get("Authorization"),
            body=body,
        )
        answer = self.fake.handle(request)
        if answer is None:
            self.close_connection = True
            return
        status, headers, payload = answer
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up on this answer (a timeout, a cancel)

    do_GET = _serve
    do_POST = _serve
