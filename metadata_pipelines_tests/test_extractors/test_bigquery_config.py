"""BigQuery settings and credentials: validated up front, errors name fields, secrets stay hidden."""

from __future__ import annotations

import json

import pytest

from metadata_pipelines.extractors.bigquery import BigQueryExtractor
from metadata_pipelines.extractors.bigquery.client import build_credentials, method_name
from metadata_pipelines.extractors.errors import ConfigurationError
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines_tests.test_extractors.bigquery_support import service_account_key

ENDPOINT = {"project_ids": ["my-project"]}


def test_the_factory_knows_bigquery():
    extractor = MetadataExtractorFactory().create("bigquery", ENDPOINT, {})
    assert isinstance(extractor, BigQueryExtractor)
    assert extractor.credentials.method == "application_default"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"project_ids": ["Not_A_Project"]}, "project_ids"),
        ({"project_ids": ["my-project", "my-project"]}, "project_ids"),
        ({"api_endpoint": "http://bigquery.example.com"}, "api_endpoint"),
        ({"api_endpoint": "https://bigquery.googleapis.com/v2"}, "api_endpoint"),
        ({"include_datasets": ["(unclosed"]}, "include_datasets.0"),
        ({"max_concurrent_requests": 0}, "max_concurrent_requests"),
        ({"maximum_bytes_billed": 1000}, "maximum_bytes_billed"),
        ({"billing_project": "x"}, "billing_project"),
        ({"unknown_setting": 1}, "unknown_setting"),
    ],
)
def test_bad_settings_name_their_field(config, field):
    with pytest.raises(ConfigurationError) as raised:
        BigQueryExtractor(config, {})
    assert f"{field}:" in str(raised.value)


def test_credential_forms():
    key_json, _ = service_account_key("https://oauth2.googleapis.com/token")
    with_key = BigQueryExtractor(ENDPOINT, {"service_account_json": key_json})
    assert with_key.credentials.method == "service_account"
    private_key = json.loads(key_json)["private_key"]
    assert private_key in with_key.secret_values() and key_json in with_key.secret_values()
    assert BigQueryExtractor(ENDPOINT, {"method": "application_default"}).secret_values() == []


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({"service_account_json": "{not json"}, "not valid JSON"),
        ({"service_account_json": json.dumps({"type": "authorized_user"})}, '"type"'),
        ({"service_account_json": json.dumps({"type": "service_account"})}, "lacks client_email"),
        ({"method": "service_account"}, "needs service_account_json"),
        ({"method": "anonymous", "service_account_json": "{}"}, "not used with method"),
    ],
)
def test_bad_credentials_are_refused_without_echoing_them(credentials, expected):
    with pytest.raises(ConfigurationError) as raised:
        BigQueryExtractor(ENDPOINT, credentials)
    assert expected in str(raised.value)
    assert "{not json" not in str(raised.value)


def test_a_key_whose_token_uri_is_not_https_is_refused():
    key_json, _ = service_account_key("http://tokens.example.com/token")
    with pytest.raises(ConfigurationError) as raised:
        BigQueryExtractor(ENDPOINT, {"service_account_json": key_json})
    assert "token_uri must use https" in str(raised.value)
    assert "PRIVATE KEY" not in str(raised.value)


def test_anonymous_access_is_only_for_a_loopback_emulator():
    with pytest.raises(ConfigurationError, match="loopback"):
        BigQueryExtractor(ENDPOINT, {"method": "anonymous"})
    BigQueryExtractor(
        {**ENDPOINT, "api_endpoint": "http://127.0.0.1:9050"}, {"method": "anonymous"}
    )


def test_a_key_that_is_not_a_pem_key_is_a_configuration_error():
    key_json, _ = service_account_key("https://oauth2.googleapis.com/token")
    broken = json.dumps({**json.loads(key_json), "private_key": "-----BEGIN nonsense"})
    extractor = BigQueryExtractor(ENDPOINT, {"service_account_json": broken})
    with pytest.raises(ConfigurationError) as raised:
        build_credentials(extractor.config, extractor.credentials)
    assert "private_key" in str(raised.value) and "nonsense" not in str(raised.value)


@pytest.mark.parametrize(
    ("method", "url", "name"),
    [
        ("GET", "https://h/bigquery/v2/projects?maxResults=1", "projects.list"),
        ("GET", "https://h/bigquery/v2/projects/p/datasets", "datasets.list"),
        ("GET", "https://h/bigquery/v2/projects/p/datasets/d", "datasets.get"),
        ("GET", "https://h/bigquery/v2/projects/p/datasets/d/tables?pageToken=x", "tables.list"),
        ("GET", "https://h/bigquery/v2/projects/p/datasets/d/tables/t", "tables.get"),
        ("GET", "https://h/bigquery/v2/projects/p/datasets/d/routines", "routines.list"),
        ("POST", "https://h/bigquery/v2/projects/p/queries", "jobs.query"),
        ("GET", "https://h/bigquery/v2/projects/p/queries/job_1", "jobs.getQueryResults"),
        ("GET", "https://h/bigquery/v2/projects/p/jobs/job_1", "jobs.get"),
    ],
)
def test_api_calls_are_counted_by_method(method, url, name):
    assert method_name(method, url) == name
