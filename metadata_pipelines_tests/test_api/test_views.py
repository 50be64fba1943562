"""How catalog records become responses, without a server: masking and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from metadata_pipelines.api import views
from metadata_pipelines.catalog.records import ConnectorRun, DataSource, RunStatus
from metadata_pipelines.extractors.base import ConnectorConfig
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines_tests.support.scripted_extractor import ScriptedExtractor


class _Proxy(ConnectorConfig):
    url: str
    token: SecretStr | None = None


class _ConfigWithSecrets(ConnectorConfig):
    host: str
    api_secret: SecretStr
    proxy: _Proxy | None = None


class _SecretConfigExtractor(ScriptedExtractor):
    connector_type = "secret-config"
    config_model = _ConfigWithSecrets


def test_secret_config_fields_are_masked_at_any_depth():
    factory = MetadataExtractorFactory({"secret-config": _SecretConfigExtractor})
    config = {"host": "h", "api_secret": "s3cr3t", "proxy": {"url": "u", "token": "t0k3n"}}
    shown = views.public_config(factory, "secret-config", config)
    assert shown == {
        "host": "h",
        "api_secret": "********",
        "proxy": {"url": "u", "token": "********"},
    }
    assert config["api_secret"] == "s3cr3t"  # the stored config is left alone
    # A connector this server does not know: nothing is shown, since nothing is known to be safe.
    assert views.public_config(factory, "gone-plugin", config) == {}


def test_naive_catalog_timestamps_are_returned_as_utc():
    naive = datetime(2026, 11, 28, 4, 20)
    source = DataSource(
        id="s",
        tenant_id="t",
        name="n",
        partition_key="t/n",
        connector_type="sqlite",
        config={"path": "/x.db"},
        has_credentials=False,
        enabled=True,
        sync_schedule=None,
        created_at=naive,
        updated_at=naive,
    )
    out = views.data_source_out(source, MetadataExtractorFactory())
    assert out.created_at == naive.replace(tzinfo=UTC)
    run = ConnectorRun(
        id="r",
        tenant_id="t",
        data_source_id="s",
        dagster_run_id=None,
        parent_run_id=None,
        run_type="metadata",
        status=RunStatus.PENDING,
        trigger="application",
        attempts=0,
        will_retry=False,
        error_code=None,
        error_message=None,
        stats=None,
        extraction_errors=None,
        created_at=naive,
        started_at=None,
        finished_at=None,
    )
    assert views.run_out(run, None).model_dump(mode="json")["created_at"] == "2026-11-28T04:20:00Z"
