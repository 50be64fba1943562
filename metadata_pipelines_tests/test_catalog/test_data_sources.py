"""Data sources: validation on write, encryption at rest, tenant scoping."""

from __future__ import annotations

import os
import stat

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from metadata_pipelines.catalog.data_sources import DataSourceNotFound, DuplicateDataSource
from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.catalog.secrets import (
    SECRET_KEY_ENV,
    CredentialCipher,
    SecretKeyError,
    load_cipher,
)
from metadata_pipelines.extractors.errors import ConfigurationError, UnknownConnectorError
from metadata_pipelines.settings import get_settings
from metadata_pipelines_tests.support.scripted_extractor import SCRIPTED

PASSWORD = "correct horse battery staple"


def _create(catalog, tenant_id, name="warehouse", **overrides):
    arguments = {
        "tenant_id": tenant_id,
        "name": name,
        "connector_type": SCRIPTED,
        "config": {"source_file": "/data/source.json"},
        "credentials": {"password": PASSWORD},
        **overrides,
    }
    return catalog.data_sources.create(**arguments)


def test_credentials_are_encrypted_at_rest(catalog, tenant_id):
    source = _create(catalog, tenant_id)

    with catalog.engine.connect() as connection:
        raw = connection.execute(sa.text("SELECT * FROM data_sources")).mappings().one()
    assert PASSWORD not in str(dict(raw))
    assert raw["credentials_encrypted"].startswith("gAAAAA")  # a Fernet token
    assert catalog.data_sources.credentials(source.id, tenant_id) == {"password": PASSWORD}
    assert source.has_credentials
    assert PASSWORD not in repr(source) and PASSWORD not in source.model_dump_json()


def test_config_is_validated_and_normalized_on_write(catalog, tenant_id):
    with pytest.raises(ConfigurationError, match="fail_times"):
        _create(catalog, tenant_id, config={"source_file": "x", "fail_times": "lots"})
    with pytest.raises(ConfigurationError, match="unknown_option"):
        _create(catalog, tenant_id, config={"source_file": "x", "unknown_option": 1})
    with pytest.raises(ConfigurationError, match="password"):
        _create(catalog, tenant_id, credentials={})
    with pytest.raises(UnknownConnectorError, match="known types"):
        _create(catalog, tenant_id, connector_type="oracle")
    with pytest.raises(ValueError, match="cron"):
        _create(catalog, tenant_id, sync_schedule="every day")
    assert catalog.data_sources.list(tenant_id) == []

    source = _create(catalog, tenant_id, sync_schedule="0 3 * * *")
    assert source.config == {"source_file": "/data/source.json"}
    assert source.sync_schedule == "0 3 * * *"


def test_names_are_unique_per_tenant(catalog, tenant_id):
    _create(catalog, tenant_id)
    with pytest.raises(DuplicateDataSource):
        _create(catalog, tenant_id)
    _create(catalog, "another-tenant")  # same name, other tenant: fine


def test_partition_keys_are_readable_unique_and_kept_across_a_rename(catalog, tenant_id):
    first = _create(catalog, tenant_id, name="Finance DB")
    assert first.partition_key == f"{tenant_id}/finance-db"
    alike = _create(catalog, tenant_id, name="finance.db")  # slugs the same: a short id suffix
    assert alike.partition_key == f"{tenant_id}/finance-db-{alike.id[:8]}"
    accented = _create(catalog, tenant_id, name="Données, [clients]*")
    assert accented.partition_key == f"{tenant_id}/donnees-clients"
    long_name = _create(catalog, tenant_id, name="x" * 255)
    assert long_name.partition_key == f"{tenant_id}/{'x' * 60}"

    renamed = catalog.data_sources.update(first.id, tenant_id, name="Treasury")
    assert (renamed.name, renamed.partition_key) == ("Treasury", first.partition_key)
    # The old name is free again, but its key stays with the renamed source.
    reused = _create(catalog, tenant_id, name="Finance DB")
    assert reused.partition_key == f"{tenant_id}/finance-db-{reused.id[:8]}"

    assert catalog.data_sources.get_by_partition_key(first.partition_key).id == first.id
    assert catalog.data_sources.for_partition(first.partition_key).id == first.id
    assert catalog.data_sources.for_partition(first.id).id == first.id  # a run from before 0006
    with pytest.raises(DataSourceNotFound, match="partition key"):
        catalog.data_sources.for_partition(f"{tenant_id}/nothing")


