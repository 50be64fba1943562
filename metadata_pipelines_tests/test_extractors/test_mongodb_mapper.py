"""MongoDB config, sampling and mapping without a server: replies recorded from MongoDB 7.0 for
what SecantusDB cannot create (text and hashed indexes, `type: timeseries` entries)."""

from __future__ import annotations

import asyncio
import tempfile

import pytest

from metadata_pipelines.extractors.errors import ConfigurationError, SourceUnavailableError
from metadata_pipelines.extractors.mongodb import MongoDBExtractor, mapper
from metadata_pipelines.extractors.mongodb.sampling import bucketed_share, sampling_pipeline
from metadata_pipelines_tests.support.local_server import free_port
from metadata_pipelines_tests.support.mongodb_server import certificates

URI = "mongodb://db1.internal:27017,db2.internal:27017/?replicaSet=rs0&tls=true"
PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nMIIE-canary-key\n-----END PRIVATE KEY-----\n"
)


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("mongodb://reader:s3cr3t-canary@db:27017", "user name or password"),
        ("mongodb://db/?tlsCertificateKeyFilePassword=s3cr3t-canary", "holds a secret"),
        ("mongodb://db/?readPreference=primary", "own config field"),
        ("mongodb+srv://cluster.example.net:27017", "without a port"),
        ("postgresql://db:5432", "mongodb://"),
    ],
)
def test_connection_strings_with_secrets_or_conflicts_are_refused(uri, complaint):
    with pytest.raises(ConfigurationError, match=complaint) as raised:
        MongoDBExtractor({"connection_string": uri})
    assert "s3cr3t-canary" not in str(raised.value)


@pytest.mark.parametrize(
    ("credentials", "complaint"),
    [
        ({"username": "reader"}, "go together"),
        ({"auth_mechanism": "MONGODB-X509"}, "needs tls_certificate_key"),
        ({"tls_certificate_key": "not a pem"}, "PEM certificate"),
        ({"tls_certificate_key": PEM, "username": "u", "password": "p"}, "do not go together"),
    ],
)
def test_credentials_name_one_method(credentials, complaint):
    with pytest.raises(ConfigurationError, match=complaint) as raised:
        MongoDBExtractor({"connection_string": URI}, credentials)
    assert "canary" not in str(raised.value)


def test_defaults_and_options_handed_to_pymongo():
    extractor = MongoDBExtractor(
        {"connection_string": URI, "auth_source": "users"},
        {"username": "reader", "password": "pw", "auth_mechanism": "SCRAM-SHA-256"},
    )
    assert extractor.config.read_preference == "secondaryPreferred"
    assert (extractor.config.schema_sample_size, extractor.config.sampling) == (1000, "newest")
    options = extractor.client_options()
    assert options["readPreference"] == "secondaryPreferred"
    assert (options["username"], options["authSource"], options["authMechanism"]) == (
        "reader",
        "users",
        "SCRAM-SHA-256",
    )
    assert extractor.secret_values() == ["pw"]


def test_an_x509_certificate_lives_in_a_private_file_only_while_connected(monkeypatch, tmp_path):
    pem = certificates(tmp_path)[2]
    private = tmp_path / "private"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    config = {
        "connection_string": f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        "server_selection_timeout_seconds": 0.3,
    }
    extractor = MongoDBExtractor(config, {"tls_certificate_key": pem})
    seen = []
    real = extractor.client_options

    def spy(certificate_file=None):
        seen.append(certificate_file)
        with open(certificate_file) as file:
            assert file.read() == pem
        return real(certificate_file)

    monkeypatch.setattr(extractor, "client_options", spy)
    with pytest.raises(SourceUnavailableError):
        asyncio.run(extractor.check_connection())
    [path] = seen
    assert path.startswith(str(private)) and not list(private.iterdir())
    options = real("/x.pem")
    assert (options["tls"], options["authMechanism"], options["tlsCertificateKeyFile"]) == (
        True,
        "MONGODB-X509",
        "/x.pem",
    )


# Indexes and collections as MongoDB 7.0 lists them ------------------------------------------------


