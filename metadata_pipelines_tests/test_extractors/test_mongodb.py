"""The MongoDB connector against SecantusDB (MongoDB's wire protocol) with real pymongo."""

from __future__ import annotations

import asyncio

import pytest
from bson import ObjectId

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    PrivilegeError,
    SourceUnavailableError,
)
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.extractors.mongodb import MongoDBExtractor
from metadata_pipelines.models import (
    ConstraintType,
    DataType,
    ExtractionStatus,
    Severity,
    TableType,
)
from metadata_pipelines_tests.support.local_server import free_port
from metadata_pipelines_tests.support.mongodb_server import ADMIN, READER, READER_DATABASE
from metadata_pipelines_tests.test_extractors.mongodb_support import (
    ORDERS,
    database_name,
    fields,
    load_shop,
    nested,
)


def _extract(config, credentials=None, **settings):
    extractor = MongoDBExtractor({**config, **settings}, credentials)
    return extractor, asyncio.run(extractor.extract_metadata())


@pytest.fixture(scope="module")
def shop(mongodb_server):
    name = database_name("shop")
    with mongodb_server.client() as client:
        load_shop(client, name)
    yield name
    with mongodb_server.client() as client:
        client.drop_database(name)


@pytest.fixture(scope="module")
def shop_result(mongodb_server, shop):
    extractor, result = _extract(mongodb_server.config(include_databases=[shop]))
    return extractor, result


def _tables(result):
    return {table.name: table for table in result.tables}


def test_collections_views_time_series_capped_and_statistics(shop, shop_result):
    _, result = shop_result
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert [d.name for d in result.databases] == [shop]
    assert result.databases[0].properties["size_on_disk"] > 0
    tables = _tables(result)
    assert set(tables) == {"orders", "big_orders", "people", "events", "metrics", "empty"}
    kinds = {name: (t.table_type, t.native_type) for name, t in tables.items()}
    assert kinds["orders"] == (TableType.COLLECTION, "collection")
    assert kinds["big_orders"] == (TableType.VIEW, "view")
    assert kinds["events"] == (TableType.COLLECTION, "capped")
    assert kinds["metrics"] == (TableType.COLLECTION, "timeseries")

    view = tables["big_orders"]
    assert view.properties["view_on"] == "orders"
    assert view.view_definition == '[{"$match": {"number": {"$gte": 50}}}]'
    assert "_id" in fields(view) and not view.indexes  # sampled through its pipeline
    assert tables["events"].properties["capped_size_bytes"] == 1 << 20
    assert tables["events"].properties["capped_max_documents"] == 1000
    metrics = tables["metrics"].properties
    assert (metrics["time_field"], metrics["meta_field"], metrics["granularity"]) == (
        "at",
        "host",
        "minutes",
    )

    orders = tables["orders"]
    assert orders.row_count == ORDERS and orders.size_bytes and orders.size_bytes > 0
    assert orders.properties["avg_document_size"] > 0
    assert orders.properties["indexes_size_bytes"] > 0
    assert set(orders.properties["index_sizes"]) == {i.name for i in orders.indexes}


