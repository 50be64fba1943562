"""S3 through the whole job: moto (IAM authentication on) -> metadata_sync -> PostgreSQL catalog."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlalchemy as sa

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import data_sources
from metadata_pipelines.models import qualified_name
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines_tests.support.catalog_snapshot import catalog_snapshot, writes
from metadata_pipelines_tests.test_extractors.s3_support import (
    ORDER_SCHEMA,
    bucket_name,
    jsonl_bytes,
    parquet_bytes,
    put,
)

WRONG = "Wr0ng-secret-for-the-job-test"


@pytest.fixture
def catalog_url(postgres_database_url):
    """These runs persist into PostgreSQL, the production catalog."""
    return postgres_database_url


@pytest.fixture
def buckets(s3_server):
    client = s3_server.client()
    lake, logs = bucket_name("joblake"), bucket_name("joblogs")
    for bucket in (lake, logs):
        client.create_bucket(Bucket=bucket)
    put(
        client,
        lake,
        {
            "orders/date=2026-01-01/p.parquet": parquet_bytes(2),
            "events/a.jsonl": jsonl_bytes([{"id": 1, "user": {"name": "a"}}]),
        },
    )
    put(client, logs, {"app/x.jsonl": jsonl_bytes([{"level": "info"}])})
    return lake, logs


def _source(job_catalog, tenant_id, s3_server, buckets, keys):
    return job_catalog.data_sources.create(
        tenant_id=tenant_id,
        name="lake",
        connector_type="s3",
        config=s3_server.config(buckets=list(buckets), max_attempts=1),
        credentials=keys.as_credentials(),
    )


def _sync(source, dagster_instance, job_resources):
    return execute_sync(
        source.id, source.tenant_id, instance=dagster_instance, resources=job_resources
    )


def test_sync_resync_and_a_new_partition_with_a_nested_field(
    s3_server, buckets, job_catalog, tenant_id, dagster_instance, job_resources
):
    lake, logs = buckets
    source = _source(job_catalog, tenant_id, s3_server, buckets, s3_server.admin)
    outcome = _sync(source, dagster_instance, job_resources)
    run = outcome.connector_run
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    orders = qualified_name((lake, "orders/"))
    rows, fields = catalog_snapshot(job_catalog, source.id)
    assert {
        qualified_name((lake,)),
        qualified_name((logs,)),
        orders,
        qualified_name((lake, "events/")),
        qualified_name((logs, "app/")),
    } <= set(rows)
    assert {"items[].sku", "customer.address.city", "user.name"} <= {path for _, path in fields}

    again = _sync(source, dagster_instance, job_resources).connector_run
    assert again.status is RunStatus.SUCCEEDED
    assert writes(again) == {"inserted": 0, "updated": 0, "deleted": 0}
    assert catalog_snapshot(job_catalog, source.id) == (rows, fields)

    # A new partition whose (newest) file adds customer.email.
    customer = ORDER_SCHEMA.field("customer").type
    wider = ORDER_SCHEMA.set(
        ORDER_SCHEMA.get_field_index("customer"),
        pa.field("customer", pa.struct([*customer, pa.field("email", pa.string())])),
    )
    put(s3_server.client(), lake, {"orders/date=2026-01-02/p.parquet": parquet_bytes(1, wider)})
    changed = _sync(source, dagster_instance, job_resources).connector_run
    assert changed.status is RunStatus.SUCCEEDED, changed.error_message
    assert changed.stats["changes"]["columns_added"] == [f"{orders}.customer.email"]
    assert changed.stats["updated"] >= 1  # the dataset: its partitions, files and row count

    # The secret is encrypted at rest and appears in no event of the runs.
    secret = s3_server.admin.secret_access_key
    with job_catalog.engine.connect() as connection:
        stored = connection.execute(
            sa.select(data_sources.c.config, data_sources.c.credentials_encrypted).where(
                data_sources.c.id == source.id
            )
        ).one()
    assert secret not in str(stored.config) and secret not in str(stored.credentials_encrypted)
    for record in dagster_instance.all_logs(outcome.dagster_run_id):
        assert secret not in repr(record)


def test_denied_bucket_is_partial_and_keeps_its_datasets(
    s3_server, buckets, job_catalog, tenant_id, dagster_instance, job_resources
):
    _, logs = buckets
    keys = s3_server.user(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
    )
    source = _source(job_catalog, tenant_id, s3_server, buckets, keys)
    assert (
        _sync(source, dagster_instance, job_resources).connector_run.status is RunStatus.SUCCEEDED
    )
    iam = s3_server.client(service="iam")
    [user] = [
        u["UserName"]
        for u in iam.list_users()["Users"]
        if any(
            k["AccessKeyId"] == keys.access_key_id
            for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
        )
    ]
    iam.put_user_policy(
        UserName=user,
        PolicyName="deny-logs",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*",'
            f' "Resource": ["arn:aws:s3:::{logs}", "arn:aws:s3:::{logs}/*"]}}]}}'
        ),
    )
    denied = _sync(source, dagster_instance, job_resources).connector_run
    assert denied.status is RunStatus.PARTIAL
    assert logs in denied.error_message and "access denied" in denied.error_message
    assert writes(denied)["deleted"] == 0
    rows, _ = catalog_snapshot(job_catalog, source.id)
    assert rows[qualified_name((logs, "app/"))][1] is None


def test_wrong_secret_fails_without_retry_and_keeps_the_catalog(
    s3_server, buckets, job_catalog, tenant_id, dagster_instance, job_resources
):
    source = _source(job_catalog, tenant_id, s3_server, buckets, s3_server.admin)
    assert (
        _sync(source, dagster_instance, job_resources).connector_run.status is RunStatus.SUCCEEDED
    )
    before = catalog_snapshot(job_catalog, source.id)
    job_catalog.data_sources.update(
        source.id,
        source.tenant_id,
        credentials={"access_key_id": s3_server.admin.access_key_id, "secret_access_key": WRONG},
    )
    outcome = _sync(source, dagster_instance, job_resources)
    run = outcome.connector_run
    assert run.status is RunStatus.FAILED
    assert run.error_code == "authentication_failed" and run.attempts == 1
    assert "secret_access_key" in run.error_message and WRONG not in run.error_message
    assert catalog_snapshot(job_catalog, source.id) == before
    for record in dagster_instance.all_logs(outcome.dagster_run_id):
        assert WRONG not in repr(record)