def test_text_index_lists_its_weighted_fields():
    index = mapper.index(
        {
            "v": 2,
            "key": {"category": 1, "_fts": "text", "_ftsx": 1},
            "name": "category_1_title_text_body_text",
            "weights": {"body": 1, "title": 10},
            "default_language": "english",
            "language_override": "language",
            "textIndexVersion": 3,
        }
    )
    assert index.kind == "text"
    assert index.columns == ["category", "body", "title"]
    assert index.properties["weights"] == {"body": 1, "title": 10}
    assert index.properties["default_language"] == "english"


def test_hashed_and_wildcard_projection_indexes():
    hashed = mapper.index({"v": 2, "key": {"customer": "hashed"}, "name": "customer_hashed"})
    assert (hashed.kind, hashed.columns, hashed.properties["keys"]) == (
        "hashed",
        ["customer"],
        [["customer", "hashed"]],
    )
    wildcard = mapper.index(
        {"v": 2, "key": {"$**": 1}, "name": "$**_1", "wildcardProjection": {"secret": 0}}
    )
    assert wildcard.kind == "wildcard"
    assert wildcard.properties["wildcard_projection"] == '{"secret": 0}'


def test_time_series_entry_of_type_timeseries():
    info = {
        "name": "weather",
        "type": "timeseries",
        "options": {
            "timeseries": {
                "timeField": "ts",
                "metaField": "sensor",
                "granularity": "seconds",
                "bucketMaxSpanSeconds": 3600,
            },
            "expireAfterSeconds": 86400,
        },
        "info": {"readOnly": False},
    }
    assert mapper.collection_kind(info) == "timeseries"
    assert mapper.collection_properties(info) == {
        "time_field": "ts",
        "meta_field": "sensor",
        "granularity": "seconds",
        "bucket_max_span_seconds": 3600,
        "expire_after_seconds": 86400,
    }


def test_json_schema_inside_and_with_json_types_and_nested_arrays():
    info = {
        "name": "c",
        "options": {
            "validator": {
                "$and": [
                    {"status": {"$in": ["a", "b"]}},
                    {
                        "$jsonSchema": {
                            "required": ["lines"],
                            "properties": {
                                "lines": {
                                    "type": "array",
                                    "items": {
                                        "bsonType": "object",
                                        "properties": {"sku": {"type": "string"}},
                                    },
                                },
                                "note": {"type": ["string", "null"]},
                            },
                        }
                    },
                ]
            }
        },
    }
    schema = mapper.json_schema(info)
    assert schema is not None
    lines, note = mapper.declared_columns(schema, max_depth=5)
    assert (lines.name, lines.native_type, lines.nullable) == ("lines", "array<object>", False)
    assert [c.name for c in lines.children] == ["sku"]
    assert (note.native_type, note.nullable) == ("string", True)


# Sampling ----------------------------------------------------------------------------------------


def test_sampling_pipelines_are_bounded():
    assert sampling_pipeline("newest", 1000, 10, "collection") == ([{"$limit": 1000}], "all")
    assert sampling_pipeline("newest", 1000, 10**6, "collection") == (
        [{"$sort": {"_id": -1}}, {"$limit": 1000}],
        "newest",
    )
    assert sampling_pipeline("random", 1000, 10**6, "collection") == (
        [{"$sample": {"size": 1000}}],
        "random",
    )
    # No _id index to walk: a time-series collection and a view are read in natural order.
    assert sampling_pipeline("newest", 1000, 10**6, "timeseries")[1] == "natural"
    assert sampling_pipeline("newest", 1000, None, "view")[1] == "natural"
    assert sampling_pipeline("random", 1000, None, "view")[1] == "random"


@pytest.mark.parametrize(
    ("count", "total", "share"),
    [
        (0, 1000, 0.0),
        (1, 1000, 0.01),  # seen at all: never 0
        (20, 1000, 0.02),
        (731, 1000, 0.75),
        (749, 1000, 0.75),  # the same bucket as 731: no rewrite
        (999, 1000, 0.99),  # missing from one: never 1
        (1000, 1000, 1.0),
        (0, 0, 0.0),
    ],
)
def test_shares_are_stored_in_buckets(count, total, share):
    assert bucketed_share(count, total) == share
