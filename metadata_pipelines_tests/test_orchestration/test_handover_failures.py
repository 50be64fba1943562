"""The handover store failing under a sync, for real: a private moto server stopped, its bucket or
objects deleted, a private tmpfs filled, at an exact point of the extraction
(StreamingExtractor.before_batch).

A transient failure (the store unreachable) is retried with the sync's backoff, on the extract side
(inside Dagster's output handling) and on the persist side; a permanent one (no such bucket or
object) fails the step at once. The connector run ends with the store's error code, the catalog
keeps what it had, and no credential is in any message or event.
"""

from __future__ import annotations

import contextlib
import gc
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pytest
import sqlalchemy as sa
from botocore.config import Config

from metadata_pipelines.catalog.records import RunStatus
from metadata_pipelines.catalog.schema import assets
from metadata_pipelines.orchestration import retries
from metadata_pipelines.orchestration.handover import (
    HandoverIOManager,
    handover_io_manager,
    open_store,
)
from metadata_pipelines.orchestration.resources import CatalogResource, ExtractorFactoryResource
from metadata_pipelines.orchestration.runner import execute_sync
from metadata_pipelines.settings import get_settings
from metadata_pipelines_tests.support.leftovers import lease_threads
from metadata_pipelines_tests.support.local_server import (
    LocalServer,
    free_port,
    port_open,
    running,
    unavailable,
)
from metadata_pipelines_tests.support.s3_server import REGION, _moto_command
from metadata_pipelines_tests.support.streaming_extractor import (
    IMPORT_PATH,
    STREAMING,
    StreamingExtractor,
)

EXTRA = {STREAMING: IMPORT_PATH}
ACCESS_KEY = "AKIAHANDOVERCANARY00"
SECRET_KEY = f"handover-secret-{uuid.uuid4().hex}"
ALL_ASSETS = {"a", "a.t1", "b", "b.t1", "c", "c.t1"}


@pytest.fixture
def catalog_url(postgres_database_url):
    return postgres_database_url


class Store:
    """A private moto server (ours to stop and start) and the handover's bucket on it."""

    def __init__(self, server: LocalServer, endpoint_url: str, bucket: str) -> None:
        self.server = server
        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(retries={"max_attempts": 1}),
        )

    def keys(self, under: str = "") -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=under)
        return [item["Key"] for item in listed.get("Contents", [])]

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def outage(self) -> None:
        """The server stops; what it held is kept aside, as durable storage keeps it."""
        self.saved = {
            key: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            for key in self.keys()
        }
        self.server.stop()

    def recover(self) -> None:
        """The server back (moto itself keeps nothing), with the bucket and what it held."""
        self.server.start()
        self.client.create_bucket(Bucket=self.bucket)
        for key, body in self.saved.items():
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)