def test_inferred_schema_nested_arrays_polymorphic_rare_and_bson_types(shop_result):
    _, result = shop_result
    orders = _tables(result)["orders"]
    assert orders.properties["sampling"] == "all"  # 100 documents, under the sample size
    assert orders.properties["sampled_documents"] == ORDERS
    f = fields(orders)
    # Five levels of sub-documents.
    cell = f["shipping.address.geo.cell.level"]
    assert (cell.native_type, cell.data_type) == ("int", DataType.INTEGER)
    assert f["shipping.address.geo.cell"].data_type is DataType.STRUCT
    # An array of documents is repeated; its members are counted over the elements.
    assert f["items"].repeated and f["items"].native_type == "array<object>"
    assert f["items[].sku"].inference.presence == 1.0
    assert f["items[].gift"].inference.presence == 0.5 and f["items[].gift"].nullable
    assert f["tags"].native_type == "array<string>"
    # Polymorphic: int in half the documents, string in the other half.
    code = f["code"]
    assert (code.native_type, code.data_type) == ("int|string", DataType.JSON)
    assert {t.native_type: t.share for t in code.inference.types} == {"int": 0.5, "string": 0.5}
    # A field in 2% of the documents.
    assert f["coupon"].inference.presence == 0.02 and f["coupon"].nullable
    assert f["number"].inference.presence == 1.0 and not f["number"].nullable
    # BSON types by their $type names and families.
    assert {
        p: (f[p].native_type, f[p].data_type)
        for p in ("total", "customer_id", "placed_at", "receipt", "views")
    } == {
        "total": ("decimal", DataType.DECIMAL),
        "customer_id": ("objectId", DataType.STRING),
        "placed_at": ("date", DataType.TIMESTAMP),
        "receipt": ("binData", DataType.BINARY),
        "views": ("long", DataType.INTEGER),
    }
    # `_id` is the key, and fields are ordered by name with `_id` first (not by the sample).
    assert f["_id"].is_primary_key and orders.columns[0].name == "_id"
    assert [c.name for c in orders.columns[1:]] == sorted(c.name for c in orders.columns[1:])
    assert orders.constraints[0].constraint_type is ConstraintType.PRIMARY_KEY


def test_validator_fields_merge_with_inferred_ones(shop_result):
    _, result = shop_result
    people = _tables(result)["people"]
    assert people.properties["validation_level"] == "moderate"
    assert people.properties["validation_action"] == "warn"
    assert '"required": ["name"]' in people.properties["validator"]
    f = fields(people)
    name = f["name"]
    assert name.inference.declared and name.inference.presence == 1.0
    assert name.comment == "Full name" and name.properties["required"] is True
    never = f["nickname"]  # declared, never seen in a document
    assert never.inference.declared and never.inference.presence == 0.0
    assert not never.inference.types and never.comment == "Never set yet"
    assert f["age"].properties["declared_type"] == "int|long"
    assert f["address.city"].inference.declared
    assert not f["_id"].inference.declared  # inferred only


def test_indexes_keys_directions_and_options(shop_result):
    _, result = shop_result
    indexes = {i.name: i for i in _tables(result)["orders"].indexes}
    compound = indexes["by_customer"]
    assert compound.columns == ["customer_id", "placed_at"]
    assert compound.properties["keys"] == [["customer_id", "asc"], ["placed_at", "desc"]]
    assert (indexes["ttl"].kind, indexes["ttl"].properties["ttl_seconds"]) == ("ttl", 31536000)
    assert indexes["with_coupon"].properties["partial_filter"] == '{"coupon": {"$exists": true}}'
    assert indexes["geo"].kind == "2dsphere"
    assert indexes["shipping_wildcard"].kind == "wildcard"
    unique = indexes["number_unique"]
    assert unique.unique and unique.properties["sparse"] is True
    assert indexes["_id_"].unique


def test_an_empty_collection_has_no_fields_and_no_warning(shop_result):
    _, result = shop_result
    empty = _tables(result)["empty"]
    assert empty.columns == [] and empty.row_count == 0
    assert not result.errors


def test_sampling_reads_the_sample_not_the_collection(mongodb_server):
    name = database_name("sample")
    with mongodb_server.client() as client:
        db = client[name]
        db.big.insert_many([{"n": i, "old": True} for i in range(300)])
        db.big.insert_many([{"n": i, "new_field": "x"} for i in range(300, 340)])
        db.small.insert_many([{"n": i} for i in range(10)])
    try:
        config = mongodb_server.config(include_databases=[name], schema_sample_size=40)
        extractor, newest = _extract(config)
        assert extractor.documents_read == 40 + 10
        big = _tables(newest)["big"]
        assert big.properties == {**big.properties, "sampling": "newest", "sampled_documents": 40}
        # The newest 40 by _id are exactly the 40 documents that have new_field.
        assert fields(big)["new_field"].inference.presence == 1.0
        assert "old" not in fields(big)
        # Deterministic: the same collection gives the same schema.
        _, again = _extract(config)
        assert _tables(again)["big"].columns == big.columns

        extractor, random = _extract({**config, "sampling": "random"})
        assert extractor.documents_read == 40 + 10
        assert _tables(random)["big"].properties["sampling"] == "random"
        assert _tables(random)["small"].properties["sampling"] == "all"
    finally:
        with mongodb_server.client() as client:
            client.drop_database(name)


