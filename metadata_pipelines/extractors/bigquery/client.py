"""The google-cloud-bigquery client the connector uses, with its accounting and concurrency.

The library is synchronous (requests underneath), so every call runs in a bounded thread pool: at
most `max_concurrent_requests` calls are in flight, and the event loop stays free. Retries are the
library's own (`DEFAULT_RETRY` / `DEFAULT_JOB_RETRY`: 429, 5xx, `rateLimitExceeded`,
`backendError`, connection errors), bounded by the configured deadline.

The HTTP session is ours (an `AuthorizedSession` from google-auth) so that its connection pool fits
the concurrency and a response hook can count API calls per method and read `totalBytesBilled` from
each query response: `RowIterator` exposes bytes processed but not bytes billed.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import google.auth
import requests
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY
from google.oauth2 import service_account

from metadata_pipelines.extractors.bigquery.config import (
    BIGQUERY_SCOPE,
    BigQueryConfig,
    BigQueryCredentials,
)
from metadata_pipelines.extractors.errors import ConfigurationError

T = TypeVar("T")
Row = dict[str, Any]

_API_PATH = re.compile(
    r"/bigquery/v2/projects(?:/[^/]+(?:/(\w+)(?:/[^/]+(?:/(\w+)(?:/[^/?]+)?)?)?)?)?"
)
_BILLED = re.compile(rb'"totalBytesBilled"\s*:\s*"?(\d+)')
_PROCESSED = re.compile(rb'"totalBytesProcessed"\s*:\s*"?(\d+)')
_JOB_ID = re.compile(rb'"jobId"\s*:\s*"([^"]+)"')
_QUERY_ID = re.compile(rb'"queryId"\s*:\s*"([^"]+)"')


@dataclass
class Accounting:
    """What one sync cost: API calls by method, query jobs, bytes billed and processed."""

    calls: Counter[str] = field(default_factory=Counter)
    queries: int = 0
    billed: dict[str, int] = field(default_factory=dict)
    processed: dict[str, int] = field(default_factory=dict)

    @property
    def api_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def bytes_billed(self) -> int:
        return sum(self.billed.values())

    @property
    def bytes_processed(self) -> int:
        return sum(self.processed.values())

    def summary(self) -> dict[str, Any]:
        return {
            "api_calls": self.api_calls,
            "calls": dict(sorted(self.calls.items())),
            "queries": self.queries,
            "bytes_billed": self.bytes_billed,
            "bytes_processed": self.bytes_processed,
        }


def method_name(http_method: str, url: str) -> str:
    """`tables.list`, `jobs.query`, ... for a request URL of the v2 REST API."""
    match = _API_PATH.search(url)
    if match is None:
        return "other"
    collection, child = match.group(1), match.group(2)
    if collection is None:
        return "projects.list"
    if collection == "queries":
        return "jobs.query" if http_method == "POST" else "jobs.getQueryResults"
    resource = child or collection
    is_item = url.split("?")[0].rstrip("/").split("/")[-1] != resource
    if http_method == "GET":
        return f"{resource}.{'get' if is_item else 'list'}"
    return f"{resource}.{http_method.lower()}"


def build_credentials(config: BigQueryConfig, credentials: BigQueryCredentials) -> Credentials:
    """google-auth credentials for the configured method (never hand-made tokens)."""
    if credentials.method == "anonymous":
        if not config.on_loopback:
            raise ConfigurationError(
                "anonymous credentials are only accepted with an api_endpoint on loopback "
                "(an emulator); give a service-account key or use Application Default Credentials"
            )
        return AnonymousCredentials()
    if credentials.method == "service_account":
        try:
            return service_account.Credentials.from_service_account_info(
                credentials.key_info, scopes=[BIGQUERY_SCOPE]
            )
        except (ValueError, KeyError):
            raise ConfigurationError(
                "service_account_json: the key cannot be loaded (is private_key a PEM key?)"
            ) from None
    found, _ = google.auth.default(scopes=[BIGQUERY_SCOPE])
    return found


def default_project(config: BigQueryConfig, credentials: BigQueryCredentials) -> str | None:
    if config.billing_project:
        return config.billing_project
    if config.project_ids:
        return config.project_ids[0]
    if credentials.method == "service_account":
        return credentials.key_info.get("project_id")
    return None


class BigQueryApi:
    """One sync's client: bounded concurrency, the library's retries, and accounting."""

    def __init__(
        self,
        config: BigQueryConfig,
        credentials: Credentials,
        project: str | None,
    ) -> None:
        self.config = config
        self.accounting = Accounting()
        self._lock = threading.Lock()
        self.session = AuthorizedSession(credentials)
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4, pool_maxsize=config.max_concurrent_requests + 4
        )
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.hooks["response"].append(self._count)
        self.client = bigquery.Client(
            project=project or "_",
            credentials=credentials,
            _http=self.session,
            client_options=ClientOptions(api_endpoint=config.api_endpoint),
        )
        delay = config.retry_initial_delay_seconds
        self.retry = DEFAULT_RETRY.with_deadline(config.retry_deadline_seconds).with_delay(
            initial=delay, maximum=max(delay, 32.0)
        )
        self.job_retry = DEFAULT_JOB_RETRY.with_deadline(config.retry_deadline_seconds).with_delay(
            initial=delay, maximum=max(delay, 32.0)
        )
        self._executor = ThreadPoolExecutor(
            max_workers=config.max_concurrent_requests, thread_name_prefix="bigquery"
        )
        self._slots = asyncio.Semaphore(config.max_concurrent_requests)

    async def run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking library call in the pool (waits for a free slot first)."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, functools.partial(call, *args, **kwargs)
            )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        self.session.close()

    # Blocking calls (run them through `run`) ------------------------------------------------------

    def list_project_ids(self, max_results: int | None = None) -> list[str]:
        return [
            project.project_id
            for project in self.client.list_projects(
                max_results=max_results,
                retry=self.retry,
                timeout=self.config.request_timeout_seconds,
            )
        ]

    def list_dataset_ids(self, project: str, max_results: int | None = None) -> list[str]:
        return [
            item.dataset_id
            for item in self.client.list_datasets(
                project,
                max_results=max_results,
                retry=self.retry,
                timeout=self.config.request_timeout_seconds,
                page_size=1000,
            )
        ]

    def get_dataset(self, project: str, dataset: str) -> dict[str, Any]:
        return self.client.get_dataset(
            bigquery.DatasetReference(project, dataset),
            retry=self.retry,
            timeout=self.config.request_timeout_seconds,
        ).to_api_repr()

    def list_tables(self, project: str, dataset: str) -> list[dict[str, Any]]:
        return [
            item.to_api_repr()
            for item in self.client.list_tables(
                bigquery.DatasetReference(project, dataset),
                retry=self.retry,
                timeout=self.config.request_timeout_seconds,
                page_size=1000,
            )
        ]

    def get_table(self, project: str, dataset: str, table: str) -> dict[str, Any]:
        return self.client.get_table(
            bigquery.TableReference(bigquery.DatasetReference(project, dataset), table),
            retry=self.retry,
            timeout=self.config.request_timeout_seconds,
        ).to_api_repr()

    def list_routines(self, project: str, dataset: str) -> list[dict[str, Any]]:
        return [
            routine.to_api_repr()
            for routine in self.client.list_routines(
                bigquery.DatasetReference(project, dataset),
                retry=self.retry,
                timeout=self.config.request_timeout_seconds,
                page_size=1000,
            )
        ]

    def get_routine(self, project: str, dataset: str, routine: str) -> dict[str, Any]:
        return self.client.get_routine(
            bigquery.RoutineReference.from_string(f"{project}.{dataset}.{routine}"),
            retry=self.retry,
            timeout=self.config.request_timeout_seconds,
        ).to_api_repr()

    def query(self, sql: str, billing_project: str, location: str | None) -> list[Row]:
        """Run one query job and read all its rows (converted by the library's schema)."""
        job_config = bigquery.QueryJobConfig(
            use_legacy_sql=False,
            maximum_bytes_billed=self.config.maximum_bytes_billed,
            labels={"purpose": "metadata-sync"},
        )
        rows = self.client.query_and_wait(
            sql,
            job_config=job_config,
            project=billing_project,
            location=location,
            api_timeout=self.config.request_timeout_seconds,
            wait_timeout=self.config.job_timeout_seconds,
            retry=self.retry,
            job_retry=self.job_retry,
            page_size=10_000,
        )
        return [dict(row.items()) for row in rows]

    # Accounting ---------------------------------------------------------------------------------

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        name = method_name(request.method or "GET", request.url or "")
        with self._lock:
            self.accounting.calls[name] += 1
            if name == "jobs.query" and response.ok:
                self.accounting.queries += 1
        if not name.startswith("jobs.") or not response.ok:
            return
        body = response.content
        key_match = _JOB_ID.search(body) or _QUERY_ID.search(body)
        key = key_match.group(1).decode() if key_match else f"anonymous-{id(response)}"
        billed = _BILLED.search(body)
        processed = _PROCESSED.search(body)
        with self._lock:
            if billed:
                self.accounting.billed[key] = int(billed.group(1))
            if processed:
                self.accounting.processed[key] = int(processed.group(1))
