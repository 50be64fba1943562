"""Idempotency keys of the HTTP API's POST requests: what the first request with a key created.

A retry with the same key (and the same request) gets that resource back instead of a second one; the
same key on a different request is refused. Keys expire after a day, as clients retry within minutes.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from metadata_pipelines.catalog.schema import api_idempotency_keys
from metadata_pipelines.models import utcnow

RETENTION = timedelta(hours=24)


class IdempotentResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    request_hash: str
    resource_type: str
    resource_id: str
    status_code: int


class IdempotencyRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def find(self, tenant_id: str, key: str) -> IdempotentResult | None:
        query = sa.select(
            api_idempotency_keys.c.request_hash,
            api_idempotency_keys.c.resource_type,
            api_idempotency_keys.c.resource_id,
            api_idempotency_keys.c.status_code,
        ).where(
            api_idempotency_keys.c.tenant_id == tenant_id,
            api_idempotency_keys.c.idempotency_key == key,
            api_idempotency_keys.c.created_at > utcnow() - RETENTION,
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return IdempotentResult.model_validate(dict(row)) if row else None

    def remember(self, tenant_id: str, key: str, result: IdempotentResult) -> IdempotentResult:
        """Record `result` for the key; if a concurrent request recorded one first, that one wins
        and is returned. Expired keys of the tenant are dropped on the way."""
        now = utcnow()
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    api_idempotency_keys.delete().where(
                        api_idempotency_keys.c.tenant_id == tenant_id,
                        api_idempotency_keys.c.created_at <= now - RETENTION,
                    )
                )
                connection.execute(
                    api_idempotency_keys.insert(),
                    {
                        "id": str(uuid.uuid4()),
                        "tenant_id": tenant_id,
                        "idempotency_key": key,
                        "created_at": now,
                        **result.model_dump(),
                    },
                )
        except sa.exc.IntegrityError:
            existing = self.find(tenant_id, key)
            if existing is None:  # expired between the two statements
                raise
            return existing
        return result
