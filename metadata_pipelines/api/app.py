"""The FastAPI application: `create_app()` is what uvicorn serves (`metadata-pipelines api`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI

from metadata_pipelines.api import problems
from metadata_pipelines.api.context import ApiState
from metadata_pipelines.api.limits import BodySizeLimitMiddleware
from metadata_pipelines.api.routes import assets, data_sources, metrics, runs
from metadata_pipelines.api.views import API_PREFIX
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.metrics import catalog_registry
from metadata_pipelines.settings import get_settings

DESCRIPTION = """\
Data sources, sync requests, connector runs and catalog assets of one tenant: the tenant of the
bearer API key every request carries. Errors are `application/problem+json` with a stable `code`.
"""


def create_app(
    catalog: CatalogDatabase | None = None,
    *,
    dagster_ui_url: str | None = None,
    max_body_bytes: int | None = None,
    metrics_token: str | None = None,
) -> FastAPI:
    """The API on `catalog` (default: the configured one, which must be migrated already)."""
    catalog = catalog or CatalogDatabase.from_settings()
    configured_token = get_settings().metrics_token
    metrics_token = metrics_token or (
        configured_token.get_secret_value() if configured_token else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        catalog.dispose()

    app = FastAPI(
        title="metadata-pipelines",
        version=version("metadata-pipelines"),
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
    )
    app.state.api = ApiState(
        catalog=catalog,
        dagster_ui_url=dagster_ui_url or get_settings().dagster_ui_url or None,
        metrics=catalog_registry(catalog.engine),
        metrics_token=metrics_token,
    )
    problems.install(app)
    for router in (data_sources.router, runs.router, assets.router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(metrics.router)
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=max_body_bytes or get_settings().api_max_body_bytes
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for a load balancer: the process answers (no catalog query, no key)."""
        return {"status": "ok"}

    return app
