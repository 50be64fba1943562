"""The Databricks client's aiohttp transport, against the real loopback server (plain and TLS).

Each failure must reach the client as the httpx error class it classifies by (refused -> ConnectError,
silence -> ReadTimeout, a dropped connection -> ReadError), bodies and headers must cross unchanged
both ways, a compressed body must be decoded exactly once, and HTTPS must verify the server.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from metadata_pipelines.extractors.databricks import DatabricksExtractor
from metadata_pipelines.extractors.databricks.transport import AiohttpTransport
from metadata_pipelines_tests.fakes.unity_catalog_server import FakeUnityCatalog, Fault
from metadata_pipelines_tests.test_extractors.databricks_support import (
    FAST,
    TOKEN,
    populate,
    run,
)

UC = "/api/2.1/unity-catalog"


async def fetch(url: str, method: str = "GET", **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=AiohttpTransport(max_connections=2), timeout=httpx.Timeout(0.5)
    ) as client:
        return await client.request(method, url, **kwargs)  # type: ignore[arg-type]


def test_a_refused_connection_is_a_connect_error_not_a_timeout() -> None:
    with pytest.raises(httpx.ConnectError) as caught:
        run(fetch("http://127.0.0.1:9/api"))
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert "127.0.0.1:9" in str(caught.value)


def test_a_server_that_does_not_answer_is_a_read_timeout(fake: FakeUnityCatalog) -> None:
    fake.add_fault(Fault(path=f"{UC}/catalogs", status=200, body={"catalogs": []}, delay=2.0))
    with pytest.raises(httpx.ReadTimeout):
        run(fetch(f"{fake.url}{UC}/catalogs", headers={"Authorization": f"Bearer {TOKEN}"}))


def test_a_dropped_connection_is_a_read_error(fake: FakeUnityCatalog) -> None:
    fake.add_fault(Fault(path=f"{UC}/catalogs", drop=True, times=None))
    with pytest.raises(httpx.ReadError):
        run(fetch(f"{fake.url}{UC}/catalogs"))
    # aiohttp resends an idempotent request once on a dropped connection (RFC 9112, 9.3.1)
    assert len(fake.requests) == 2


def test_a_post_is_not_resent_on_a_dropped_connection(fake: FakeUnityCatalog) -> None:
    fake.add_fault(Fault(path="/api/2.0/sql/statements/", method="POST", drop=True, times=None))
    with pytest.raises(httpx.ReadError):
        run(fetch(f"{fake.url}/api/2.0/sql/statements/", "POST", json={"statement": "SELECT 1"}))
    assert len(fake.requests) == 1


def test_requests_and_answers_cross_unchanged(fake: FakeUnityCatalog) -> None:
    populate(fake)
    response = run(
        fetch(
            f"{fake.url}{UC}/catalogs",
            params={"max_results": 1, "include_browse": "true"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["catalogs"][0]["name"] == "archive"
    assert response.extensions["http_version"] == b"HTTP/1.1"
    (sent,) = fake.requests
    assert sent.query == {"max_results": "1", "include_browse": "true"}
    assert sent.authorization == f"Bearer {TOKEN}"

    form = {"grant_type": "client_credentials", "scope": "all-apis"}
    run(fetch(f"{fake.url}/oidc/v1/token", "POST", data=form))
    assert fake.requests[-1].body == b"grant_type=client_credentials&scope=all-apis"


def test_a_compressed_body_is_decoded_once(fake: FakeUnityCatalog) -> None:
    body = gzip.compress(b'{"catalogs": [], "note": "gzip"}')
    fake.add_fault(
        Fault(path=f"{UC}/catalogs", status=200, body=body, headers={"Content-Encoding": "gzip"})
    )
    response = run(fetch(f"{fake.url}{UC}/catalogs"))
    assert response.json() == {"catalogs": [], "note": "gzip"}


# -- HTTPS -------------------------------------------------------------------------------------


@pytest.fixture(name="certificate")
def self_signed_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by nobody a default trust store knows."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake workspace")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(name="tls_fake")
def tls_workspace(certificate: tuple[Path, Path]) -> Iterator[FakeUnityCatalog]:
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(*certificate)
    fake = FakeUnityCatalog(tokens={TOKEN})
    populate(fake)
    fake.start(tls=server_side)
    yield fake
    fake.stop()
    assert fake.violations == []


def test_https_with_a_trusted_certificate_extracts(
    tls_fake: FakeUnityCatalog, certificate: tuple[Path, Path]
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    extractor = DatabricksExtractor(
        {"workspace_url": tls_fake.url},
        {"access_token": TOKEN},
        client_options={
            **FAST,
            "transport": AiohttpTransport(max_connections=4, ssl_context=trusted),
        },
    )
    assert tls_fake.url.startswith("https://127.0.0.1:")
    result = run(extractor.extract_metadata())
    assert result.status.value == "success" and len(result.tables) == 5


def test_https_with_an_untrusted_certificate_is_refused_clearly(tls_fake: FakeUnityCatalog) -> None:
    extractor = DatabricksExtractor(
        {"workspace_url": tls_fake.url, "retry_budget_seconds": 0.1},
        {"access_token": TOKEN},
        client_options=FAST,  # the default transport: httpx's verifying context
    )
    ok, message = run(extractor.test_connection())
    assert ok is False
    assert message.startswith(f"listing catalogs: cannot reach {tls_fake.url} (ConnectError: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message
    assert tls_fake.requests == []  # nothing, the token least of all, was sent


def test_a_proxy_from_the_environment_is_still_used(
    fake: FakeUnityCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(fake)

    def connects() -> tuple[bool, str | None]:
        extractor = DatabricksExtractor(
            {"workspace_url": fake.url, "retry_budget_seconds": 0.1},
            {"access_token": TOKEN},
            client_options=FAST,
        )
        return run(extractor.test_connection())

    assert connects() == (True, None)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy that refuses connections
    ok, message = connects()
    assert ok is False
    assert message is not None and message.startswith(f"listing catalogs: cannot reach {fake.url}")
    assert len(fake.requests) == 1  # the proxied attempt never reached the workspace directly
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert connects() == (True, None)
    assert len(fake.requests) == 2
