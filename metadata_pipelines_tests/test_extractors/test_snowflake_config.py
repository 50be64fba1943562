"""Snowflake config and credentials: validated before any login, secrets never echoed."""

from __future__ import annotations

import pytest

from metadata_pipelines.extractors import MetadataExtractorFactory
from metadata_pipelines.extractors.errors import ConfigurationError
from metadata_pipelines.extractors.snowflake import SnowflakeExtractor
from metadata_pipelines_tests.test_extractors.snowflake_support import key_pair

ACCOUNT = {"account": "myorg-myaccount"}


def test_registered_in_the_factory():
    factory = MetadataExtractorFactory()
    assert factory.extractor_class("snowflake") is SnowflakeExtractor


def test_method_is_inferred_and_checked():
    assert SnowflakeExtractor(
        ACCOUNT, {"user": "U", "password": "p4ss-w0rd"}
    ).credentials.method == ("password")
    assert SnowflakeExtractor(ACCOUNT, {"token": "oauth-t0ken"}).credentials.method == "oauth"
    for credentials, message in [
        ({"user": "U"}, "exactly one of"),
        ({"user": "U", "password": "p4ss-w0rd", "token": "oauth-t0ken"}, "exactly one of"),
        ({"password": "p4ss-w0rd"}, "needs user"),
        ({"method": "key_pair", "user": "U", "password": "p4ss-w0rd"}, "needs private_key"),
        ({"user": "U", "password": "p4ss-w0rd", "private_key_passphrase": "x"}, "only applies"),
    ]:
        with pytest.raises(ConfigurationError, match=message) as raised:
            SnowflakeExtractor(ACCOUNT, credentials)
        assert "p4ss-w0rd" not in str(raised.value) and "oauth-t0ken" not in str(raised.value)


def test_private_key_is_loaded_at_validation_and_never_echoed():
    pem, _ = key_pair(passphrase="right-phrase")
    ok = SnowflakeExtractor(
        ACCOUNT, {"user": "U", "private_key": pem, "private_key_passphrase": "right-phrase"}
    )
    assert ok.credentials.method == "key_pair"
    assert set(ok.secret_values()) == {pem, "right-phrase"}
    for credentials, message in [
        ({"user": "U", "private_key": pem, "private_key_passphrase": "wrong-phrase"}, "wrong pass"),
        ({"user": "U", "private_key": pem}, "is encrypted"),
        ({"user": "U", "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n"}, "not a PEM"),
    ]:
        with pytest.raises(ConfigurationError, match=message) as raised:
            SnowflakeExtractor(ACCOUNT, credentials)
        assert "wrong-phrase" not in str(raised.value) and "BEGIN" not in str(raised.value)


def test_config_rules():
    with pytest.raises(ConfigurationError, match="loopback"):
        SnowflakeExtractor(
            {**ACCOUNT, "host": "db.example.com", "protocol": "http"}, {"token": "t"}
        )
    with pytest.raises(ConfigurationError, match="account identifier"):
        SnowflakeExtractor({"account": "bad account!"}, {"token": "t"})
    with pytest.raises(ConfigurationError, match="include_tables"):
        SnowflakeExtractor({**ACCOUNT, "include_tables": ["("]}, {"token": "t"})
    config = SnowflakeExtractor(
        {**ACCOUNT, "include_schemas": ["SALES.*"], "exclude_tables": ["TMP_.*"]}, {"token": "t"}
    ).config
    assert config.wants_schema("DB", "SALES_EU")
    assert not config.wants_schema("DB", "INFORMATION_SCHEMA")
    assert not config.wants_table("DB", "SALES_EU", "TMP_1")
