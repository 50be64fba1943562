"""An httpx transport that sends requests through aiohttp: httpx's API on aiohttp's I/O.

Why: the listing is bound by the client's CPU, not the network. A page of 50 tables is ~175 KB,
and httpx's own stack spent ~1.4 ms of CPU on each (httpcore re-examines every pooled connection
whenever a request starts or ends, and h11 parses in Python); aiohttp, whose HTTP parser is in C,
spends ~0.5 ms. Measured (`bench/databricks/fast_paths.py`, 5,000 tables / 100,000 columns, 50
tables a page, median of 3 interleaved rounds, 2026-11-28, load average 2.6 on 2 cores): with
httpx's transport the extraction took 0.64 s of CPU instead of 0.51 s (1.25x) and 0.89 s instead of
0.74 s end to end at 50 ms per request (1.21x); at 200 ms per request, where waiting dominates,
2.00 s instead of 1.89 s (1.06x). Kept: ~100 lines, tested, and the gap grows with the workspace.

Why not the `httpx-aiohttp` package, which does this: its 0.2.0 maps every aiohttp connection error,
a refused connection included, to `httpx.ConnectTimeout`, and the client tells "cannot reach" from
"no answer" by those classes. The mapping here is narrow and tested instead.

What stays httpx's: the request and response objects, headers, auth and content decoding (aiohttp
hands over the body as it came, so httpx decodes it once); cookies too, as the aiohttp session keeps
none. And proxies: httpx ignores the environment's proxy settings once it is given a transport, so
`direct_transport` gives none when the environment names a proxy, and httpx's own transport, which
speaks to proxies and honours NO_PROXY, carries every request as it did before.
"""

from __future__ import annotations

import ssl
import urllib.request
from functools import cache

import aiohttp
import httpx


def direct_transport(max_connections: int) -> AiohttpTransport | None:
    """The fast transport, or None (httpx's own) when HTTP_PROXY, HTTPS_PROXY or ALL_PROXY (or the
    system's proxy settings, read the same way httpx reads them) name a proxy."""
    proxies = urllib.request.getproxies()
    if any(proxies.get(scheme) for scheme in ("http", "https", "all")):
        return None
    return AiohttpTransport(max_connections=max_connections)


@cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's verifying context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), built once:
    loading the CA bundle costs ~18 ms, paid before every extraction's first request otherwise."""
    return httpx.create_ssl_context()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (a pool of `max_connections`), created in the loop that first uses it."""

    def __init__(self, *, max_connections: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self._max_connections = max_connections
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    ssl=self._ssl_context or default_ssl_context(),
                ),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        try:
            async with self._open_session().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeouts.get("pool"),
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
            ) as response:
                content = await response.read()
        except aiohttp.ConnectionTimeoutError as error:
            raise httpx.ConnectTimeout(
                str(error) or "connect timed out", request=request
            ) from error
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise httpx.ReadTimeout(str(error) or "read timed out", request=request) from error
        except aiohttp.ClientConnectorError as error:
            raise httpx.ConnectError(str(error), request=request) from error
        except aiohttp.ClientError as error:
            raise httpx.ReadError(str(error) or type(error).__name__, request=request) from error
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            content=content,
            request=request,
            extensions={
                "http_version": f"HTTP/{response.version.major}.{response.version.minor}".encode(),
                "reason_phrase": (response.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
