"""The `Idempotency-Key` header of POST requests: a retry gets what the first request created.

A key belongs to the caller's tenant and lives for a day (catalog/idempotency.py). The same key on a
different request (another source, another body) is refused with 422 `idempotency_key_reused`.
Request fingerprints never cover credentials: the table holding them is not a place for secrets, not
even hashed ones.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header

from metadata_pipelines.api.problems import ApiProblem
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.idempotency import IdempotentResult

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Any unique string; a retry with the same key gets the first answer back.",
    ),
]


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def replay(
    catalog: CatalogDatabase, tenant_id: str, key: str | None, request_hash: str
) -> IdempotentResult | None:
    """What a previous request with `key` created, if any."""
    if key is None:
        return None
    stored = catalog.idempotency.find(tenant_id, key)
    if stored is not None and stored.request_hash != request_hash:
        raise ApiProblem(
            422,
            "idempotency_key_reused",
            "Idempotency key reused",
            "this Idempotency-Key was used for a different request",
        )
    return stored


def remember(
    catalog: CatalogDatabase,
    tenant_id: str,
    key: str | None,
    result: IdempotentResult,
) -> IdempotentResult:
    """Record `result` for `key`; a concurrent request that recorded first wins."""
    if key is None:
        return result
    return catalog.idempotency.remember(tenant_id, key, result)