@pytest.fixture
def store(monkeypatch) -> Iterator[Store]:
    port = free_port()
    server = LocalServer(
        name="moto_server (private)",
        command=_moto_command(port),
        ready=lambda: port_open(port),
        env={"AWS_DEFAULT_REGION": REGION},
    )
    endpoint = f"http://127.0.0.1:{port}"
    with running(server):
        bucket = f"handover-{uuid.uuid4().hex[:8]}"
        monkeypatch.setenv("METADATA_PIPELINES_HANDOVER_URL", f"s3://{bucket}/runs")
        monkeypatch.setenv("METADATA_PIPELINES_HANDOVER_S3_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries spent at once
        get_settings.cache_clear()
        open_store.cache_clear()
        shared = Store(server, endpoint, bucket)
        shared.client.create_bucket(Bucket=bucket)
        yield shared
        open_store.cache_clear()


@pytest.fixture
def sync(catalog_url, job_resources, dagster_instance, tenant_id, tmp_path):
    """A three-database streaming source (three batches), and a function that syncs it."""
    resources = {
        "catalog": CatalogResource(url=catalog_url, extra_connectors=EXTRA),
        "extractors": ExtractorFactoryResource(extra_connectors=EXTRA),
    }
    catalog = resources["catalog"].get_catalog()
    catalog.upgrade()
    source_file = tmp_path / "source.json"
    source_file.write_text(json.dumps({"databases": {"a": ["t1"], "b": ["t1"], "c": ["t1"]}}))
    source = catalog.data_sources.create(
        tenant_id=tenant_id,
        name="streamed",
        connector_type=STREAMING,
        config={"source_file": str(source_file), "attempts_file": str(tmp_path / "attempts")},
    )

    def run(databases: dict[str, list[str]] | None = None, io_manager=None):
        if databases is not None:
            source_file.write_text(json.dumps({"databases": databases}))
        with_io = {**resources, "io_manager": io_manager or handover_io_manager()}
        return execute_sync(source.id, tenant_id, instance=dagster_instance, resources=with_io)

    def live_assets() -> set[str]:
        with catalog.engine.connect() as connection:
            return set(
                connection.scalars(
                    sa.select(assets.c.qualified_name).where(
                        assets.c.data_source_id == source.id, assets.c.deleted_at.is_(None)
                    )
                )
            )

    run.live_assets = live_assets
    return run


def _at(attempt: int, index: int, action):
    def before_batch(current_attempt: int, current_index: int) -> None:
        if (current_attempt, current_index) == (attempt, index):
            action()

    return before_batch


def _latest_run(instance: dg.DagsterInstance) -> str:
    [run] = instance.get_runs(limit=1)
    return run.run_id


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _events_text(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(
        f"{record.message} {record.dagster_event}" for record in instance.all_logs(run_id)
    )


def _step_retries(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        record.step_key
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    ]


def test_object_storage_down_mid_extract_is_retried_and_the_sync_completes(
    store, sync, dagster_instance, monkeypatch
):
    """The server stops once the first batch is handed over, and is back (with its objects) before
    the retry, which waits the policy's delay (3 s here: moto takes about 1 s to start)."""
    monkeypatch.setattr(retries, "SYNC_RETRY_POLICY", dg.RetryPolicy(max_retries=3, delay=3))

    def recover_once_retrying() -> None:
        _wait_for(lambda: _step_retries(dagster_instance, _latest_run(dagster_instance)))
        store.recover()

    recovery = threading.Thread(target=recover_once_retrying, daemon=True)

    def outage(attempt: int, index: int) -> None:
        if (attempt, index) == (1, 1):
            store.outage()
            recovery.start()

    monkeypatch.setattr(StreamingExtractor, "before_batch", outage)

    outcome = sync()
    recovery.join(30)

    assert outcome.status == "succeeded"
    assert outcome.connector_run.attempts == 2
    assert _step_retries(dagster_instance, outcome.dagster_run_id) == ["extract_metadata"]
    [warning] = [
        record.message
        for record in dagster_instance.all_logs(outcome.dagster_run_id)
        if "(transient; attempt 1 of 4, retrying)" in record.message
    ]
    assert warning.startswith("extract_metadata: handover write to s3://")
    assert "EndpointConnectionError" in warning
    assert sync.live_assets() == ALL_ASSETS
    assert store.keys() == []  # the handover, removed once persisted


def test_a_vanished_bucket_fails_the_extract_at_once_and_the_catalog_is_intact(
    store, sync, dagster_instance, monkeypatch
):
    assert sync().status == "succeeded"

    def bucket_gone() -> None:
        store.delete(store.keys())
        store.client.delete_bucket(Bucket=store.bucket)

    monkeypatch.setattr(StreamingExtractor, "before_batch", _at(2, 1, bucket_gone))
    collector = gc.get_threshold()
    outcome = sync({"a": ["t1"], "b": ["t1"]})  # c gone: a completed sync would delete it

    # Dagster drops the extract step at the failed write without closing it; it was closed all
    # the same, at once: the source's stream ended, its lease stopped being renewed, and the
    # collector is back as it was.
    assert StreamingExtractor.open_streams == 0
    assert not lease_threads()
    assert (gc.get_threshold(), gc.get_freeze_count()) == (collector, 0)
    row = outcome.connector_run
    assert outcome.status == "failed"
    assert row.status is RunStatus.FAILED
    assert row.error_code == "handover_refused"
    assert row.error_message.startswith("extract_metadata: handover write to s3://")
    assert "NoSuchBucket" in row.error_message
    assert row.attempts == 1  # permanent: no retry
    assert _step_retries(dagster_instance, outcome.dagster_run_id) == []
    assert sync.live_assets() == ALL_ASSETS  # nothing deleted, nothing half-written
    events = _events_text(dagster_instance, outcome.dagster_run_id)
    assert "NoSuchBucket" in events
    for text in (events, row.error_message):
        assert SECRET_KEY not in text


def test_batches_gone_before_persist_fail_it_at_once_and_the_catalog_is_intact(
    store, sync, dagster_instance, monkeypatch
):
    """The batches are deleted once all are handed over (the summary is written after them): the
    persist step's first read of a batch meets NoSuchKey."""
    assert sync().status == "succeeded"

    def batches_gone() -> None:
        store.delete([key for key in store.keys("runs/") if "/extract_metadata/batches/" in key])

    monkeypatch.setattr(StreamingExtractor, "before_batch", _at(2, 2, batches_gone))
    outcome = sync({"a": ["t1"], "b": ["t1"]})

    row = outcome.connector_run
    assert outcome.status == "failed"
    assert row.error_code == "handover_refused"
    assert row.error_message.startswith("persist_metadata: handover read from s3://")
    assert "NoSuchKey" in row.error_message
    assert row.attempts == 1
    assert sync.live_assets() == ALL_ASSETS
    assert SECRET_KEY not in _events_text(dagster_instance, outcome.dagster_run_id)


def test_object_storage_down_before_persist_is_retried_then_fails_and_the_catalog_is_intact(
    store, sync, dagster_instance, monkeypatch
):
    """The server stops as soon as extraction has succeeded and never comes back: every attempt of
    the persist step finds it unreachable; the run fails after the policy's attempts."""
    assert sync().status == "succeeded"

    def stop_after_extract() -> None:
        run_id = _latest_run(dagster_instance)
        _wait_for(
            lambda: any(
                record.event_log_entry.step_key == "extract_metadata"
                for record in dagster_instance.get_records_for_run(
                    run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
                ).records
            )
        )
        store.server.stop()

    stopper = threading.Thread(target=stop_after_extract, daemon=True)
    monkeypatch.setattr(StreamingExtractor, "before_batch", _at(2, 0, stopper.start))
    outcome = sync({"a": ["t1"], "b": ["t1"]})
    stopper.join(10)

    row = outcome.connector_run
    attempts = retries.SYNC_RETRY_POLICY.max_retries + 1
    assert outcome.status == "failed"
    assert row.error_code == "handover_unavailable"
    assert row.error_message.startswith("persist_metadata: handover read from s3://")
    assert row.error_message.endswith(f"(gave up after {attempts} attempts)")
    assert _step_retries(dagster_instance, outcome.dagster_run_id) == ["persist_metadata"] * (
        attempts - 1
    )
    assert sync.live_assets() == ALL_ASSETS
    assert SECRET_KEY not in _events_text(dagster_instance, outcome.dagster_run_id)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A private 256 KiB tmpfs (mounting needs root: fails under CI, skips elsewhere)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs for the full-disk test: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_mid_extract_is_retried_once_space_is_freed(
    small_disk, sync, dagster_instance, monkeypatch
):
    """The local handover's disk fills up once the first batch is handed over (ENOSPC on the next
    write); the space is freed before the retry, which then completes the sync."""
    monkeypatch.setattr(retries, "SYNC_RETRY_POLICY", dg.RetryPolicy(max_retries=3, delay=1))
    filler = small_disk / "filler"

    def fill_disk() -> None:
        with contextlib.suppress(OSError), filler.open("wb", buffering=0) as file:
            while True:
                file.write(b"\0" * 4096)

    def free_once_retrying() -> None:
        _wait_for(lambda: _step_retries(dagster_instance, _latest_run(dagster_instance)))
        filler.unlink()

    freeing = threading.Thread(target=free_once_retrying, daemon=True)

    def disk_full(attempt: int, index: int) -> None:
        if (attempt, index) == (1, 1):
            fill_disk()
            freeing.start()

    monkeypatch.setattr(StreamingExtractor, "before_batch", disk_full)

    outcome = sync(io_manager=HandoverIOManager(url=str(small_disk / "handover")))
    freeing.join(30)

    assert outcome.status == "succeeded"
    assert outcome.connector_run.attempts == 2
    [warning] = [
        record.message
        for record in dagster_instance.all_logs(outcome.dagster_run_id)
        if "(transient; attempt 1 of 4, retrying)" in record.message
    ]
    assert warning.startswith("extract_metadata: handover write: [Errno 28] No space left")
    assert sync.live_assets() == ALL_ASSETS
    assert not (small_disk / "handover" / outcome.dagster_run_id).exists()


def test_access_denied_fails_the_first_step_at_once_with_what_the_handover_needs(
    s3_server, sync, dagster_instance, monkeypatch
):
    """Credentials that may read but not write the bucket (the session's moto server checks IAM)."""
    bucket = f"handover-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    reader = s3_server.user(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
    )
    monkeypatch.setenv("METADATA_PIPELINES_HANDOVER_URL", f"s3://{bucket}/runs")
    monkeypatch.setenv("METADATA_PIPELINES_HANDOVER_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", reader.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", reader.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    get_settings.cache_clear()
    open_store.cache_clear()
    try:
        outcome = sync()
    finally:
        open_store.cache_clear()

    row = outcome.connector_run
    assert outcome.status == "failed"
    assert row.error_code == "handover_refused"
    assert row.error_message.startswith("check_connection: handover write to s3://")
    assert "AccessDenied (HTTP 403)" in row.error_message
    assert row.error_message.endswith(
        "the handover needs s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket "
        "on the prefix"
    )
    assert _step_retries(dagster_instance, outcome.dagster_run_id) == []
    assert sync.live_assets() == set()
    assert reader.secret_access_key not in _events_text(dagster_instance, outcome.dagster_run_id)
