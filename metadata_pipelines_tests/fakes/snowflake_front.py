"""A Snowflake front on loopback: forwards the connector's HTTP protocol to fakesnow, and plays the
parts fakesnow does not.

fakesnow (tests) answers logins, SHOW commands and INFORMATION_SCHEMA from DuckDB, but accepts any
credentials, has no roles or privileges, never marks a view secure, has no 10,000-row limit on SHOW,
and does not implement `SHOW ... KEYS IN DATABASE`. This front sits between the connector and
fakesnow (`upstream`) and adds, with Snowflake's own response bodies and error codes:

- users and their credentials: a password, or a registered RSA public key against which the
  key-pair JWT the connector signs is verified (RS256, issuer and subject as Snowflake checks them);
  a wrong one is answered 390100 / 390144, a locked user 390102, a role not granted 390189;
- what a role sees: `visible_databases` filters SHOW DATABASES and answers 002003 "does not exist or
  not authorized" for any other; `denied_databases` are listed but not readable (USAGE revoked, or
  dropped after the listing);
- secure views as a non-owner sees them (`is_secure` true, `text` empty);
- SHOW's row limit (`show_row_limit`, 10,000 in Snowflake; small in tests): a SHOW in a database
  or schema, without LIMIT, whose answer is longer is refused with 090153, as Snowflake does;
- statement errors (`faults`: a pattern, a code, a message), such as a statement timeout;
- sessions that expire (`expire_sessions`: the next statements are answered 390112, and the
  connector's renewal request 390114, as when the master token expired too);
- `SHOW PRIMARY | UNIQUE | IMPORTED KEYS IN DATABASE`, answered from fakesnow's `IN ACCOUNT` form
  (without the rows fakesnow adds to IMPORTED KEYS for every primary key, whose referenced side is
  empty: fakesnow cannot report foreign keys, so they are tested on recorded rows).

Every statement and login is recorded (`statements`, `logins`) for the tests to inspect.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pyarrow as pa
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

QUERY = "/queries/v1/query-request"
LOGIN = "/session/v1/login-request"
RENEW = "/session/token-request"
_IN_DATABASE = re.compile(
    r'^\s*SHOW\s+(?P<what>.+?)\s+IN\s+(?:DATABASE|SCHEMA)\s+"(?P<db>(?:[^"]|"")+)"', re.I
)
_KEYS_IN_DATABASE = re.compile(
    r'^\s*SHOW\s+(?P<what>PRIMARY|UNIQUE|IMPORTED)\s+KEYS\s+IN\s+DATABASE\s+"(?P<db>(?:[^"]|"")+)"\s*$',
    re.I,
)
_LIMIT = re.compile(r"\sLIMIT\s+\d+", re.I)
#: SHOW STREAMS' output columns, as Snowflake documents them.
STREAM_COLUMNS = (
    "created_on", "name", "database_name", "schema_name", "owner", "comment", "table_name",
    "source_type", "base_tables", "type", "stale", "mode", "stale_after", "invalid_reason",
    "owner_role_type",
)  # fmt: skip


def failure(code: str, message: str, sqlstate: str = "08001") -> dict[str, Any]:
    """Snowflake's body for a failed login or statement (HTTP 200, success false)."""
    return {
        "data": {"errorCode": code, "sqlState": sqlstate, "internalError": False},
        "code": code,
        "message": message,
        "success": False,
    }


@dataclass
class User:
    password: str | None = None
    public_key: RSAPublicKey | None = None
    roles: set[str] = field(default_factory=lambda: {"PUBLIC"})
    locked: bool = False


