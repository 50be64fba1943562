"""A BigQuery REST front on loopback: forwards to bqemulator, and answers what it lacks.

bqemulator (tests) implements datasets, tables, routines and most dataset-scoped INFORMATION_SCHEMA
views; it lacks COLUMN_FIELD_PATHS, the region-scoped TABLE_STORAGE, project listing, byte counts
and bytes billed, and it reads 5,000-column datasets too slowly for a benchmark. This front sits
between the client and the emulator (`upstream`) and answers those from what the emulator holds, or
(without upstream, for the benchmark) answers everything from its own in-memory model. Every body
it writes itself is validated against Google's discovery document (bigquery.v2.json); a violation
is recorded in `violations`, which the fixtures assert empty.

It also plays the parts of Google's OAuth token endpoint (service-account JWT grants, checked
against registered public keys) and of an unreliable network: per-request latency, and faults with
BigQuery's own error bodies (403 accessDenied, 429 / 403 rateLimitExceeded, 500 backendError, 404).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from metadata_pipelines.extractors.bigquery.client import method_name
from metadata_pipelines_tests.fakes.discovery_validator import DiscoveryValidator

API = "/bigquery/v2"
MIB = 1024 * 1024
MINIMUM_BILLED = 10 * MIB  # on-demand minimum per table referenced (and per query)
_DATASET_VIEW = re.compile(
    r"FROM\s+`(?P<project>[^.`]+)\.(?P<dataset>[^.`]+)\.INFORMATION_SCHEMA\.(?P<view>\w+)`", re.I
)
_IN_LIST = re.compile(r"table_schema\s+IN\s*\(([^)]*)\)", re.I)

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip


def error_body(status: int, reason: str, message: str) -> dict[str, Any]:
    """BigQuery's error body (google.rpc style with the v2 `errors` list)."""
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


@dataclass
class Fault:
    """Answer matching requests with an error, `times` times (None: always)."""

    status: int
    reason: str
    message: str = "injected fault"
    method: str | None = None  # e.g. "jobs.query", "tables.get"
    path_contains: str | None = None
    query_contains: str | None = None
    times: int | None = 1
    hits: int = 0

    def matches(self, method: str, path: str, body: dict[str, Any]) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and method != self.method:
            return False
        if self.path_contains and self.path_contains not in path:
            return False
        return not (self.query_contains and self.query_contains not in str(body.get("query", "")))


@dataclass
class Storage:
    logical_bytes: int
    physical_bytes: int


@dataclass
class _Reply:
    status: int
    body: Any


