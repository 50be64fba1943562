"""MetadataExtractorFactory: built-ins, unknown types, plugins through entry points."""

from __future__ import annotations

import sys

import pytest

from metadata_pipelines.extractors import (
    BaseMetadataExtractor,
    ConfigurationError,
    MetadataExtractorFactory,
    UnknownConnectorError,
)
from metadata_pipelines_tests.support.scripted_extractor import ScriptedExtractor


def test_built_in_connectors_are_known():
    factory = MetadataExtractorFactory()
    assert {"sqlite", "mysql", "mariadb", "databricks"} <= set(factory.connector_types())
    for connector_type in ("sqlite", "mysql", "databricks"):
        cls = factory.extractor_class(connector_type)
        assert issubclass(cls, BaseMetadataExtractor)
    assert factory.extractor_class("mariadb") is factory.extractor_class("mysql")


def test_unknown_type_lists_the_known_ones():
    with pytest.raises(UnknownConnectorError) as raised:
        MetadataExtractorFactory().create("oracle", {})
    message = str(raised.value)
    assert "unknown connector type 'oracle'" in message
    known = message.partition("known types: ")[2].split(", ")
    assert known == sorted(known)
    assert {"bigquery", "databricks", "mysql", "postgresql", "snowflake", "sqlite"} <= set(known)


def test_invalid_config_names_the_field_and_hides_values():
    with pytest.raises(ConfigurationError) as raised:
        MetadataExtractorFactory({"scripted": ScriptedExtractor}).create(
            "scripted", {"source_file": "x", "fail_times": "many"}, {"password": 12345}
        )
    assert "fail_times" in str(raised.value)
    with pytest.raises(ConfigurationError) as raised:
        MetadataExtractorFactory({"scripted": ScriptedExtractor}).create(
            "scripted", {"source_file": "x"}, {"password": ["hunter2-secret"]}
        )
    assert "password" in str(raised.value)
    assert "hunter2-secret" not in str(raised.value)


def test_bad_import_path_is_a_clear_error():
    factory = MetadataExtractorFactory({"broken": "no_such_module:Thing", "wrong": "json:dumps"})
    with pytest.raises(ConfigurationError, match="could not be loaded"):
        factory.extractor_class("broken")
    with pytest.raises(ConfigurationError, match="is not a BaseMetadataExtractor"):
        factory.extractor_class("wrong")


def test_entry_point_registration(tmp_path, monkeypatch):
    """A separately installed package adds a connector by declaring an entry point."""
    package = tmp_path / "acme_connector"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from metadata_pipelines_tests.support.scripted_extractor import ScriptedExtractor\n"
        "class AcmeExtractor(ScriptedExtractor):\n"
        "    connector_type = 'acme'\n"
    )
    dist_info = tmp_path / "acme_connector-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-connector\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[metadata_pipelines.extractors]\nacme = acme_connector:AcmeExtractor\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    factory = MetadataExtractorFactory()

    assert "acme" in factory.connector_types()
    extractor = factory.create("acme", {"source_file": "x"}, {"password": "p"})
    assert type(extractor).__name__ == "AcmeExtractor"
    assert extractor.connector_type == "acme"
    sys.modules.pop("acme_connector", None)


def test_test_connection_returns_scrubbed_message(tmp_path):
    extractor = ScriptedExtractor(
        {"source_file": "x", "fail_step": "check", "failure": "permanent", "fail_times": 1},
        {"password": "pw-visible?"},
    )
    ok, message = __import__("asyncio").run(extractor.test_connection())
    assert not ok
    assert message == "access denied for password ***"
    assert "pw-visible?" not in repr(extractor.credentials)
