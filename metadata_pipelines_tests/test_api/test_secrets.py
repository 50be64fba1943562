"""No secret in the server's log: collected last in this package (modules run in name order)."""

from __future__ import annotations

from metadata_pipelines_tests.test_api.conftest import CANARY

SOURCES = "/api/v1/data_sources"


def test_no_secret_in_the_server_log(api_server, client, make_source):
    """Runs after the other modules of the package: by then the canary went through every
    endpoint that takes or uses credentials (create, patch, connection test, errors)."""
    source = make_source(
        connector_type="mysql",
        config={"host": "127.0.0.1", "port": 1, "connection_timeout": 2},
        credentials={"username": "u", "password": CANARY},
    )
    result = client.post(f"{SOURCES}/{source['id']}/test")
    assert result.json()["ok"] is False
    assert CANARY not in result.text
    log = api_server.log_path.read_text(errors="replace")
    assert "POST /api/v1/data_sources" in log  # the access log is there
    assert CANARY not in log