def test_two_hundred_collections_and_filters(mongodb_server):
    name, other = database_name("many"), database_name("other")
    with mongodb_server.client() as client:
        for i in range(200):
            client[name][f"c{i:03d}"].insert_one({"i": i, f"only_{i}": True})
        client[other].kept.insert_one({"x": 1})
        client[other].dropme.insert_one({"x": 1})
    try:
        _, result = _extract(
            mongodb_server.config(
                include_databases=[name, other],
                exclude_collections=[rf"{other}\.dropme"],
                max_concurrent_collections=4,
            )
        )
        assert result.status is ExtractionStatus.SUCCESS
        names = {(t.database, t.name) for t in result.tables}
        assert len([n for n in names if n[0] == name]) == 200
        assert (other, "kept") in names and (other, "dropme") not in names
        c150 = next(t for t in result.tables if t.name == "c150")
        assert {c.name for c in c150.columns} == {"_id", "i", "only_150"}
        # System databases stay out unless asked for.
        assert not {"admin", "local", "config"} & {d.name for d in result.databases}
    finally:
        with mongodb_server.client() as client:
            client.drop_database(name)
            client.drop_database(other)


def test_too_deep_or_too_wide_documents_cut_the_schema_with_a_warning(mongodb_server):
    name = database_name("limits")
    with mongodb_server.client() as client:
        client[name].deep.insert_one(nested(40))
        client[name].wide.insert_one({f"f{i:03d}": i for i in range(300)})
    try:
        _, result = _extract(
            mongodb_server.config(include_databases=[name], max_depth=5, max_schema_fields=50)
        )
        assert result.status is ExtractionStatus.SUCCESS
        tables = _tables(result)
        depth = max(len(p.split(".")) for p in fields(tables["deep"]))
        assert depth == 5
        assert len(fields(tables["wide"])) == 50
        warnings = {e.scope[1]: e for e in result.errors if e.code == "schema_cut"}
        assert set(warnings) == {"deep", "wide"}
        assert all(w.severity is Severity.WARNING for w in warnings.values())
        assert "max_depth (5)" in warnings["deep"].message
        assert "max_schema_fields (50)" in warnings["wide"].message
    finally:
        with mongodb_server.client() as client:
            client.drop_database(name)


# Authentication and privileges -------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_data(mongodb_auth_server):
    with mongodb_auth_server.client() as client:
        client[READER_DATABASE].things.insert_one({"a": 1})
        client["secret_db"].hidden.insert_one({"b": 2})
    return mongodb_auth_server


def test_wrong_password_is_an_authentication_error_without_the_password(auth_data):
    canary = "Canary-pw-9f8e7d6c"
    extractor = MongoDBExtractor(auth_data.config(), {"username": READER[0], "password": canary})
    with pytest.raises(AuthenticationError) as raised:
        asyncio.run(extractor.check_connection())
    assert "auth_source" in raised.value.message and canary not in raised.value.message
    ok, message = MetadataExtractorFactory().test_connection(
        "mongodb", auth_data.config(), {"username": READER[0], "password": canary}
    )
    assert not ok and message and canary not in message
    with pytest.raises(AuthenticationError):
        asyncio.run(extractor.extract_metadata())


def test_a_user_with_read_on_one_database_reads_that_database_only(auth_data):
    credentials = {"username": READER[0], "password": READER[1]}
    ok, message = MetadataExtractorFactory().test_connection(
        "mongodb", auth_data.config(auth_source="admin"), credentials
    )
    assert ok, message
    _, result = _extract(auth_data.config(auth_source="admin"), credentials)
    assert result.status is ExtractionStatus.SUCCESS
    assert [d.name for d in result.databases] == [READER_DATABASE]
    assert [t.name for t in result.tables] == ["things"]
    # SecantusDB refuses listDatabases to such a user (MongoDB answers it with the authorized
    # databases): the connector falls back to the databases the user's roles name, and says so.
    [warning] = result.warnings
    assert warning.code == "databases_from_roles"


