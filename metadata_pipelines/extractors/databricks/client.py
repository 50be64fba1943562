"""A small async client for the Databricks REST API: auth, bounded concurrency, retries, errors.

Why not the Databricks SDK: it is synchronous (one request at a time per thread) and large; listing a
workspace is a handful of GET endpoints, and the rules that matter are kept here in one place:

- at most `max_concurrent_requests` requests are on the wire at once (a semaphore held only for the
  request itself, never while waiting to retry);
- 429 and 503 are retried after `Retry-After` (seconds or an HTTP date), or after an exponential
  backoff with jitter when the header is absent; refused / dropped connections, timeouts and, for a
  GET, a gateway's 502 / 504 are retried the same way; every request gives up once its retry budget
  is spent;
- 401 -> AuthenticationError, 403 -> PrivilegeError naming what was denied, 404 -> NotFoundError
  (callers decide whether that is a vanished object or a mistake), any other 5xx ->
  SourceUnavailableError, other 4xx and bodies that are not a JSON object -> SourceResponseError;
- the token is only ever put in the Authorization header; every message leaving this module is
  scrubbed of every secret it knows (the PAT, the OAuth client secret and the tokens it issued);
- listings request their next page while the caller maps the current one.

Requests go through `httpx.AsyncClient` on an aiohttp transport (`transport.py` says why).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
import pydantic_core

from metadata_pipelines.extractors.databricks.config import DatabricksCredentials
from metadata_pipelines.extractors.databricks.oauth import OAuthM2MToken, StaticToken, TokenSource
from metadata_pipelines.extractors.databricks.transport import direct_transport
from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PermanentExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
    TransientExtractorError,
    name_not_resolved,
    scrub,
)

logger = logging.getLogger(__name__)

USER_AGENT = "metadata-pipelines-databricks/0.1"
RETRY_STATUSES = frozenset({429, 503})
# A gateway's 502 / 504 says nothing of whether the request was carried out: retried for GET only.
GATEWAY_STATUSES = frozenset({502, 504})
UNITY_CATALOG_GRANT = "USE / BROWSE on it"
WAREHOUSE_GRANT = "CAN USE on the SQL warehouse"


class NotFoundError(PermanentExtractorError):
    """HTTP 404: the object asked for does not exist (any more), or the caller may not see it."""

    code = "not_found"

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if unusable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or (lambda: datetime.now(UTC)))()).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


def decode_json(content: bytes) -> Any:
    """Parse a JSON body: pydantic-core's Rust parser (about 2x the standard library on listing
    pages), falling back to `json.loads` for what only the latter accepts (a UTF-8 BOM, UTF-16,
    lone surrogates), so no body that parsed before is refused now."""
    try:
        return pydantic_core.from_json(content)
    except ValueError:
        return json.loads(content)


def error_detail(response: httpx.Response) -> tuple[str | None, str]:
    """(error_code, message) from a Databricks error body, or the HTTP reason when there is none."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        code = body.get("error_code")
        message = body.get("message") or body.get("error") or body.get("detail")
        return (str(code) if code else None), str(message or response.reason_phrase)
    return None, response.reason_phrase or f"HTTP {response.status_code}"


