"""`GET /metrics`: the sync metrics (metadata_pipelines/metrics.py) for a Prometheus scraper.

Unlike the rest of the API it is not a tenant's view: it names every tenant's sources, so it answers
only a scraper that sends METADATA_PIPELINES_METRICS_TOKEN as a bearer token, and is absent (404)
while that setting is unset.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from metadata_pipelines.api.context import UNAUTHENTICATED, State, bearer
from metadata_pipelines.api.problems import ApiProblem

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    token = state.metrics_token
    if token is None:
        raise ApiProblem(
            404, "not_found", "Not Found", "set METADATA_PIPELINES_METRICS_TOKEN to serve /metrics"
        )
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), token.encode()
    ):
        raise ApiProblem(
            401,
            "invalid_metrics_token",
            "Unauthenticated",
            "send the metrics token as 'Authorization: Bearer <token>'",
            headers=UNAUTHENTICATED,
        )
    body = await run_in_threadpool(generate_latest, state.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