def test_a_taken_partition_key_is_chosen_again_when_two_creates_race(catalog, tenant_id):
    """The key is chosen, then inserted: a source inserted in between by another process with the
    same key makes the insert fail on the unique key, and the next free candidate is taken."""
    first = _create(catalog, tenant_id, name="race")
    seen = []

    def steal_the_key(connection, _cursor, statement, parameters, *_rest) -> None:
        if statement.startswith("INSERT INTO data_sources") and not seen:
            seen.append(parameters)
            with catalog.engine.begin() as other:
                other.execute(
                    sa.text("UPDATE data_sources SET partition_key = :key WHERE id = :id"),
                    {"key": f"{tenant_id}/race-2", "id": first.id},
                )

    sa.event.listen(catalog.engine, "before_cursor_execute", steal_the_key)
    try:
        second = _create(catalog, tenant_id, name="Race 2")
    finally:
        sa.event.remove(catalog.engine, "before_cursor_execute", steal_the_key)
    assert seen
    assert second.partition_key == f"{tenant_id}/race-2-{second.id[:8]}"
    with pytest.raises(DuplicateDataSource, match="named 'race'"):
        _create(catalog, tenant_id, name="race")


def test_tenant_scoping(catalog, tenant_id):
    source = _create(catalog, tenant_id)
    with pytest.raises(DataSourceNotFound):
        catalog.data_sources.get(source.id, "another-tenant")
    with pytest.raises(DataSourceNotFound):
        catalog.data_sources.remove(source.id, "another-tenant")
    assert catalog.data_sources.credentials(source.id, "another-tenant") == {}
    assert catalog.data_sources.list("another-tenant") == []
    assert [s.id for s in catalog.data_sources.list(tenant_id)] == [source.id]


def test_update_and_remove(catalog, tenant_id):
    source = _create(catalog, tenant_id)
    updated = catalog.data_sources.update(
        source.id,
        tenant_id,
        config={"source_file": "/elsewhere.json"},
        credentials={"password": "new"},
        enabled=False,
        sync_schedule="*/15 * * * *",
    )
    assert updated.config == {"source_file": "/elsewhere.json"}
    assert not updated.enabled and updated.sync_schedule == "*/15 * * * *"
    assert catalog.data_sources.credentials(source.id, tenant_id) == {"password": "new"}
    assert catalog.data_sources.list(tenant_id, enabled_only=True) == []
    with pytest.raises(ConfigurationError):
        catalog.data_sources.update(source.id, tenant_id, config={"nope": 1})

    run = catalog.connector_runs.open_for_dagster_run(
        tenant_id=tenant_id, data_source_id=source.id, dagster_run_id="r1"
    )
    catalog.data_sources.remove(source.id, tenant_id)
    with pytest.raises(DataSourceNotFound):
        catalog.data_sources.get(source.id)
    assert catalog.connector_runs.find_by_dagster_run_id("r1") is None, run


def test_wrong_key_gives_a_clear_error(catalog, catalog_url, tenant_id):
    source = _create(catalog, tenant_id)
    other = CatalogDatabase(catalog_url, CredentialCipher([Fernet.generate_key().decode()]))
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        other.data_sources.credentials(source.id, tenant_id)
    other.dispose()


def test_key_rotation_keeps_old_credentials_readable(catalog_url, monkeypatch):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = CredentialCipher([old_key]).encrypt({"password": PASSWORD})
    monkeypatch.setenv(SECRET_KEY_ENV, f"{new_key},{old_key}")
    get_settings.cache_clear()
    rotated = load_cipher()
    assert rotated.decrypt(token) == {"password": PASSWORD}
    assert CredentialCipher([new_key]).decrypt(rotated.encrypt({"a": 1})) == {"a": 1}


def test_invalid_key_is_rejected_with_advice(monkeypatch):
    monkeypatch.setenv(SECRET_KEY_ENV, "not-a-fernet-key")
    get_settings.cache_clear()
    with pytest.raises(SecretKeyError, match="Fernet keys"):
        load_cipher()
    monkeypatch.delenv(SECRET_KEY_ENV)
    get_settings.cache_clear()
    with pytest.raises(SecretKeyError, match=SECRET_KEY_ENV):
        load_cipher()


def test_embedded_key_file_is_created_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    get_settings.cache_clear()
    key_file = tmp_path / "home" / "secret.key"

    first = load_cipher(key_file)
    mode = stat.S_IMODE(os.stat(key_file).st_mode)
    assert mode == 0o600
    token = first.encrypt({"password": PASSWORD})
    assert load_cipher(key_file).decrypt(token) == {"password": PASSWORD}
