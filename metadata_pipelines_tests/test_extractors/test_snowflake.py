"""The Snowflake extractor against fakesnow on loopback, through the front that adds users,
roles, secure views and SHOW's row limit (see fakes/snowflake_front.py)."""

from __future__ import annotations

import pytest

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    SourceUnavailableError,
)
from metadata_pipelines.extractors.snowflake import SnowflakeExtractor
from metadata_pipelines.extractors.snowflake.extractor import QUERY_TAG
from metadata_pipelines.models import DataType, ExtractionStatus, Severity, TableType
from metadata_pipelines_tests.fakes.snowflake_front import User
from metadata_pipelines_tests.support.local_server import free_port
from metadata_pipelines_tests.support.snowflake_server import run as run_sql
from metadata_pipelines_tests.test_extractors.snowflake_support import (
    PASSWORD,
    extractor,
    key_pair,
    populate,
    run,
)

#: The statements sent per database when everything is read: schemas, tables, views, columns,
#: primary / unique / imported keys, functions, procedures.
PER_DATABASE = 9


@pytest.fixture
def account(fakesnow, snowflake_prefix):
    return populate(fakesnow, snowflake_prefix)


def test_extracts_databases_schemas_tables_views_columns_and_keys(
    snowflake, account, snowflake_prefix
):
    sales, hr = account["sales"], account["hr"]
    source = extractor(snowflake, snowflake_prefix)

    result = run(source.extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert result.errors == []
    assert [d.name for d in result.databases] == [hr, sales]
    assert {(s.database, s.name) for s in result.schemas} == {
        (sales, "CORE"),
        (sales, "Odd Schema"),
        (hr, "STAFF"),
    }  # INFORMATION_SCHEMA is left out by default
    tables = {t.path: t for t in result.tables}
    assert set(tables) == {
        (sales, "CORE", "CUSTOMERS"),
        (sales, "CORE", "ORDERS"),
        (sales, "CORE", "STAGING"),
        (sales, "CORE", "BIG_ORDERS"),
        (sales, "CORE", "PRIVATE_ORDERS"),
        (sales, "Odd Schema", "Mixed Case ü"),
        (hr, "STAFF", "PEOPLE"),
    }
    orders = tables[(sales, "CORE", "ORDERS")]
    assert (orders.table_type, orders.native_type) == (TableType.TABLE, "TABLE")
    assert [(c.name, c.native_type, c.data_type, c.is_primary_key) for c in orders.columns] == [
        ("ID", "NUMBER(38,0)", DataType.DECIMAL, True),
        ("CUSTOMER_ID", "NUMBER(38,0)", DataType.DECIMAL, False),
        ("TOTAL", "NUMBER(10,2)", DataType.DECIMAL, False),
        ("PLACED", "TIMESTAMP_NTZ(9)", DataType.TIMESTAMP, False),
        ("PAID", "BOOLEAN", DataType.BOOLEAN, False),
        ("PAYLOAD", "VARIANT", DataType.JSON, False),
        ("TAGS", "MAP(VARCHAR, VARCHAR)", DataType.MAP, False),
        ("RATE", "FLOAT", DataType.FLOAT, False),
        ("DAY", "DATE", DataType.DATE, False),
    ]
    assert [(c.constraint_type.value, c.columns) for c in orders.constraints] == [
        ("primary_key", ["ID"])
    ]
    customers = tables[(sales, "CORE", "CUSTOMERS")]
    email, name = customers.columns[1], customers.columns[2]
    assert (email.native_type, email.nullable) == ("VARCHAR(200)", False)
    assert (name.default, name.nullable) == ("'anonymous'", True)
    assert tables[(sales, "CORE", "STAGING")].native_type == "TABLE" or (
        tables[(sales, "CORE", "STAGING")].native_type == "TRANSIENT TABLE"
    )
    view = tables[(sales, "CORE", "BIG_ORDERS")]
    assert view.table_type is TableType.VIEW
    assert "TOTAL > 100" in view.view_definition
    assert [c.name for c in view.columns] == ["ID", "TOTAL"]
    odd = tables[(sales, "Odd Schema", "Mixed Case ü")]
    assert [c.name for c in odd.columns] == ["Col A", 'naïve "q" col']


def test_statements_per_database_are_constant_and_tagged(snowflake, account, snowflake_prefix):
    source = extractor(snowflake, snowflake_prefix)

    run(source.extract_metadata())

    assert source.statements_per_database == {
        "": 1,  # SHOW DATABASES
        account["hr"]: PER_DATABASE,
        account["sales"]: PER_DATABASE,
    }
    assert all(s.startswith("SHOW ") for s in snowflake.statements)  # no warehouse needed
    assert len(snowflake.logins) == 1  # one session for the whole sync
    assert snowflake.logins[0]["session_parameters"]["QUERY_TAG"] == QUERY_TAG


def test_expired_session_logs_in_once_more(snowflake, account, snowflake_prefix):
    snowflake.users = {"READER": User(password=PASSWORD)}
    source = extractor(snowflake, snowflake_prefix, include_databases=[account["hr"]])
    snowflake.expire_sessions = 1

    result = run(source.extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert len(snowflake.logins) == 2
    assert {t.name for t in result.tables} == {"PEOPLE"}


def test_statement_timeout_is_scoped_to_its_database(snowflake, account, snowflake_prefix):
    sales = account["sales"]
    snowflake.faults = [
        (
            f'SHOW COLUMNS IN DATABASE "{sales}"',
            "000630",
            "Statement reached its statement or warehouse timeout of 600 second(s) and was "
            "canceled.",
        )
    ]

    result = run(extractor(snowflake, snowflake_prefix).extract_metadata())

    assert result.status is ExtractionStatus.PARTIAL
    [error] = result.errors
    assert (error.scope, error.code, error.retryable) == ((sales,), "timeout", True)
    assert {t.name for t in result.tables} == {"PEOPLE"}


def test_stages_and_streams_on_request(fakesnow, snowflake, account, snowflake_prefix):
    sales = account["sales"]
    run_sql(
        fakesnow,
        f"CREATE STAGE {sales}.CORE.LANDING COMMENT = 'raw files'",
        f"CREATE STAGE {sales}.CORE.LAKE URL = 's3://lake/orders/'",
    )
    snowflake.streams = [
        {"name": "ORDERS_CHANGES", "database_name": sales, "schema_name": "CORE",
         "owner": "SYSADMIN", "comment": "", "table_name": f"{sales}.CORE.ORDERS",
         "source_type": "Table", "base_tables": f"{sales}.CORE.ORDERS", "type": "DELTA",
         "stale": "false", "mode": "APPEND_ONLY", "owner_role_type": "ROLE"}
    ]  # fmt: skip
    default = extractor(snowflake, snowflake_prefix, include_databases=[sales])
    source = extractor(
        snowflake, snowflake_prefix, include_databases=[sales], include_stages=True,
        include_streams=True,
    )  # fmt: skip

    assert {t.table_type for t in run(default.extract_metadata()).tables} <= {
        TableType.TABLE, TableType.VIEW
    }  # fmt: skip
    result = run(source.extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert source.statements_per_database[sales] == PER_DATABASE + 2
    kinds = {t.name: (t.table_type, t.native_type, t.properties) for t in result.tables}
    assert kinds["LANDING"][:2] == (TableType.STAGE, "INTERNAL STAGE")
    assert kinds["LAKE"][:2] == (TableType.STAGE, "EXTERNAL STAGE")
    assert kinds["LAKE"][2]["url"] == "s3://lake/orders/"
    assert kinds["ORDERS_CHANGES"] == (
        TableType.STREAM,
        "STREAM",
        {"source": f"{sales}.CORE.ORDERS", "source_type": "Table", "mode": "APPEND_ONLY",
         "stale": False},
    )  # fmt: skip


def test_oauth_token_login(snowflake, account, snowflake_prefix):
    token = "oauth-access-token-3b9c"
    source = extractor(snowflake, snowflake_prefix, {"token": token})

    assert run(source.test_connection()) == (True, None)
    assert snowflake.logins[-1]["authenticator"] == "OAUTH"


def test_secure_view_definition_is_recorded_as_hidden(snowflake, account, snowflake_prefix):
    sales = account["sales"]
    snowflake.secure_views = {(sales, "CORE", "PRIVATE_ORDERS")}

    result = run(extractor(snowflake, snowflake_prefix).extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS
    view = next(t for t in result.tables if t.name == "PRIVATE_ORDERS")
    assert view.view_definition is None
    assert view.properties == {"secure": True, "definition_hidden": True}
    assert [c.name for c in view.columns] == ["ID"]


def test_role_that_sees_one_database(snowflake, account, snowflake_prefix):
    snowflake.visible_databases = {account["hr"]}

    result = run(extractor(snowflake, snowflake_prefix).extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS
    assert [d.name for d in result.databases] == [account["hr"]]
    assert {t.name for t in result.tables} == {"PEOPLE"}


def test_unreadable_database_is_a_scoped_error_and_the_rest_is_read(
    snowflake, account, snowflake_prefix
):
    sales = account["sales"]
    snowflake.denied_databases = {sales}  # listed, but USAGE revoked (or dropped) since

    result = run(extractor(snowflake, snowflake_prefix).extract_metadata())

    assert result.status is ExtractionStatus.PARTIAL
    [error] = result.errors
    assert error.scope == (sales,) and error.severity is Severity.ERROR
    assert error.code == "missing_privilege"
    assert "does not exist or not authorized" in error.message
    assert sales in [d.name for d in result.databases]  # kept, so its subtree is protected
    assert {t.name for t in result.tables} == {"PEOPLE"}


def test_show_row_limit_falls_back_to_one_statement_per_schema(
    snowflake, account, snowflake_prefix
):
    sales = account["sales"]
    snowflake.show_row_limit = 6  # CORE has 14 columns, "Odd Schema" 2: the database has 16
    source = extractor(snowflake, snowflake_prefix, include_databases=[sales])

    result = run(source.extract_metadata())

    assert result.status is ExtractionStatus.PARTIAL
    [error] = result.errors  # CORE's 14 columns exceed the limit even alone, and no warehouse
    assert error.scope == (sales, "CORE") and error.code == "show_row_limit"
    assert "set `warehouse`" in error.message
    assert f'SHOW COLUMNS IN SCHEMA "{sales}"."Odd Schema"' in snowflake.statements
    odd = next(t for t in result.tables if t.schema_name == "Odd Schema")
    assert [c.name for c in odd.columns] == ["Col A", 'naïve "q" col']


def test_show_row_limit_reads_columns_from_information_schema_with_a_warehouse(
    snowflake, account, snowflake_prefix
):
    sales = account["sales"]
    snowflake.show_row_limit = 6
    source = extractor(
        snowflake, snowflake_prefix, include_databases=[sales], warehouse="METADATA_WH"
    )

    result = run(source.extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS, result.errors
    orders = next(t for t in result.tables if t.name == "ORDERS")
    assert [(c.name, c.native_type) for c in orders.columns][:3] == [
        ("ID", "NUMBER(38,0)"),
        ("CUSTOMER_ID", "NUMBER(38,0)"),
        ("TOTAL", "NUMBER(10,2)"),
    ]
    # The refused SHOW COLUMNS, then one INFORMATION_SCHEMA statement for the whole database.
    assert [s for s in snowflake.statements if "INFORMATION_SCHEMA.COLUMNS" in s] != []
    assert source.statements_per_database[sales] == PER_DATABASE + 1


def test_patterns_select_schemas_and_tables(snowflake, account, snowflake_prefix):
    source = extractor(
        snowflake,
        snowflake_prefix,
        include_schemas=["CORE"],
        exclude_tables=["STAGING", ".*\\.PRIVATE_.*"],
        include_views=False,
    )

    result = run(source.extract_metadata())

    assert {t.name for t in result.tables} == {"CUSTOMERS", "ORDERS"}
    assert not any(s.startswith("SHOW VIEWS") for s in snowflake.statements)


def test_key_pair_login_with_an_encrypted_key(snowflake, account, snowflake_prefix):
    pem, key = key_pair(passphrase="pass-phrase-91")
    snowflake.users = {"READER": User(public_key=key.public_key())}
    credentials = {"user": "READER", "private_key": pem, "private_key_passphrase": "pass-phrase-91"}

    result = run(extractor(snowflake, snowflake_prefix, credentials).extract_metadata())

    assert result.status is ExtractionStatus.SUCCESS
    assert snowflake.logins[-1]["authenticator"] == "SNOWFLAKE_JWT"
    other_pem, _ = key_pair()
    wrong = extractor(snowflake, snowflake_prefix, {"user": "READER", "private_key": other_pem})
    with pytest.raises(AuthenticationError, match=r"390144|JWT"):
        run(wrong.check_connection())


def test_wrong_password_is_permanent_and_never_echoed(snowflake, account, snowflake_prefix):
    snowflake.users = {"READER": User(password=PASSWORD)}
    wrong = "Wr0ng-9d2c-" + PASSWORD[::-1]
    source = extractor(snowflake, snowflake_prefix, {"user": "READER", "password": wrong})

    with pytest.raises(AuthenticationError) as raised:
        run(source.extract_metadata())

    assert "Incorrect username or password" in str(raised.value)
    assert not raised.value.retryable
    assert wrong not in str(raised.value)
    ok, message = run(source.test_connection())
    assert not ok and "390100" in message and wrong not in message


def test_locked_user_and_missing_role_are_permanent(snowflake, account, snowflake_prefix):
    snowflake.users = {"READER": User(password=PASSWORD, roles={"PUBLIC"})}
    with pytest.raises(ConfigurationError, match="Role 'ANALYST'"):
        run(extractor(snowflake, snowflake_prefix, role="ANALYST").check_connection())
    snowflake.users["READER"].locked = True
    with pytest.raises(AuthenticationError, match="locked"):
        run(extractor(snowflake, snowflake_prefix).check_connection())


def test_unreachable_host_is_transient():
    source = SnowflakeExtractor(
        {
            "account": "fakesnow",
            "host": "127.0.0.1",
            "port": free_port(),
            "protocol": "http",
            "login_timeout": 5,
            "network_timeout": 5,
        },
        {"user": "READER", "password": PASSWORD},
    )

    with pytest.raises(SourceUnavailableError) as raised:
        run(source.check_connection())

    assert raised.value.retryable


def test_dropped_database_is_simply_absent_next_time(snowflake, account, snowflake_prefix):
    source = extractor(snowflake, snowflake_prefix)
    assert len(run(source.extract_metadata()).databases) == 2
    # fakesnow cannot DROP DATABASE: the front stops listing it, which is what Snowflake does.
    snowflake.visible_databases = {account["sales"]}

    again = run(source.extract_metadata())

    assert again.status is ExtractionStatus.SUCCESS
    assert [d.name for d in again.databases] == [account["sales"]]
