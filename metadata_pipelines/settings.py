"""Where things live, from environment variables with embedded defaults.

Embedded default (no servers): everything under METADATA_PIPELINES_HOME (default
~/.metadata-pipelines): the SQLite catalog, the credentials key file, and a Dagster instance home.
Production: METADATA_PIPELINES_CATALOG_URL points at PostgreSQL, METADATA_PIPELINES_SECRET_KEY holds the
key, DAGSTER_HOME holds a dagster.yaml on PostgreSQL (see the repository's dagster.yaml).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "METADATA_PIPELINES_HOME"
CATALOG_URL_ENV = "METADATA_PIPELINES_CATALOG_URL"
DAGSTER_UI_URL_ENV = "METADATA_PIPELINES_DAGSTER_UI_URL"
API_MAX_BODY_BYTES_ENV = "METADATA_PIPELINES_API_MAX_BODY_BYTES"
DEFAULT_API_MAX_BODY_BYTES = 1024 * 1024


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".metadata-pipelines").expanduser()


def private_home() -> Path:
    """The embedded home, created (or tightened) to 0700: it holds the catalog with encrypted
    credentials, their key, and the Dagster instance with its logs."""
    path = home()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def catalog_url() -> str:
    return os.environ.get(CATALOG_URL_ENV) or f"sqlite:///{home() / 'catalog.db'}"


def key_file() -> Path:
    return home() / "secret.key"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or home() / "dagster").expanduser()


def dagster_ui_url() -> str | None:
    """Base URL of the Dagster UI, for links to runs in API responses; None leaves them out."""
    url = os.environ.get(DAGSTER_UI_URL_ENV, "").strip().rstrip("/")
    return url or None


def api_max_body_bytes() -> int:
    """Largest request body the HTTP API accepts (bytes)."""
    value = os.environ.get(API_MAX_BODY_BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_API_MAX_BODY_BYTES
    try:
        limit = int(value)
    except ValueError:
        raise ValueError(
            f"{API_MAX_BODY_BYTES_ENV} must be a number of bytes, got {value!r}"
        ) from None
    if limit < 1:
        raise ValueError(f"{API_MAX_BODY_BYTES_ENV} must be positive, got {limit}")
    return limit
