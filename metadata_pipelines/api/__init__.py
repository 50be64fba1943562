"""The HTTP API (`/api/v1`): data sources, sync requests, connector runs and catalog assets.

A FastAPI application built by `create_app`, served by uvicorn (`metadata-pipelines api`). Every
request carries a tenant's bearer API key; see docs/api.md.
"""
