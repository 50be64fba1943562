"""Where the bearer token comes from: a personal access token, or an OAuth M2M exchange.

The M2M flow (client credentials against `{workspace}/oidc/v1/token`, scope `all-apis`) returns a
short-lived token; it is cached and renewed shortly before it expires, under a lock so that many
concurrent requests trigger one exchange, not one each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from metadata_pipelines.extractors.errors import AuthenticationError, SourceResponseError

TOKEN_PATH = "/oidc/v1/token"  # noqa: S105 - a URL path, not a secret
REFRESH_MARGIN_SECONDS = 60.0


class TokenSource(Protocol):
    async def token(self) -> str: ...

    def invalidate(self) -> None: ...

    def secrets(self) -> list[str]: ...


class StaticToken:
    """A personal access token: nothing to refresh."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        """A PAT cannot be renewed; a 401 with it is final."""

    def secrets(self) -> list[str]:
        return [self._token]

    def __repr__(self) -> str:
        return "StaticToken(***)"


class _TokenResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str
    expires_in: float = 3600.0
    token_type: str = "Bearer"  # noqa: S105 - a scheme name


# (client id, client secret) -> response; the HTTP client's retrying sender, minus our bearer.
TokenPoster = Callable[[str, httpx.BasicAuth, dict[str, str]], Awaitable[httpx.Response]]


class OAuthM2MToken:
    """Exchanges a service principal's client id and secret for a workspace token, and caches it."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        post: TokenPoster,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._post = post
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._issued: list[str] = []
        self.exchanges = 0

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                await self._exchange()
        assert self._token is not None
        return self._token

    def invalidate(self) -> None:
        self._expires_at = 0.0

    def secrets(self) -> list[str]:
        return [self._client_secret, *self._issued]

    async def _exchange(self) -> None:
        auth = httpx.BasicAuth(self._client_id, self._client_secret)
        form = {"grant_type": "client_credentials", "scope": "all-apis"}
        response = await self._post(TOKEN_PATH, auth, form)
        if response.status_code in (400, 401, 403):
            raise AuthenticationError(
                f"the OAuth token endpoint rejected client id {self._client_id!r} "
                f"(HTTP {response.status_code}); check the service principal's client id and "
                "secret, and that it has access to this workspace"
            )
        if response.status_code >= 300:
            raise SourceResponseError(
                f"the OAuth token endpoint answered HTTP {response.status_code}"
            )
        try:
            parsed = _TokenResponse.model_validate_json(response.content)
        except ValidationError:
            raise SourceResponseError(
                "the OAuth token endpoint returned a response without a usable access_token"
            ) from None
        self.exchanges += 1
        self._token = parsed.access_token
        self._issued.append(parsed.access_token)
        lifetime = max(parsed.expires_in, 0.0)
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        self._expires_at = self._clock() + lifetime - margin

    def __repr__(self) -> str:
        return f"OAuthM2MToken(client_id={self._client_id!r}, client_secret=***)"
