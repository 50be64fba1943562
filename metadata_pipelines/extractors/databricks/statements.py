"""The SQL Statement Execution API: run one statement on a SQL warehouse and collect its rows.

POST /api/2.0/sql/statements waits up to `wait_timeout` for the result; a statement still PENDING or
RUNNING after that is polled (GET /api/2.0/sql/statements/{id}) with a growing interval until it ends
or the statement timeout passes (then it is cancelled). Results come inline as JSON_ARRAY chunks
(values are strings or null); further chunks are fetched by index. A statement that fails still
answers HTTP 200, with `status.state = FAILED`: that becomes a `StatementFailedError`.
`check_warehouse` reads GET /api/2.0/sql/warehouses/{id} for `test_connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from metadata_pipelines.extractors.databricks.client import (
    WAREHOUSE_GRANT,
    NotFoundError,
    UnityCatalogClient,
)
from metadata_pipelines.extractors.databricks.mapper import parse
from metadata_pipelines.extractors.errors import (
    ConfigurationError,
    ExtractorError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
)

STATEMENTS_PATH = "/api/2.0/sql/statements"
WAREHOUSES_PATH = "/api/2.0/sql/warehouses"
RUNNING_STATES = frozenset({"PENDING", "RUNNING"})
GONE_WAREHOUSE_STATES = frozenset({"DELETED", "DELETING"})

Row = list[str | None]


class StatementFailedError(SourceResponseError):
    """The warehouse ran the statement and reported FAILED (bad SQL, missing grant, ...)."""

    code = "statement_failed"


class _Api(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _StatementError(_Api):
    error_code: str | None = None
    message: str | None = None


class _Status(_Api):
    state: str
    error: _StatementError | None = None


class _Column(_Api):
    name: str
    position: int | None = None


class _ResultSchema(_Api):
    columns: list[_Column] = Field(default_factory=list)


class _Manifest(_Api):
    format: str | None = None
    schema_: _ResultSchema | None = Field(default=None, alias="schema")
    total_chunk_count: int | None = None
    truncated: bool = False


class ResultData(_Api):
    chunk_index: int | None = None
    data_array: list[Row] | None = None
    next_chunk_index: int | None = None


class StatementResponse(_Api):
    statement_id: str
    status: _Status
    manifest: _Manifest | None = None
    result: ResultData | None = None


class _Warehouse(_Api):
    """GET /api/2.0/sql/warehouses/{id} (the SDK's GetWarehouseResponse), the fields read here."""

    id: str | None = None
    name: str | None = None
    state: str | None = None


class StatementResult(_Api):
    columns: list[str]
    rows: list[Row]

    def records(self) -> list[dict[str, str | None]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


class StatementRunner:
    """Runs statements on one warehouse through an authenticated `UnityCatalogClient`."""

    def __init__(
        self,
        client: UnityCatalogClient,
        warehouse_id: str,
        *,
        timeout_seconds: float = 300.0,
        wait_timeout: str = "30s",
        poll_min_seconds: float = 0.25,
        poll_max_seconds: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._warehouse_id = warehouse_id
        self._timeout = timeout_seconds
        self._wait_timeout = wait_timeout
        self._poll_min = poll_min_seconds
        self._poll_max = poll_max_seconds
        self._sleep = sleep

    async def check_warehouse(self) -> None:
        """The warehouse exists, the principal may use it, and it is not being deleted. A stopped
        warehouse passes: a statement starts it (slowly, hence not started here)."""
        warehouse = self._warehouse_id
        what = f"reading SQL warehouse {warehouse!r}"
        try:
            raw = await self._client.get_json(
                f"{WAREHOUSES_PATH}/{quote(warehouse, safe='')}", what=what, grant=WAREHOUSE_GRANT
            )
        except NotFoundError:
            raise ConfigurationError(
                f"SQL warehouse {warehouse!r} does not exist or is not visible to this principal; "
                "check http_path (the warehouse's Connection details)"
            ) from None
        info: _Warehouse = parse(_Warehouse, raw, what)
        if info.state in GONE_WAREHOUSE_STATES:
            raise ConfigurationError(
                f"SQL warehouse {warehouse!r} ({info.name or 'no name'}) is {info.state.lower()}; "
                "point http_path at a live warehouse"
            )

    async def run(
        self, statement: str, *, what: str, catalog: str | None = None
    ) -> StatementResult:
        body: dict[str, Any] = {
            "statement": statement,
            "warehouse_id": self._warehouse_id,
            "wait_timeout": self._wait_timeout,
            "on_wait_timeout": "CONTINUE",
            "disposition": "INLINE",
            "format": "JSON_ARRAY",
        }
        if catalog is not None:
            body["catalog"] = catalog
        started = time.monotonic()
        raw = await self._client.post_json(STATEMENTS_PATH, body, what=what, grant=WAREHOUSE_GRANT)
        response: StatementResponse = parse(StatementResponse, raw, what)
        interval = self._poll_min
        while response.status.state in RUNNING_STATES:
            if time.monotonic() - started > self._timeout:
                await self._cancel(response.statement_id, what)
                raise SourceTimeoutError(
                    f"{what}: the statement did not finish within {self._timeout:g}s and was "
                    "cancelled; is the SQL warehouse running?"
                )
            await self._sleep(interval)
            interval = min(interval * 2, self._poll_max)
            raw = await self._client.get_json(
                self._path(response.statement_id), what=what, grant=WAREHOUSE_GRANT
            )
            response = parse(StatementResponse, raw, what)
        return await self._collect(response, what)

    async def _collect(self, response: StatementResponse, what: str) -> StatementResult:
        state = response.status.state
        if state == "FAILED":
            error = response.status.error or _StatementError()
            raise StatementFailedError(
                f"{what}: the statement failed ({error.error_code or 'no error code'}: "
                f"{self._client.safe(error.message or 'no message')})"
            )
        if state != "SUCCEEDED":
            raise SourceUnavailableError(f"{what}: the statement ended in state {state}")
        manifest = response.manifest
        if manifest is None or manifest.schema_ is None:
            raise SourceResponseError(f"{what}: a succeeded statement came without a manifest")
        if manifest.truncated:
            raise SourceResponseError(f"{what}: the inline result was truncated by the warehouse")
        columns = [c.name for c in sorted(manifest.schema_.columns, key=lambda c: c.position or 0)]
        rows: list[Row] = []
        chunk = response.result
        seen: set[int] = set()
        while chunk is not None:
            rows.extend(chunk.data_array or [])
            following = chunk.next_chunk_index
            if following is None:
                break
            if following in seen:
                raise SourceResponseError(f"{what}: the result chunks loop at {following}")
            seen.add(following)
            raw = await self._client.get_json(
                f"{self._path(response.statement_id)}/result/chunks/{following}", what=what
            )
            chunk = parse(ResultData, raw, what)
        for row in rows:
            if len(row) != len(columns):
                raise SourceResponseError(
                    f"{what}: a result row has {len(row)} values for {len(columns)} columns"
                )
        return StatementResult(columns=columns, rows=rows)

    async def _cancel(self, statement_id: str, what: str) -> None:
        # Best effort: the timeout is what gets reported, whatever the cancel answers.
        with contextlib.suppress(ExtractorError):
            await self._client.post_json(
                f"{self._path(statement_id)}/cancel", {}, what=f"{what} (cancelling)"
            )

    @staticmethod
    def _path(statement_id: str) -> str:
        return f"{STATEMENTS_PATH}/{quote(statement_id, safe='')}"