class UnityCatalogClient:
    """One workspace session; use it as an async context manager."""

    def __init__(
        self,
        workspace_url: str,
        credentials: DatabricksCredentials,
        *,
        max_concurrent_requests: int = 16,
        timeout_seconds: float = 60.0,
        retry_budget_seconds: float = 300.0,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.workspace_url = workspace_url
        self.max_concurrent_requests = max_concurrent_requests
        self._timeout_seconds = timeout_seconds
        self._retry_budget = retry_budget_seconds
        self._backoff_base = backoff_base_seconds
        self._backoff_cap = backoff_cap_seconds
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(max_concurrent_requests)
        self._http = httpx.AsyncClient(
            base_url=workspace_url,
            timeout=httpx.Timeout(timeout_seconds),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            limits=httpx.Limits(
                max_connections=max_concurrent_requests,
                max_keepalive_connections=max_concurrent_requests,
            ),
            transport=transport or direct_transport(max_concurrent_requests),
            follow_redirects=False,
        )
        self._credential_secrets = credentials.secret_values()
        self._tokens: TokenSource
        if credentials.uses_oauth:
            assert credentials.client_id and credentials.client_secret
            self._tokens = OAuthM2MToken(
                credentials.client_id,
                credentials.client_secret.get_secret_value(),
                self._post_token_request,
            )
        else:
            assert credentials.access_token
            self._tokens = StaticToken(credentials.access_token.get_secret_value())
        self.requests_sent = 0
        self.retries = 0

    async def __aenter__(self) -> UnityCatalogClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"UnityCatalogClient({self.workspace_url!r}, tokens={self._tokens!r})"

    # -- public API -----------------------------------------------------------------------------

    @property
    def token_source(self) -> TokenSource:
        return self._tokens

    def secrets(self) -> list[str]:
        return [*self._credential_secrets, *self._tokens.secrets()]

    def safe(self, text: str) -> str:
        return scrub(text, self.secrets())

    async def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str,
        read: Callable[[bytes], Mapping[str, Any]] | None = None,
        grant: str = UNITY_CATALOG_GRANT,
    ) -> dict[str, Any]:
        """The response's JSON object. `read` is a faster, stricter reader for the expected shape
        (a pydantic `validate_json`); whatever it refuses goes through plain decoding instead.
        `grant` is what a 403's message tells the user to grant."""
        response = await self._send("GET", path, what=what, params=_query(params))
        return self._json_object(response, what, read, grant)

    async def post_json(
        self, path: str, body: Mapping[str, Any], *, what: str, grant: str = UNITY_CATALOG_GRANT
    ) -> dict[str, Any]:
        response = await self._send("POST", path, what=what, json=dict(body))
        return self._json_object(response, what, grant=grant)

    async def paginate(
        self,
        path: str,
        params: Mapping[str, Any],
        items_key: str,
        *,
        what: str,
        read: Callable[[bytes], Mapping[str, Any]] | None = None,
    ) -> AsyncIterator[list[Any]]:
        """Yield each page's items, following `next_page_token` until it is absent or empty.

        `max_results=0` lets the server pick its page size; an empty page may still carry a token.
        A token the server already gave is a loop, reported rather than followed forever. The next
        page is requested before a page is yielded, so what the caller does with one page overlaps
        the wait for the next.
        """
        seen: set[str] = set()

        def request(token: str | None) -> asyncio.Task[dict[str, Any]]:
            query = {**params, "max_results": 0}
            if token:
                query["page_token"] = token
            return asyncio.ensure_future(self.get_json(path, query, what=what, read=read))

        upcoming: asyncio.Task[dict[str, Any]] | None = request(None)
        try:
            while upcoming is not None:
                page = await upcoming
                upcoming = None
                items = page.get(items_key)
                if items is None:
                    items = []
                if not isinstance(items, list):
                    raise SourceResponseError(
                        f"{what}: expected a list in {items_key!r}, got {type(items).__name__}"
                    )
                token = page.get("next_page_token")
                if token is not None and token != "":
                    if not isinstance(token, str):
                        raise SourceResponseError(f"{what}: next_page_token is not a string")
                    if token in seen:
                        raise SourceResponseError(f"{what}: the server repeated a page token")
                    seen.add(token)
                    upcoming = request(token)
                yield items
        finally:
            if upcoming is not None:
                await _abandon(upcoming)

    # -- internals ------------------------------------------------------------------------------

    async def _post_token_request(
        self, path: str, auth: httpx.BasicAuth, form: dict[str, str]
    ) -> httpx.Response:
        return await self._send(
            "POST", path, what="exchanging OAuth client credentials", authorize=False,
            auth=auth, data=form,
        )  # fmt: skip

    async def _send(
        self, method: str, path: str, *, what: str, authorize: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries; returns any response that is not a retryable 429/503."""
        deadline = time.monotonic() + self._retry_budget
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            headers: dict[str, str] = {}
            if authorize:
                headers["Authorization"] = f"Bearer {await self._tokens.token()}"
            hint: float | None = None
            try:
                async with self._semaphore:
                    self.requests_sent += 1
                    response = await self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TimeoutException as error:
                failure: TransientExtractorError = SourceTimeoutError(
                    f"{what}: no answer from {self.workspace_url} within "
                    f"{self._timeout_seconds:g}s ({type(error).__name__})"
                )
            except httpx.TransportError as error:
                if name_not_resolved(str(error)):
                    raise ConfigurationError(
                        f"{what}: host name of {self.workspace_url} does not resolve "
                        f"({self.safe(str(error))})"
                    ) from None
                failure = SourceUnavailableError(
                    f"{what}: cannot reach {self.workspace_url} ({type(error).__name__}: "
                    f"{self.safe(str(error)) or 'connection failed'})"
                )
            else:
                status = response.status_code
                if (
                    status == 401
                    and authorize
                    and not renewed
                    and isinstance(self._tokens, OAuthM2MToken)
                ):
                    # An OAuth token can be revoked or expire early: exchange once more.
                    renewed = True
                    self._tokens.invalidate()
                    continue
                if status not in RETRY_STATUSES and not (
                    status in GATEWAY_STATUSES and method == "GET"
                ):
                    return response
                hint = parse_retry_after(response.headers.get("Retry-After"))
                code, message = error_detail(response)
                label = f"HTTP {status}" + (f" {code}" if code else "")
                problem = "service unavailable" if status == 503 else "gateway error"
                failure = (
                    ThrottledError(f"{what}: throttled ({label})", retry_after=hint)
                    if status == 429
                    else SourceUnavailableError(
                        f"{what}: {problem} ({label}: {self.safe(message)})"
                    )
                )
            delay = self._delay(attempt, hint)
            if time.monotonic() + delay > deadline:
                failure.message = (
                    f"{failure.message}; gave up after {attempt} attempt(s), "
                    f"retry budget {self._retry_budget:g}s spent"
                )
                raise failure
            self.retries += 1
            logger.info("%s; retry %d in %.2fs", failure.message, attempt, delay)
            await self._sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + random.uniform(0, min(1.0, retry_after * 0.25))  # noqa: S311
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311

    def _json_object(
        self,
        response: httpx.Response,
        what: str,
        read: Callable[[bytes], Mapping[str, Any]] | None = None,
        grant: str = UNITY_CATALOG_GRANT,
    ) -> dict[str, Any]:
        self._raise_for_status(response, what, grant)
        if read is not None:
            try:
                return dict(read(response.content))
            except ValueError:
                pass  # not the expected shape: plain decoding below, and the caller says what is wrong
        try:
            body = decode_json(response.content)
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("content-type", "no content-type")
            raise SourceResponseError(
                f"{what}: the workspace answered HTTP {response.status_code} with a body that is "
                f"not JSON ({kind}, {len(response.content)} bytes); is workspace_url the "
                "workspace's own address?"
            ) from None
        if not isinstance(body, dict):
            raise SourceResponseError(
                f"{what}: expected a JSON object, got a JSON {type(body).__name__}"
            )
        return body

    def _raise_for_status(self, response: httpx.Response, what: str, grant: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        code, message = error_detail(response)
        detail = self.safe(f"HTTP {status}" + (f" {code}" if code else "") + f": {message}")
        error: ExtractorError
        if status == 401:
            error = AuthenticationError(
                f"{what}: the workspace rejected the credentials ({detail}); check that the token "
                "is valid and not expired, or the OAuth client id and secret"
            )
        elif status == 403:
            error = PrivilegeError(
                f"{what}: permission denied ({detail}); grant the principal {grant}"
            )
        elif status == 404:
            error = NotFoundError(f"{what}: not found ({detail})", error_code=code)
        elif status >= 500:
            error = SourceUnavailableError(f"{what}: server error ({detail})")
        else:
            error = SourceResponseError(f"{what}: request refused ({detail})")
        raise error


async def _abandon(task: asyncio.Task[Any]) -> None:
    """Cancel a page request nobody will read and wait for it to end, so its connection is released
    and a failure of it is not reported as never retrieved. Our own cancellation still propagates."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


def _query(params: Mapping[str, Any] | None) -> dict[str, str | int] | None:
    """Query values as Databricks expects them: booleans as true/false, None left out."""
    if not params:
        return None
    out: dict[str, str | int] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out