def fingerprint(public_key: RSAPublicKey) -> str:
    """SHA256:<base64 of the DER public key's digest>, as Snowflake names a user's key."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return "SHA256:" + base64.b64encode(digest.finalize()).decode()


class SnowflakeFront:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.users: dict[str, User] = {}
        self.visible_databases: set[str] | None = None
        self.denied_databases: set[str] = set()
        self.secure_views: set[tuple[str, str, str]] = set()
        self.show_row_limit: int | None = None
        #: Answer the next N statements with 390112, as Snowflake does when a session expired.
        self.expire_sessions = 0
        #: Rows of SHOW STREAMS (fakesnow has no streams), keyed by STREAM_COLUMNS.
        self.streams: list[dict[str, str]] = []
        #: Statements matching a pattern are answered with that Snowflake error (code, message).
        self.faults: list[tuple[str, str, str]] = []
        self.statements: list[str] = []
        self.logins: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._session_locks: dict[str, threading.Lock] = {}
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def start(self) -> SnowflakeFront:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                front._handle(self)

            def do_GET(self) -> None:
                front._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # Requests -----------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = gzip.decompress(raw) if handler.headers.get("Content-Encoding") == "gzip" else raw
        path = urlsplit(handler.path).path
        if path == LOGIN:
            answer = self._check_login(handler.path, json.loads(body))
        elif path == QUERY:
            # fakesnow runs one DuckDB connection per session and fails statements sent on it
            # concurrently; Snowflake runs them side by side. Statements of one session are
            # serialised here (sessions still run in parallel).
            with self._session_lock(handler.headers.get("Authorization", "")):
                answer = self._query(handler, json.loads(body))
                if answer is None:
                    self._send(handler, *self._forward(handler, raw))
                    return
        elif path == RENEW:
            # fakesnow cannot renew a session; Snowflake refuses to once the master token expired.
            answer = failure(
                "390114", "Authentication token has expired.  The user must authenticate again."
            )
        else:
            answer = None
        if answer is not None:
            self._send(handler, 200, json.dumps(answer).encode(), "application/json")
            return
        self._send(handler, *self._forward(handler, raw))

    def _session_lock(self, token: str) -> threading.Lock:
        with self._lock:
            return self._session_locks.setdefault(token, threading.Lock())

    def _forward(
        self, handler: BaseHTTPRequestHandler, raw: bytes, body: bytes | None = None
    ) -> tuple[int, bytes, str]:
        headers = {
            key: value
            for key, value in handler.headers.items()
            if key.lower() in {"authorization", "content-type", "accept", "content-encoding"}
        }
        if body is not None:
            headers.pop("Content-Encoding", None)
            headers.pop("content-encoding", None)
        response = requests.request(
            handler.command,
            self.upstream + handler.path,
            data=raw if body is None else body,
            headers=headers,
            timeout=120,
        )
        return (
            response.status_code,
            response.content,
            response.headers.get("Content-Type", "application/json"),
        )

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, content: bytes, kind: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    # Logins -------------------------------------------------------------------------------------

    def _check_login(self, target: str, body: dict[str, Any]) -> dict[str, Any] | None:
        data = body.get("data", {})
        role = (parse_qs(urlsplit(target).query).get("roleName") or [None])[0]
        with self._lock:
            self.logins.append(
                {
                    "user": data.get("LOGIN_NAME"),
                    "authenticator": data.get("AUTHENTICATOR"),
                    "role": role,
                    "session_parameters": data.get("SESSION_PARAMETERS", {}),
                }
            )
        if not self.users:
            return None
        name = str(data.get("LOGIN_NAME") or "").upper()
        user = self.users.get(name)
        if user is not None and user.locked:
            return failure("390102", "User temporarily locked. Try again later.")
        if data.get("AUTHENTICATOR") == "SNOWFLAKE_JWT":
            if (
                user is None
                or user.public_key is None
                or not self._jwt_ok(
                    name, data.get("ACCOUNT_NAME", ""), data.get("TOKEN", ""), user.public_key
                )
            ):
                return failure("390144", "JWT token is invalid.", "28000")
        elif user is None or user.password is None or data.get("PASSWORD") != user.password:
            return failure("390100", "Incorrect username or password was specified.", "28000")
        if role is not None and role.strip('"').upper() not in user.roles:
            return failure(
                "390189",
                f"Role '{role}' specified in the connect string does not exist or not "
                "authorized. Contact your local system administrator, or attempt to login "
                "with another role, e.g. PUBLIC.",
                "08004",
            )
        return None

    @staticmethod
    def _jwt_ok(user: str, account: str, token: str, public_key: RSAPublicKey) -> bool:
        qualified = f"{account.upper()}.{user}"
        try:
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["RS256"],
                options={"require": ["iss", "sub", "iat", "exp"]},
            )
        except jwt.PyJWTError:
            return False
        return claims["sub"] == qualified and claims["iss"] == (
            f"{qualified}.{fingerprint(public_key)}"
        )

    # Statements ---------------------------------------------------------------------------------

    def _query(
        self, handler: BaseHTTPRequestHandler, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        sql = body.get("sqlText", "")
        with self._lock:
            self.statements.append(sql)
            if self.expire_sessions:
                self.expire_sessions -= 1
                return {
                    "data": None,
                    "code": "390112",
                    "message": "Your session has expired. Please login again.",
                    "success": False,
                }
        for pattern, code, message in self.faults:
            if re.search(pattern, sql, re.I):
                return failure(code, message, "57014")
        scoped = _IN_DATABASE.match(sql)
        if scoped is not None:
            database = scoped.group("db").replace('""', '"')
            hidden = self.visible_databases is not None and database not in self.visible_databases
            if hidden or database in self.denied_databases:
                return failure(
                    "002003",
                    f"SQL compilation error:\nDatabase '\"{database}\"' does not exist or not "
                    "authorized.",
                    "02000",
                )
        if scoped is not None and scoped.group("what").upper() == "STREAMS":
            return self._answer_streams(handler, body, scoped.group("db").replace('""', '"'))
        keys = _KEYS_IN_DATABASE.match(sql)
        if keys is not None:
            sent = dict(body, sqlText=f"SHOW {keys.group('what')} KEYS IN ACCOUNT")
            database = keys.group("db").replace('""', '"')
            column = (
                "fk_database_name"
                if keys.group("what").upper() == "IMPORTED"
                else ("database_name")
            )
            keep = {database}
            if column == "fk_database_name":
                # fakesnow also lists every primary key as an imported key with an empty
                # referenced side; Snowflake lists foreign keys only.
                return self._rewrite(
                    handler,
                    sent,
                    lambda t: _drop_empty(_keep(t, column, keep), "pk_table_name"),
                )
            return self._rewrite(handler, sent, lambda t: _keep(t, column, keep))
        if re.match(r"^\s*SHOW\s+DATABASES\s*$", sql, re.I) and self.visible_databases is not None:
            visible = self.visible_databases
            return self._rewrite(handler, body, lambda t: _keep(t, "name", visible))
        if re.match(r"^\s*SHOW\s+VIEWS\s", sql, re.I) and self.secure_views:
            return self._rewrite(handler, body, self._secure)
        if self.show_row_limit is not None and scoped is not None and not _LIMIT.search(sql):
            return self._rewrite(handler, body, lambda t: t)
        return None

    def _rewrite(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], change) -> dict:
        status, content, _ = self._forward(handler, b"", json.dumps(body).encode())
        answer = json.loads(content)
        data = answer.get("data") or {}
        if status != 200 or not answer.get("success") or not data.get("rowsetBase64"):
            return answer
        reader = pa.ipc.open_stream(base64.b64decode(data["rowsetBase64"]))
        table = change(reader.read_all())
        if self.show_row_limit is not None and table.num_rows > self.show_row_limit:
            return failure(
                "090153",
                "The result set size exceeded the max number of rows(10000) supported for SHOW "
                "statements. Use LIMIT option to limit result set to a smaller number.",
                "22000",
            )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        data["rowsetBase64"] = base64.b64encode(sink.getvalue().to_pybytes()).decode()
        data["total"] = table.num_rows
        return answer

    def _answer_streams(self, handler, body: dict[str, Any], database: str) -> dict[str, Any]:
        """SHOW STREAMS from `streams`, answered by fakesnow as a query of literal rows (so the
        body is fakesnow's own, with Snowflake's row types)."""
        names = ", ".join(f'"{c}"' for c in STREAM_COLUMNS)
        rows = [r for r in self.streams if r.get("database_name") == database]
        if not rows:
            nulls = ", ".join(f'NULL::VARCHAR AS "{c}"' for c in STREAM_COLUMNS)
            sql = f"SELECT {nulls} WHERE 1 = 0"
        else:
            values = ", ".join(
                "(" + ", ".join(_literal(r.get(c)) for c in STREAM_COLUMNS) + ")" for r in rows
            )
            sql = f"SELECT * FROM (VALUES {values}) AS t({names})"
        _, content, _ = self._forward(handler, b"", json.dumps(dict(body, sqlText=sql)).encode())
        return json.loads(content)

    def _secure(self, table: pa.Table) -> pa.Table:
        names = table.schema.names
        rows = table.to_pylist()
        secure = [
            (r["database_name"], r["schema_name"], r["name"]) in self.secure_views for r in rows
        ]
        for column, value in (("is_secure", "true"), ("text", "")):
            index = names.index(column)
            kind = table.schema.field(index).type
            values = [
                (True if pa.types.is_boolean(kind) else value) if hit else row[column]
                for hit, row in zip(secure, rows, strict=True)
            ]
            table = table.set_column(index, table.schema.field(index), pa.array(values, kind))
        return table


def _keep(table: pa.Table, column: str, values: set[str]) -> pa.Table:
    mask = [value in values for value in table.column(column).to_pylist()]
    return table.filter(pa.array(mask, pa.bool_()))


def _drop_empty(table: pa.Table, column: str) -> pa.Table:
    mask = [bool(value) for value in table.column(column).to_pylist()]
    return table.filter(pa.array(mask, pa.bool_()))


def _literal(value: Any) -> str:
    if value is None:
        return "NULL::VARCHAR"
    return "'" + str(value).replace("'", "''") + "'"
