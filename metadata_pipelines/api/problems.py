"""Errors as RFC 9457 `application/problem+json`, each with a stable `code` clients can branch on.

Messages never echo request values: validation errors keep only where and what (`loc`, `msg`,
`type`), never pydantic's `input`, which could be a credential.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from metadata_pipelines.catalog.browse import AssetNotFound
from metadata_pipelines.catalog.connector_runs import ConnectorRunNotFound
from metadata_pipelines.catalog.data_sources import DataSourceNotFound, DuplicateDataSource
from metadata_pipelines.catalog.secrets import SecretKeyError
from metadata_pipelines.extractors.errors import ConfigurationError
from metadata_pipelines.orchestration.run_requests import DataSourceDisabled

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:metadata-pipelines:problem:"

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Unauthenticated"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("body_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


class Problem(BaseModel):
    """The problem document, for the OpenAPI description."""

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[dict[str, Any]] | None = None


# Every operation documents its errors as problem documents (this also replaces FastAPI's default
# 422 "HTTPValidationError" schema, which is not what this API answers).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Problem, "description": "A client error: see `code`"},
    "5XX": {"model": Problem, "description": "A server error: see `code`"},
}


class ApiProblem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_body(
    status: int, code: str, title: str, detail: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": TYPE_PREFIX + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["code"] = code
    body.update(extra)
    return body


def problem_response(problem: ApiProblem) -> JSONResponse:
    return JSONResponse(
        problem_body(problem.status, problem.code, problem.title, problem.detail, **problem.extra),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def _validation_problem(error: RequestValidationError) -> ApiProblem:
    errors = error.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return ApiProblem(
            400, "malformed_json", "Malformed JSON", "the request body is not valid JSON"
        )
    return ApiProblem(
        422,
        "validation_failed",
        "Validation failed",
        "the request does not match the schema",
        errors=[
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in errors
        ],
    )


def _http_problem(error: StarletteHTTPException) -> ApiProblem:
    code, title = _HTTP_CODES.get(error.status_code, ("http_error", "HTTP error"))
    detail = error.detail if isinstance(error.detail, str) and error.detail != title else None
    return ApiProblem(error.status_code, code, title, detail, headers=error.headers)


def _domain_problem(error: Exception) -> ApiProblem:
    if isinstance(error, DataSourceNotFound):
        return ApiProblem(404, "data_source_not_found", "Not found", "no such data source")
    if isinstance(error, ConnectorRunNotFound):
        return ApiProblem(404, "connector_run_not_found", "Not found", "no such connector run")
    if isinstance(error, AssetNotFound):
        return ApiProblem(404, "asset_not_found", "Not found", "no such asset")
    if isinstance(error, DuplicateDataSource):
        return ApiProblem(
            409, "data_source_exists", "Conflict", "a data source with this name exists"
        )
    if isinstance(error, DataSourceDisabled):
        return ApiProblem(409, "data_source_disabled", "Conflict", "the data source is disabled")
    if isinstance(error, ConfigurationError):
        return ApiProblem(422, "invalid_config", "Invalid configuration", str(error))
    assert isinstance(error, SecretKeyError)
    logger.error("credentials key problem: %s", error)
    return ApiProblem(500, "secret_key_error", "Server misconfigured", "credentials key problem")


def install(app: FastAPI) -> None:
    """Answer every error of `app` with a problem document, and say so in its OpenAPI document."""
    _document_problems(app)

    async def on_problem(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiProblem)
        return problem_response(error)

    async def on_validation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return problem_response(_validation_problem(error))

    async def on_http(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return problem_response(_http_problem(error))

    async def on_domain(_: Request, error: Exception) -> JSONResponse:
        return problem_response(_domain_problem(error))

    async def on_unexpected(_: Request, error: Exception) -> JSONResponse:
        # Only the type: an unexpected message could carry anything.
        logger.error("unexpected %s while handling a request", type(error).__name__)
        return problem_response(ApiProblem(500, "internal_error", "Internal server error"))

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for domain_error in (
        DataSourceNotFound,
        ConnectorRunNotFound,
        AssetNotFound,
        DuplicateDataSource,
        DataSourceDisabled,
        ConfigurationError,
        SecretKeyError,
    ):
        app.add_exception_handler(domain_error, on_domain)
    app.add_exception_handler(Exception, on_unexpected)


def _document_problems(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for operations in generate()["paths"].values():
                for operation in operations.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status in PROBLEM_RESPONSES and "application/json" in content:
                            response["content"] = {PROBLEM_JSON: content["application/json"]}
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