class FakeBigQuery:
    def __init__(
        self,
        upstream: str | None = None,
        projects: tuple[str, ...] = ("test-proj",),
        latency_seconds: float = 0.0,
        validate: bool = True,
        cache_bodies: bool = False,
    ) -> None:
        """`validate=False` skips checking bodies against the discovery document, and
        `cache_bodies=True` answers a query seen before with the body sent then (benchmarks: a
        real BigQuery does not take its CPU from the client's machine)."""
        self.upstream = upstream.rstrip("/") if upstream else None
        self.projects = list(projects)
        self.latency_seconds = latency_seconds
        self.validate = validate
        self.cache_bodies = cache_bodies
        self._bodies: dict[str, bytes] = {}
        self.validator = DiscoveryValidator()
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.calls: Counter[str] = Counter()
        self.service_accounts: dict[str, rsa.RSAPublicKey] = {}
        self.issued_tokens: set[str] = set()
        self.token_requests = 0
        self.storage: dict[tuple[str, str, str], Storage] = {}
        #: Called after each forwarded request as (method, path): lets a test change the source
        #: between two calls of a sync (a table dropped after the listing, say).
        self.after: list[Callable[[str, str], None]] = []
        # The in-memory model (no upstream): project -> dataset -> resources.
        self.datasets: dict[str, dict[str, dict[str, Any]]] = {}
        self.tables: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.routines: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server: ThreadingHTTPServer | None = None

    # Lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeBigQuery:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    # Set-up -------------------------------------------------------------------------------------

    def register_service_account(self, email: str, public_key: rsa.RSAPublicKey) -> None:
        self.service_accounts[email] = public_key

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_storage(
        self, project: str, dataset: str, table: str, logical: int, physical: int
    ) -> None:
        """Byte counts for TABLE_STORAGE (the emulator reports none)."""
        self.storage[(project, dataset, table)] = Storage(logical, physical)

    def add_dataset(self, project: str, dataset: str, location: str = "US", **fields: Any) -> None:
        now = str(int(time.time() * 1000))
        resource = {
            "kind": "bigquery#dataset",
            "id": f"{project}:{dataset}",
            "datasetReference": {"projectId": project, "datasetId": dataset},
            "location": location,
            "creationTime": now,
            "lastModifiedTime": now,
            "etag": uuid.uuid4().hex,
            **fields,
        }
        self._check(resource, "Dataset")
        self.datasets.setdefault(project, {})[dataset] = resource
        self.tables.setdefault((project, dataset), {})
        self.routines.setdefault((project, dataset), {})

    def add_table(
        self,
        project: str,
        dataset: str,
        table: str,
        fields: list[dict[str, Any]],
        table_type: str = "TABLE",
        rows: int = 0,
        **extra: Any,
    ) -> dict[str, Any]:
        now = str(int(time.time() * 1000))
        resource: dict[str, Any] = {
            "kind": "bigquery#table",
            "id": f"{project}:{dataset}.{table}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "type": table_type,
            "creationTime": now,
            "lastModifiedTime": now,
            "etag": uuid.uuid4().hex,
            "schema": {"fields": fields},
            **extra,
        }
        if table_type not in {"VIEW", "MATERIALIZED_VIEW"}:
            resource.update(
                numRows=str(rows),
                numBytes=str(rows * 100),
                numTotalLogicalBytes=str(rows * 100),
                numTotalPhysicalBytes=str(rows * 25),
            )
        self._check(resource, "Table")
        self.tables[(project, dataset)][table] = resource
        return resource

    def add_routine(self, project: str, dataset: str, routine: str, **fields: Any) -> None:
        now = str(int(time.time() * 1000))
        resource = {
            "etag": uuid.uuid4().hex,
            "routineReference": {"projectId": project, "datasetId": dataset, "routineId": routine},
            "creationTime": now,
            "lastModifiedTime": now,
            **fields,
        }
        self._check(resource, "Routine")
        self.routines[(project, dataset)][routine] = resource

    def drop_table(self, project: str, dataset: str, table: str) -> None:
        del self.tables[(project, dataset)][table]

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return self.calls[method] if method else sum(self.calls.values())

    # Request handling ---------------------------------------------------------------------------

    def handle(
        self, http_method: str, raw_path: str, headers: dict[str, str], data: bytes
    ) -> _Reply:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        path = urlsplit(raw_path).path
        if path == "/token":
            return self._token(data)
        method = method_name(http_method, raw_path)
        body = json.loads(data) if data else {}
        with self._lock:
            self.calls[method] += 1
            fault = next((f for f in self.faults if f.matches(method, path, body)), None)
            if fault:
                fault.hits += 1
        authorization = headers.get("authorization", "")
        if authorization and authorization.removeprefix("Bearer ") not in self.issued_tokens:
            return _Reply(
                401, error_body(401, "authError", "Request had invalid authentication credentials.")
            )
        if fault:
            return _Reply(fault.status, error_body(fault.status, fault.reason, fault.message))
        if method == "projects.list":
            return self._projects()
        if method == "jobs.query":
            answered = self._answer_query(path.split("/")[4], body)
            if answered is not None:
                return answered
        if self.upstream:
            reply = self._forward(http_method, raw_path, data, method)
            for hook in list(self.after):
                hook(method, path)
            return reply
        return self._model(method, path, body)

    def _token(self, data: bytes) -> _Reply:
        with self._lock:
            self.token_requests += 1
        form = parse_qs(data.decode())
        assertion = (form.get("assertion") or [""])[0]
        try:
            header, claims, signature = assertion.split(".")
            payload = json.loads(_unb64(claims))
            key = self.service_accounts[payload["iss"]]
            key.verify(
                _unb64(signature),
                f"{header}.{claims}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            return _Reply(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        token = "ya29." + uuid.uuid4().hex
        with self._lock:
            self.issued_tokens.add(token)
        return _Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _projects(self) -> _Reply:
        body = {
            "kind": "bigquery#projectList",
            "projects": [
                {
                    "kind": "bigquery#project",
                    "id": name,
                    "numericId": str(100000 + index),
                    "projectReference": {"projectId": name},
                    "friendlyName": name,
                }
                for index, name in enumerate(self.projects)
            ],
            "totalItems": len(self.projects),
        }
        return self._checked(200, body, "ProjectList")

    def _forward(self, http_method: str, raw_path: str, data: bytes, method: str) -> _Reply:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        response = session.request(
            http_method,
            self.upstream + raw_path,
            data=data or None,
            headers={"Content-Type": "application/json"},
            timeout=600,
        )
        body = response.json() if response.content else {}
        if method == "jobs.query" and response.ok and "totalBytesBilled" not in body:
            # The emulator bills nothing; apply the on-demand model to what it ran.
            referenced = max(1, len(_DATASET_VIEW.findall(body.get("query", "") or "")))
            body["totalBytesBilled"] = str(MINIMUM_BILLED * referenced)
        if (
            method == "tables.get"
            and response.ok
            and body.get("type") == "VIEW"
            and "view" not in body
        ):
            # The emulator keeps no SQL for views made by DDL; BigQuery returns it in `view`.
            query = self._view_query(body["tableReference"])
            if query is not None:
                body["view"] = {"query": query, "useLegacySql": False}
                self._check(body, "Table")
        return _Reply(response.status_code, body)

    def _view_query(self, reference: dict[str, str]) -> str | None:
        project, dataset = reference["projectId"], reference["datasetId"]
        sql = f"SELECT view_definition FROM `{project}.{dataset}.INFORMATION_SCHEMA.VIEWS` "
        sql += f"WHERE table_name = '{reference['tableId']}'"
        response = requests.post(
            f"{self.upstream}{API}/projects/{project}/queries",
            json={"query": sql, "useLegacySql": False},
            timeout=60,
        )
        rows = response.json().get("rows") or []
        return rows[0]["f"][0]["v"] if rows else None

    # Queries ------------------------------------------------------------------------------------

    def _answer_query(self, billing_project: str, request: dict[str, Any]) -> _Reply | None:
        sql = str(request.get("query", ""))
        self._check(request, "QueryRequest")
        match = _DATASET_VIEW.search(sql)
        if match is None:
            return None
        project, dataset, view = match["project"], match["dataset"], match["view"].upper()
        if dataset.startswith("region-") and view == "TABLE_STORAGE":
            names = [
                n.strip().strip("'") for n in (_IN_LIST.search(sql) or [None, ""])[1].split(",")
            ]
            schema, rows = self._table_storage(project, [n for n in names if n])
        elif view == "COLUMN_FIELD_PATHS":
            schema, rows = self._field_paths(project, dataset)
        elif self.upstream is None and view in _RENDERERS:
            schema, rows = _RENDERERS[view](self._tables_of(project, dataset), project, dataset)
        else:
            return None
        if rows is None:
            return _Reply(
                404, error_body(404, "notFound", f"Not found: Dataset {project}:{dataset}")
            )
        schema, rows = _select(sql, schema, rows)
        cache_key = f"{billing_project}|{sql}"
        if self.cache_bodies and cache_key in self._bodies:
            return _Reply(200, self._bodies[cache_key])
        processed = 512 * len(rows)
        billed = max(MINIMUM_BILLED, -(-processed // MIB) * MIB)
        body = {
            "kind": "bigquery#queryResponse",
            "jobReference": {
                "projectId": billing_project,
                "jobId": "job_" + uuid.uuid4().hex,
                "location": request.get("location") or "US",
            },
            "schema": {"fields": [{"name": n, "type": t, "mode": m} for n, t, m in schema]},
            "rows": [{"f": [_cell(value) for value in row]} for row in rows],
            "totalRows": str(len(rows)),
            "jobComplete": True,
            "cacheHit": False,
            "totalBytesProcessed": str(processed),
            "totalBytesBilled": str(billed),
        }
        reply = self._checked(200, body, "QueryResponse")
        if self.cache_bodies:
            self._bodies[cache_key] = _Encoded(json.dumps(body).encode())
        return reply

    def _tables_of(self, project: str, dataset: str) -> list[dict[str, Any]] | None:
        if self.upstream is None:
            tables = self.tables.get((project, dataset))
            return None if tables is None else [tables[name] for name in sorted(tables)]
        base = f"{self.upstream}{API}/projects/{project}/datasets/{dataset}/tables"
        listing = requests.get(base, params={"maxResults": 10000}, timeout=60)
        if listing.status_code == 404:
            return None
        names = [t["tableReference"]["tableId"] for t in listing.json().get("tables", [])]
        return [requests.get(f"{base}/{name}", timeout=60).json() for name in sorted(names)]

    def _field_paths(
        self, project: str, dataset: str
    ) -> tuple[list[tuple[str, str, str]], list[list[Any]] | None]:
        tables = self._tables_of(project, dataset)
        schema = [("table_catalog", "STRING", "NULLABLE"), ("table_schema", "STRING", "NULLABLE"),
                  ("table_name", "STRING", "NULLABLE"), ("column_name", "STRING", "NULLABLE"),
                  ("field_path", "STRING", "NULLABLE"), ("data_type", "STRING", "NULLABLE"),
                  ("description", "STRING", "NULLABLE"), ("collation_name", "STRING", "NULLABLE"),
                  ("rounding_mode", "STRING", "NULLABLE"), ("policy_tags", "STRING", "REPEATED")]  # fmt: skip
        if tables is None:
            return schema, None
        rows: list[list[Any]] = []
        for table in tables:
            name = table["tableReference"]["tableId"]

            def walk(
                fields: list[dict[str, Any]], prefix: str, column: str | None, name: str
            ) -> None:
                for item in fields:
                    path = f"{prefix}{item['name']}"
                    top = column or item["name"]
                    rows.append([project, dataset, name, top, path, type_string(item),
                                 item.get("description"), item.get("collation"),
                                 item.get("roundingMode"),
                                 list((item.get("policyTags") or {}).get("names") or [])])  # fmt: skip
                    walk(item.get("fields") or [], path + ".", top, name)

            walk((table.get("schema") or {}).get("fields") or [], "", None, name)
        return schema, rows

    def _table_storage(
        self, project: str, datasets: list[str]
    ) -> tuple[list[tuple[str, str, str]], list[list[Any]]]:
        schema = [("table_schema", "STRING", "NULLABLE"), ("table_name", "STRING", "NULLABLE"),
                  ("total_rows", "INTEGER", "NULLABLE"), ("total_logical_bytes", "INTEGER", "NULLABLE"),
                  ("total_physical_bytes", "INTEGER", "NULLABLE")]  # fmt: skip
        rows = []
        for dataset in datasets:
            for table in self._tables_of(project, dataset) or []:
                if table.get("type") in {"VIEW", "MATERIALIZED_VIEW"}:
                    continue
                name = table["tableReference"]["tableId"]
                stored = self.storage.get((project, dataset, name))
                logical = stored.logical_bytes if stored else int(table.get("numBytes") or 0)
                physical = (
                    stored.physical_bytes
                    if stored
                    else int(table.get("numTotalPhysicalBytes") or 0)
                )
                rows.append([dataset, name, int(table.get("numRows") or 0), logical, physical])
        return schema, rows

    # The in-memory model's REST surface (no upstream) ---------------------------------------------

    def _model(self, method: str, path: str, body: dict[str, Any]) -> _Reply:
        parts = path.removeprefix(API + "/").split("/")
        project = parts[1] if len(parts) > 1 else ""
        if method == "datasets.list":
            items = [
                {"kind": "bigquery#dataset", "id": d["id"], "datasetReference": d["datasetReference"],
                 "location": d["location"], **({"labels": d["labels"]} if d.get("labels") else {})}
                for d in self.datasets.get(project, {}).values()
            ]  # fmt: skip
            return self._checked(
                200, {"kind": "bigquery#datasetList", "datasets": items}, "DatasetList"
            )
        dataset = parts[3] if len(parts) > 3 else ""
        found = self.datasets.get(project, {}).get(dataset)
        if found is None:
            return _Reply(
                404, error_body(404, "notFound", f"Not found: Dataset {project}:{dataset}")
            )
        if method == "datasets.get":
            return self._checked(200, found, "Dataset")
        tables = self.tables[(project, dataset)]
        if method == "tables.list":
            listed = [_list_item(tables[name]) for name in sorted(tables)]
            return self._checked(
                200,
                {"kind": "bigquery#tableList", "tables": listed, "totalItems": len(listed)},
                "TableList",
            )
        if method == "tables.get":
            table = tables.get(parts[5])
            if table is None:
                return _Reply(
                    404,
                    error_body(404, "notFound", f"Not found: Table {project}:{dataset}.{parts[5]}"),
                )
            return self._checked(200, table, "Table")
        routines = self.routines[(project, dataset)]
        if method == "routines.list":
            # Without readMask BigQuery lists only these fields of each routine.
            keys = (
                "etag",
                "routineReference",
                "routineType",
                "creationTime",
                "lastModifiedTime",
                "language",
            )
            listed = [{k: r[k] for k in keys if k in r} for r in routines.values()]
            return self._checked(200, {"routines": listed}, "ListRoutinesResponse")
        if method == "routines.get":
            found_routine = routines.get(parts[5])
            if found_routine is None:
                return _Reply(404, error_body(404, "notFound", f"Not found: Routine {parts[5]}"))
            return self._checked(200, found_routine, "Routine")
        return _Reply(400, error_body(400, "invalid", f"the fake does not implement {method}"))

    def _checked(self, status: int, body: dict[str, Any], schema: str) -> _Reply:
        self._check(body, schema)
        return _Reply(status, body)

    def _check(self, body: dict[str, Any], schema: str) -> None:
        if not self.validate:
            return
        problems = self.validator.problems(body, {"$ref": schema})
        if problems:
            with self._lock:
                self.violations.extend(f"{schema}: {p}" for p in problems)


_SELECT_LIST = re.compile(r"^\s*SELECT\s+(?P<columns>.*?)\s+FROM\s", re.I | re.S)
_EXCEPT = re.compile(r"^\*\s*EXCEPT\s*\((?P<names>[^)]*)\)$", re.I)
_SAYS_MORE = ("description", "collation_name", "rounding_mode", "policy_tags")


def _select(sql: str, schema: list[tuple[str, str, str]], rows: list[list[Any]]):
    """Apply the query's select list (`*`, `* EXCEPT (...)` or names) and the one WHERE the
    connector sends to COLUMN_FIELD_PATHS (fields that carry more than their type)."""
    names = [column for column, _, _ in schema]
    if "description IS NOT NULL" in sql:
        wanted = [names.index(column) for column in _SAYS_MORE]
        rows = [row for row in rows if any(row[i] for i in wanted)]
    listed = _SELECT_LIST.match(sql)
    selection = listed["columns"].strip() if listed else "*"
    excepted = _EXCEPT.match(selection)
    if selection == "*":
        keep = names
    elif excepted:
        dropped = {name.strip().lower() for name in excepted["names"].split(",")}
        keep = [name for name in names if name not in dropped]
    else:
        keep = [name.strip() for name in selection.split(",")]
    indexes = [names.index(name) for name in keep]
    return [schema[i] for i in indexes], [[row[i] for i in indexes] for row in rows]


class _Encoded(bytes):
    """A body already encoded (served again as is)."""


def type_string(item: dict[str, Any]) -> str:
    """A field resource's GoogleSQL type, as INFORMATION_SCHEMA renders it."""
    kind = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}.get(
        item["type"], item["type"]
    )
    if kind == "STRUCT":
        members = [
            f"{f['name']} {type_string(f)}" + (" NOT NULL" if f.get("mode") == "REQUIRED" else "")
            for f in item.get("fields", [])
        ]
        inner = "STRUCT<" + ", ".join(members) + ">"
    elif kind == "RANGE":
        inner = f"RANGE<{(item.get('rangeElementType') or {}).get('type', 'DATE')}>"
    elif item.get("maxLength"):
        inner = f"{kind}({item['maxLength']})"
    elif item.get("precision"):
        inner = f"{kind}({item['precision']}" + (
            f", {item['scale']})" if item.get("scale") else ")"
        )
    else:
        inner = kind
    return f"ARRAY<{inner}>" if item.get("mode") == "REPEATED" else inner


def _list_item(table: dict[str, Any]) -> dict[str, Any]:
    keys = ("kind", "id", "tableReference", "type", "creationTime", "labels", "timePartitioning",
            "rangePartitioning", "clustering", "friendlyName", "expirationTime", "requirePartitionFilter")  # fmt: skip
    return {key: table[key] for key in keys if key in table}


def _cell(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"v": [{"v": _scalar(item)} for item in value]}
    return {"v": _scalar(value)}


def _scalar(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tables_rows(tables: list[dict[str, Any]], project: str, dataset: str):
    # TIMESTAMP cells as int64 microseconds: the client asks for them so (useInt64Timestamp).
    schema = [("table_catalog", "STRING", "NULLABLE"), ("table_schema", "STRING", "NULLABLE"),
              ("table_name", "STRING", "NULLABLE"), ("table_type", "STRING", "NULLABLE"),
              ("creation_time", "TIMESTAMP", "NULLABLE"), ("base_table_catalog", "STRING", "NULLABLE"),
              ("base_table_schema", "STRING", "NULLABLE"), ("base_table_name", "STRING", "NULLABLE"),
              ("snapshot_time_ms", "INTEGER", "NULLABLE")]  # fmt: skip
    kinds = {"TABLE": "BASE TABLE", "MATERIALIZED_VIEW": "MATERIALIZED VIEW"}
    rows = []
    for table in tables:
        base = (table.get("snapshotDefinition") or table.get("cloneDefinition") or {}).get(
            "baseTableReference"
        ) or {}
        kind = "CLONE" if table.get("cloneDefinition") else kinds.get(table["type"], table["type"])
        snapshot = (table.get("snapshotDefinition") or {}).get("snapshotTime")
        snapshot_ms = (
            int(datetime.fromisoformat(snapshot.replace("Z", "+00:00")).timestamp() * 1000)
            if snapshot
            else None
        )
        rows.append([project, dataset, table["tableReference"]["tableId"], kind,
                     int(table["creationTime"]) * 1000, base.get("projectId"),
                     base.get("datasetId"), base.get("tableId"), snapshot_ms])  # fmt: skip
    return schema, rows


def _columns_rows(tables: list[dict[str, Any]], project: str, dataset: str):
    schema = [("table_catalog", "STRING", "NULLABLE"), ("table_schema", "STRING", "NULLABLE"),
              ("table_name", "STRING", "NULLABLE"), ("column_name", "STRING", "NULLABLE"),
              ("ordinal_position", "INTEGER", "NULLABLE"), ("is_nullable", "STRING", "NULLABLE"),
              ("data_type", "STRING", "NULLABLE"), ("is_hidden", "STRING", "NULLABLE"),
              ("is_system_defined", "STRING", "NULLABLE"), ("is_partitioning_column", "STRING", "NULLABLE"),
              ("clustering_ordinal_position", "INTEGER", "NULLABLE"), ("collation_name", "STRING", "NULLABLE"),
              ("column_default", "STRING", "NULLABLE"), ("rounding_mode", "STRING", "NULLABLE")]  # fmt: skip
    rows = []
    for table in tables:
        partition = (table.get("timePartitioning") or table.get("rangePartitioning") or {}).get(
            "field"
        )
        clustering = (table.get("clustering") or {}).get("fields") or []
        for ordinal, item in enumerate((table.get("schema") or {}).get("fields") or [], start=1):
            rows.append([project, dataset, table["tableReference"]["tableId"], item["name"], ordinal,
                         "NO" if item.get("mode") == "REQUIRED" else "YES", type_string(item), "NO", "NO",
                         "YES" if item["name"] == partition else "NO",
                         clustering.index(item["name"]) + 1 if item["name"] in clustering else None,
                         item.get("collation"), item.get("defaultValueExpression") or "NULL",
                         item.get("roundingMode")])  # fmt: skip
    return schema, rows


def _options_rows(tables: list[dict[str, Any]], project: str, dataset: str):
    schema = [("table_catalog", "STRING", "NULLABLE"), ("table_schema", "STRING", "NULLABLE"),
              ("table_name", "STRING", "NULLABLE"), ("option_name", "STRING", "NULLABLE"),
              ("option_type", "STRING", "NULLABLE"), ("option_value", "STRING", "NULLABLE")]  # fmt: skip
    rows = []
    for table in tables:
        name = table["tableReference"]["tableId"]
        if table.get("description"):
            rows.append(
                [project, dataset, name, "description", "STRING", json.dumps(table["description"])]
            )
        if table.get("labels"):
            pairs = ", ".join(f'("{k}", "{v}")' for k, v in sorted(table["labels"].items()))
            rows.append(
                [project, dataset, name, "labels", "ARRAY<STRUCT<STRING, STRING>>", f"[{pairs}]"]
            )
        external = table.get("externalDataConfiguration")
        if external:
            rows.append(
                [
                    project,
                    dataset,
                    name,
                    "uris",
                    "ARRAY<STRING>",
                    json.dumps(external.get("sourceUris", [])),
                ]
            )
            rows.append(
                [
                    project,
                    dataset,
                    name,
                    "format",
                    "STRING",
                    json.dumps(external.get("sourceFormat")),
                ]
            )
        expiration = (table.get("timePartitioning") or {}).get("expirationMs")
        if expiration:
            rows.append(
                [
                    project,
                    dataset,
                    name,
                    "partition_expiration_days",
                    "FLOAT64",
                    str(int(expiration) / 86_400_000),
                ]
            )
        if table.get("requirePartitionFilter"):
            rows.append([project, dataset, name, "require_partition_filter", "BOOL", "true"])
    return schema, rows


def _views_rows(tables: list[dict[str, Any]], project: str, dataset: str):
    schema = [("table_catalog", "STRING", "NULLABLE"), ("table_schema", "STRING", "NULLABLE"),
              ("table_name", "STRING", "NULLABLE"), ("view_definition", "STRING", "NULLABLE"),
              ("check_option", "STRING", "NULLABLE"), ("use_standard_sql", "STRING", "NULLABLE")]  # fmt: skip
    rows = [[project, dataset, t["tableReference"]["tableId"], t.get("view", {}).get("query"), None, "YES"]
            for t in tables if t["type"] == "VIEW"]  # fmt: skip
    return schema, rows


_RENDERERS: dict[str, Callable[..., Any]] = {
    "TABLES": _tables_rows,
    "COLUMNS": _columns_rows,
    "TABLE_OPTIONS": _options_rows,
    "VIEWS": _views_rows,
}


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        fake: FakeBigQuery = self.server.fake  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            reply = fake.handle(self.command, self.path, headers, data)
        except Exception as error:  # a bug in the fake: make it loud, as a 500
            reply = _Reply(500, error_body(500, "internalError", f"fake failed: {error!r}"))
        payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
