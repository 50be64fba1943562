"""What routes depend on: the catalog, the caller's API key (and so tenant), links settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from metadata_pipelines.api.problems import ApiProblem
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.records import ApiKey


@dataclass(frozen=True)
class ApiState:
    catalog: CatalogDatabase
    dagster_ui_url: str | None
    #: The catalog's metrics, and the bearer token that `/metrics` requires (None: no /metrics).
    metrics: CollectorRegistry | None = None
    metrics_token: str | None = None


def api_state(request: Request) -> ApiState:
    return request.app.state.api


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `metadata-pipelines api-keys create --tenant T`.",
)

UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="metadata-pipelines"'}


async def authenticate(
    state: Annotated[ApiState, Depends(api_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """The caller's live API key; 401 for a missing, unknown or revoked one (all alike)."""
    if credentials is None:
        raise ApiProblem(
            401,
            "missing_api_key",
            "Unauthenticated",
            "send an API key as 'Authorization: Bearer <key>'",
            headers=UNAUTHENTICATED,
        )
    key = await run_in_threadpool(state.catalog.api_keys.authenticate, credentials.credentials)
    if key is None:
        raise ApiProblem(
            401,
            "invalid_api_key",
            "Unauthenticated",
            "the API key is unknown or revoked",
            headers={**UNAUTHENTICATED, "WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return key


State = Annotated[ApiState, Depends(api_state)]
Caller = Annotated[ApiKey, Depends(authenticate)]
