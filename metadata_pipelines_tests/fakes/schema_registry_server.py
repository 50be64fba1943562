"""A fake Confluent Schema Registry: a real HTTP server on a loopback port, for tests and benchmarks.

It follows Confluent's published Schema Registry REST API (docs.confluent.io, "Schema Registry API
Reference"): `GET /subjects`, `GET /subjects/{subject}/versions`, `GET|POST
/subjects/{subject}/versions[/{version}]`, `GET /schemas/ids/{id}`, `GET|PUT /config[/{subject}]`,
schema `references`, and its error bodies `{"error_code": 40401, "message": ...}` (40401 subject
not found, 40402 version not found, 40403 schema not found, 40408 subject-level compatibility not
configured, 40101 unauthorized, 50001 store error). Bodies omit `schemaType` for Avro and
`references` when empty, as the real server does. The shapes are checked against the documented ones
in test_kafka_registry_fake.py, and the real `SchemaRegistryClient` is its client.

`fail_with_500` answers every request with 50001 (a registry whose store is down); `basic_auth`
requires HTTP basic credentials (401 / 40101 otherwise). `requests` counts requests by path head.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass
class _Version:
    subject: str
    version: int
    schema_id: int


@dataclass
class _Schema:
    schema: str
    schema_type: str
    references: list[dict[str, Any]] = field(default_factory=list)


class _Reply(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(status: int, code: int, message: str) -> _Reply:
    return _Reply(status, {"error_code": code, "message": message})


class FakeSchemaRegistry:
    def __init__(self, basic_auth: tuple[str, str] | None = None) -> None:
        self.basic_auth = basic_auth
        self.fail_with_500 = False
        self.requests: Counter[str] = Counter()
        self.global_compatibility = "BACKWARD"
        self._subject_compatibility: dict[str, str] = {}
        self._schemas: dict[int, _Schema] = {}
        self._versions: dict[str, list[_Version]] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self) -> FakeSchemaRegistry:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = registry.handle(method, self.path, dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # idle keep-alive connections must not hold stop()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSchemaRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # Direct setup (what a test would otherwise POST) ---------------------------------------------

    def register(
        self,
        subject: str,
        schema: str | dict[str, Any],
        schema_type: str = "AVRO",
        references: list[dict[str, Any]] | None = None,
    ) -> int:
        """Registers a version (or finds the identical schema's id); returns the schema id."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        with self._lock:
            refs = references or []
            schema_id = next(
                (
                    i
                    for i, s in self._schemas.items()
                    if (s.schema, s.schema_type, s.references) == (text, schema_type, refs)
                ),
                None,
            )
            if schema_id is None:
                schema_id = len(self._schemas) + 1
                self._schemas[schema_id] = _Schema(text, schema_type, refs)
            versions = self._versions.setdefault(subject, [])
            if not any(v.schema_id == schema_id for v in versions):
                versions.append(_Version(subject, len(versions) + 1, schema_id))
            return schema_id

    def set_compatibility(self, subject: str, level: str) -> None:
        self._subject_compatibility[subject] = level

    # Request handling ----------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        segments = [unquote(p) for p in parts.path.strip("/").split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests[segments[0] if segments else ""] += 1
        try:
            if self.fail_with_500:
                raise _error(500, 50001, "Error in the backend data store")
            self._authenticate(headers)
            return 200, self._route(method, segments, query, body)
        except _Reply as reply:
            return reply.status, reply.body

    def _authenticate(self, headers: dict[str, str]) -> None:
        if self.basic_auth is None:
            return
        expected = base64.b64encode(":".join(self.basic_auth).encode()).decode()
        given = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if given != f"Basic {expected}":
            raise _error(401, 40101, "Unauthorized")

    def _route(self, method: str, seg: list[str], query: dict[str, str], body: bytes) -> Any:
        with self._lock:
            if seg == ["subjects"] and method == "GET":
                return sorted(self._versions)
            if len(seg) >= 2 and seg[0] == "subjects":
                return self._subject(method, seg[1], seg[2:], body)
            if len(seg) == 3 and seg[:2] == ["schemas", "ids"] and method == "GET":
                schema = self._schemas.get(int(seg[2])) if seg[2].isdigit() else None
                if schema is None:
                    raise _error(404, 40403, f"Schema {seg[2]} not found")
                return self._schema_body(schema)
            if seg == ["config"] and method == "GET":
                return {"compatibilityLevel": self.global_compatibility}
            if len(seg) == 2 and seg[0] == "config" and method == "GET":
                level = self._subject_compatibility.get(seg[1])
                if level is None:
                    if query.get("defaultToGlobal") == "true":
                        return {"compatibilityLevel": self.global_compatibility}
                    raise _error(
                        404,
                        40408,
                        f"Subject '{seg[1]}' does not have subject-level compatibility configured",
                    )
                return {"compatibilityLevel": level}
            if len(seg) == 2 and seg[0] == "config" and method == "PUT":
                level = json.loads(body)["compatibility"]
                self._subject_compatibility[seg[1]] = level
                return {"compatibility": level}
        raise _error(404, 404, "HTTP 404 Not Found")

    def _schema_body(self, schema: _Schema) -> dict[str, Any]:
        body: dict[str, Any] = {"schema": schema.schema}
        if schema.schema_type != "AVRO":
            body["schemaType"] = schema.schema_type
        if schema.references:
            body["references"] = schema.references
        return body

    def _subject(self, method: str, subject: str, rest: list[str], body: bytes) -> Any:
        if rest == ["versions"] and method == "POST":
            request = json.loads(body)
            schema_id = self.register(
                subject,
                request["schema"],
                request.get("schemaType", "AVRO"),
                request.get("references"),
            )
            return {"id": schema_id}
        versions = self._versions.get(subject)
        if not versions:
            raise _error(404, 40401, f"Subject '{subject}' not found.")
        if rest == ["versions"] and method == "GET":
            return [v.version for v in versions]
        if len(rest) == 2 and rest[0] == "versions" and method == "GET":
            wanted = rest[1]
            if wanted in ("latest", "-1"):
                version = versions[-1]
            elif wanted.isdigit() and 1 <= int(wanted) <= len(versions):
                version = versions[int(wanted) - 1]
            elif wanted.isdigit():
                raise _error(404, 40402, f"Version {wanted} not found.")
            else:
                raise _error(
                    422,
                    42202,
                    f"The specified version '{wanted}' is not a valid version id. Allowed values are "
                    'between [1, 2^31-1] and the string "latest"',
                )
            return {
                "subject": subject,
                "version": version.version,
                "id": version.schema_id,
                **self._schema_body(self._schemas[version.schema_id]),
            }
        raise _error(404, 404, "HTTP 404 Not Found")