def test_a_user_with_no_database_to_read_is_refused(auth_data):
    with auth_data.client() as client:
        client.admin.command("createUser", "nobody", pwd="nobody-pw", roles=[])
    try:
        extractor = MongoDBExtractor(
            auth_data.config(), {"username": "nobody", "password": "nobody-pw"}
        )
        with pytest.raises(PrivilegeError, match="'read' role"):
            asyncio.run(extractor.check_connection())
    finally:
        with auth_data.client() as client:
            client.admin.command("dropUser", "nobody")


def test_the_administrator_reads_every_database(auth_data):
    _, result = _extract(
        auth_data.config(include_databases=[READER_DATABASE, "secret_db"]),
        {"username": ADMIN[0], "password": ADMIN[1]},
    )
    assert {d.name for d in result.databases} == {READER_DATABASE, "secret_db"}
    assert not result.errors


def test_x509_client_certificate_authenticates(mongodb_tls_server):
    credentials = {"tls_certificate_key": mongodb_tls_server.client_pem}
    _, result = _extract(mongodb_tls_server.config(), credentials)
    assert [t.name for t in result.tables] == ["things"]
    assert fields(result.tables[0])["a"].native_type == "int"
    # Without the certificate the server refuses the TLS handshake: nothing is read.
    with pytest.raises(SourceUnavailableError):
        asyncio.run(
            MongoDBExtractor(
                mongodb_tls_server.config(server_selection_timeout_seconds=1)
            ).check_connection()
        )


# Faults injected with mongod's failCommand fail point, on a private server -----------------------


@pytest.fixture
def faulty(private_mongodb):
    with private_mongodb.client() as client:
        for db in ("a", "b"):
            client.drop_database(db)
            for coll in ("one", "two"):
                client[db][coll].insert_one({"_id": ObjectId(), "x": 1})
    yield private_mongodb
    private_mongodb.clear_faults()


def test_not_writable_primary_is_transient(faulty):
    faulty.fail_command(["aggregate"], errorCode=10107)  # NotWritablePrimary, on every attempt
    extractor = MongoDBExtractor(faulty.config(server_selection_timeout_seconds=1))
    with pytest.raises(SourceUnavailableError) as raised:
        asyncio.run(extractor.extract_metadata())
    assert raised.value.retryable and "NotWritablePrimary" in raised.value.message


def test_a_collection_dropped_while_sampled_is_a_warning(faulty):
    faulty.fail_command(["aggregate"], times=1, errorCode=26)  # NamespaceNotFound
    _, result = _extract(faulty.config(max_concurrent_collections=1))
    assert result.status is ExtractionStatus.SUCCESS
    [dropped] = [e for e in result.errors if e.code == "dropped"]
    assert dropped.severity is Severity.WARNING
    assert len(result.tables) == 3


def test_a_sample_over_its_time_limit_fails_that_collection_only(faulty):
    faulty.fail_command(["aggregate"], times=1, errorCode=50)  # MaxTimeMSExpired
    _, result = _extract(faulty.config(max_concurrent_collections=1))
    assert result.status is ExtractionStatus.PARTIAL
    [failed] = result.errors
    assert failed.severity is Severity.ERROR and len(failed.scope) == 2 and failed.retryable
    assert "sample_max_time_seconds" in failed.message
    assert len(result.tables) == 3


def test_a_database_not_authorized_is_scoped_to_it(faulty):
    faulty.fail_command(["listCollections"], times=1, errorCode=13)  # Unauthorized
    _, result = _extract(faulty.config())
    assert result.status is ExtractionStatus.PARTIAL
    [denied] = result.errors
    assert denied.scope == ("a",) and denied.code == "missing_privilege"
    assert {t.database for t in result.tables} == {"b"}
    assert {d.name for d in result.databases} == {"a", "b"}  # the database itself stays


def test_no_server_is_a_transient_server_selection_error():
    config = {
        "connection_string": f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        "server_selection_timeout_seconds": 0.5,
    }
    with pytest.raises(SourceUnavailableError, match="server_selection_timeout_seconds"):
        asyncio.run(MongoDBExtractor(config).check_connection())
