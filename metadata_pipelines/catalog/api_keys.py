"""API keys of the HTTP API: one tenant each, shown once, stored only as a SHA-256 digest.

A key is `mpk_` + 40 random url-safe characters (240 bits), so a plain SHA-256 digest is enough: there
is nothing to brute-force, and a lookup by digest needs no per-key salt or slow hash. The first
characters (`prefix`) are stored in clear to tell keys apart in listings; they are not enough to use.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

import sqlalchemy as sa

from metadata_pipelines.catalog.records import ApiKey
from metadata_pipelines.catalog.schema import api_keys
from metadata_pipelines.models import utcnow

KEY_SCHEME = "mpk_"
PREFIX_LENGTH = 12  # "mpk_" and 8 random characters


class ApiKeyNotFound(LookupError):
    pass


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.tenant_id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)


class ApiKeyRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def create(self, tenant_id: str, name: str) -> tuple[ApiKey, str]:
        """A new key for `tenant_id`: (its record, the key). The key is never retrievable again."""
        key = KEY_SCHEME + secrets.token_urlsafe(30)
        row = {
            "id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "name": name,
            "prefix": key[:PREFIX_LENGTH],
            "key_hash": key_digest(key),
            "created_at": utcnow(),
            "revoked_at": None,
        }
        with self._engine.begin() as connection:
            connection.execute(api_keys.insert(), row)
        return ApiKey.model_validate(row), key

    def authenticate(self, key: str) -> ApiKey | None:
        """The live key's record, or None for an unknown or revoked key."""
        if not key.startswith(KEY_SCHEME):
            return None
        query = sa.select(*_COLUMNS).where(
            api_keys.c.key_hash == key_digest(key), api_keys.c.revoked_at.is_(None)
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return ApiKey.model_validate(dict(row)) if row else None

    def list(self, tenant_id: str) -> list[ApiKey]:
        query = sa.select(*_COLUMNS).where(api_keys.c.tenant_id == tenant_id)
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(api_keys.c.created_at)).mappings()
            return [ApiKey.model_validate(dict(row)) for row in rows]

    def revoke(self, tenant_id: str, key_id_or_prefix: str) -> ApiKey:
        """Revoke one of the tenant's keys, named by id or prefix; revoking twice is harmless."""
        match = sa.or_(api_keys.c.id == key_id_or_prefix, api_keys.c.prefix == key_id_or_prefix)
        with self._engine.begin() as connection:
            rows = (
                connection.execute(
                    sa.select(*_COLUMNS).where(api_keys.c.tenant_id == tenant_id, match)
                )
                .mappings()
                .all()
            )
            if len(rows) != 1:
                what = "no" if not rows else "more than one"
                raise ApiKeyNotFound(
                    f"tenant {tenant_id!r} has {what} API key with id or prefix {key_id_or_prefix!r}"
                )
            connection.execute(
                api_keys.update()
                .where(api_keys.c.id == rows[0]["id"], api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            row = (
                connection.execute(sa.select(*_COLUMNS).where(api_keys.c.id == rows[0]["id"]))
                .mappings()
                .one()
            )
        return ApiKey.model_validate(dict(row))
