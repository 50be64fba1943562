"""A real connector whose source is a JSON file the test writes, and whose failures the test scripts.

Used where a test needs exact control over what a source returns or how it fails (transient for the
first N attempts, permanent, a secret inside the error). Attempts are counted in a file so the count
holds across Dagster retries and processes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from metadata_pipelines.extractors.base import (
    BaseMetadataExtractor,
    ConnectorConfig,
    ConnectorCredentials,
)
from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    SourceUnavailableError,
)
from metadata_pipelines.models import (
    AssetType,
    DatabaseMetadata,
    ExtractionError,
    ExtractionResult,
    SchemaMetadata,
    TableMetadata,
    utcnow,
)

SCRIPTED = "scripted"
IMPORT_PATH = "metadata_pipelines_tests.support.scripted_extractor:ScriptedExtractor"
#: Under `metadata_pipelines`, as a real connector's logger is (Dagster manages that hierarchy).
logger = logging.getLogger("metadata_pipelines.extractors.scripted")


class ScriptedConfig(ConnectorConfig):
    source_file: str
    fail_step: Literal["check", "extract"] = "extract"
    failure: Literal["none", "transient", "permanent"] = "none"
    fail_times: int = 0
    attempts_file: str | None = None
    #: Log a line with the password in its message and in a field (proves logs are scrubbed).
    log_password: bool = False


class ScriptedCredentials(ConnectorCredentials):
    password: SecretStr


class ScriptedExtractor(BaseMetadataExtractor):
    connector_type = SCRIPTED
    config_model = ScriptedConfig
    credentials_model = ScriptedCredentials

    def get_supported_asset_types(self) -> list[AssetType]:
        return [AssetType.DATABASE, AssetType.SCHEMA, AssetType.TABLE, AssetType.COLUMN]

    async def check_connection(self) -> None:
        self._maybe_fail("check")

    async def extract_metadata(self) -> ExtractionResult:
        started = utcnow()
        self._maybe_fail("extract")
        if self.config.log_password:
            password = self.credentials.password.get_secret_value()
            logger.warning(
                "scripted source opened with password %s",
                password,
                extra={"connection": f"scripted://reader:{password}@source"},
            )
        payload = json.loads(Path(self.config.source_file).read_text())
        return ExtractionResult.build(
            SCRIPTED,
            started,
            databases=[DatabaseMetadata(**d) for d in payload.get("databases", [])],
            schemas=[SchemaMetadata(**s) for s in payload.get("schemas", [])],
            tables=[TableMetadata(**t) for t in payload.get("tables", [])],
            errors=[ExtractionError(**e) for e in payload.get("errors", [])],
        )

    def _maybe_fail(self, step: str) -> None:
        if self.config.failure == "none" or self.config.fail_step != step:
            return
        attempt = _next_attempt(self.config.attempts_file)
        if attempt > self.config.fail_times:
            return
        password = self.credentials.password.get_secret_value()
        if self.config.failure == "transient":
            # The secret inside the message proves that the job scrubs what extractors raise.
            raise SourceUnavailableError(f"connection reset while using password {password}")
        raise AuthenticationError(f"access denied for password {password}")


def _next_attempt(attempts_file: str | None) -> int:
    if attempts_file is None:
        return 1
    path = Path(attempts_file)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    return attempt


def write_source(path: Path, tables: list[dict], databases=("shop",), errors=()) -> Path:
    """Write a scripted source: one schema 'public' per database and the given tables."""
    payload = {
        "databases": [{"name": name} for name in databases],
        "schemas": [{"database": name, "name": "public"} for name in databases],
        "tables": tables,
        "errors": list(errors),
    }
    path.write_text(json.dumps(payload))
    return path


def table(name: str, columns: dict[str, str], database: str = "shop", **extra) -> dict:
    return {
        "database": database,
        "schema_name": "public",
        "name": name,
        "columns": [
            {"name": column, "ordinal": index, "native_type": native_type}
            for index, (column, native_type) in enumerate(columns.items(), start=1)
        ],
        **extra,
    }
