"""The handover between the ops of a run: an IO manager on local files or on object storage.

Every output of `metadata_sync` (the sync target, each batch the extraction hands over, its summary)
is stored as gzipped JSON under `<root>/<run id>/<step>/<output>[/<batch>].json.gz`, where the root
is a directory (the default: `$DAGSTER_HOME/handover`) or an S3 bucket and prefix
(`s3://bucket/prefix`, any S3-compatible endpoint). JSON of the pydantic models rather than pickles:
a tenth of the size once compressed, readable with `zcat`, and loading it executes no code from the
storage. Object storage lets each step of a run execute on another machine.

A batch is stored as a `PreparedBatch` (catalog/prepared_batch.py: each table as its JSON and content
hash, computed here in the extract step while the batch is serialized anyway) and loaded as a
`StagedBatch`, read only when persistence reaches it, so the persist step holds one batch at a time
and parses only the tables that changed. Once a run has persisted its batches, the persist op removes the run's handover
(`discard_run`); what failed runs leave behind (kept for a re-execution from the failed step) is
removed by `handover_retention_sensor` after METADATA_PIPELINES_HANDOVER_RETENTION_DAYS. So the
handover's storage does not grow with the number of runs.

Object storage credentials come from boto3's own chain (environment, shared files, instance or
workload role), never from run config.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
from pydantic import BaseModel, Field

from metadata_pipelines.catalog.prepared_batch import PreparedBatch, prepare_batch
from metadata_pipelines.extractors.errors import ExtractorError
from metadata_pipelines.models import ExtractionBatch
from metadata_pipelines.orchestration.abandoned_steps import close_abandoned
from metadata_pipelines.orchestration.dagster_api import IN_FLIGHT_STATUSES
from metadata_pipelines.orchestration.handover_errors import fail_step, local_failure, s3_failure
from metadata_pipelines.settings import get_settings

SUFFIX = ".json.gz"
# gzip level 1: five to ten times smaller than the JSON, at a fraction of level 6's CPU time.
COMPRESS_LEVEL = 1


class HandoverStore(ABC):
    """Where handed-over outputs live: keys are `<run id>/<step>/<output>[/<batch>].json.gz`.

    `write` and `read` raise a transient or permanent `ExtractorError` (handover_errors.py)."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def read(self, key: str) -> bytes: ...

    @abstractmethod
    def remove_run(self, run_id: str) -> int:
        """Remove everything a run handed over; returns how many objects went."""

    @abstractmethod
    def runs_older_than(self, cutoff: datetime) -> list[str]:
        """Runs whose newest handed-over object was written before `cutoff`."""


class LocalStore(HandoverStore):
    """A directory (on one machine, or a shared volume every step can read)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, key: str, data: bytes) -> None:
        try:
            self._write(self.root / key, data)
        except OSError as error:
            raise local_failure(error, "handover write") from None

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a reader never sees half a batch.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as error:
            raise local_failure(error, "handover read") from None

    def remove_run(self, run_id: str) -> int:
        path = self.root / run_id
        if not path.is_dir():
            return 0
        count = sum(1 for item in path.rglob("*") if item.is_file())
        shutil.rmtree(path, ignore_errors=True)
        return count

    def runs_older_than(self, cutoff: datetime) -> list[str]:
        limit = cutoff.timestamp()
        old = []
        for run_dir in self._run_dirs():
            newest = max(
                (item.stat().st_mtime for item in run_dir.rglob("*")),
                default=run_dir.stat().st_mtime,
            )
            if newest < limit:
                old.append(run_dir.name)
        return old

    def _run_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [path for path in self.root.iterdir() if path.is_dir()]


class S3Store(HandoverStore):
    """A bucket and prefix on S3 or any S3-compatible object storage (MinIO, Ceph, R2, ...)."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None = None) -> None:
        # Imported here: every run's process loads this module, and boto3 is an eighth of the
        # code location's import time (docs/scaling.md, a thousand sources a day).
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url)

    def write(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except Exception as error:
            raise s3_failure(error, f"handover write to s3://{self.bucket}/{self.prefix}") from None

    def read(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            return answer["Body"].read()
        except Exception as error:
            raise s3_failure(
                error, f"handover read from s3://{self.bucket}/{self.prefix}"
            ) from None

    def remove_run(self, run_id: str) -> int:
        keys = [item["Key"] for item in self._objects(f"{self.prefix}{run_id}/")]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]]},
            )
        return len(keys)

    def runs_older_than(self, cutoff: datetime) -> list[str]:
        newest: dict[str, datetime] = {}
        for item in self._objects(self.prefix):
            run_id = item["Key"][len(self.prefix) :].split("/", 1)[0]
            newest[run_id] = max(newest.get(run_id, item["LastModified"]), item["LastModified"])
        return [run_id for run_id, written in newest.items() if written < cutoff]

    def _objects(self, prefix: str) -> Iterable[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            yield from page.get("Contents", [])


@cache
def open_store(url: str, s3_endpoint_url: str | None = None) -> HandoverStore:
    """The store at `url`: `s3://bucket[/prefix]`, or a local directory (path or file:// URL)."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"handover URL {url!r} names no bucket (s3://bucket/prefix)")
        return S3Store(parsed.netloc, parsed.path, s3_endpoint_url)
    if parsed.scheme in ("", "file"):
        return LocalStore(Path(parsed.path if parsed.scheme else url).expanduser())
    raise ValueError(f"handover URL {url!r}: use a directory or s3://bucket/prefix")


def encode(model: BaseModel) -> bytes:
    """Fields left at their default are left out: 40% less JSON for a batch of flat columns (no
    `children`, no `properties`), and loading it skips their validators (measured: 20% less CPU)."""
    return gzip.compress(
        model.model_dump_json(exclude_defaults=True).encode(),
        compresslevel=COMPRESS_LEVEL,
        mtime=0,
    )


@dataclass(frozen=True)
class StagedBatch:
    """A batch waiting in the handover: read when persistence reaches it, not when loaded."""

    store: HandoverStore
    key: str
    run_id: str

    def read(self) -> PreparedBatch:
        return PreparedBatch.model_validate_json(gzip.decompress(self.store.read(self.key)))


class HandoverIOManager(dg.ConfigurableIOManager):
    """Stores each op output of a run as gzipped JSON in a directory or an S3 bucket."""

    url: str = Field(description="a directory, or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, Ceph); unset for AWS"
    )

    def store(self) -> HandoverStore:
        return open_store(self.url, self.s3_endpoint_url)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        try:
            self._store_output(context, obj)
        except BaseException:
            close_abandoned(context)  # Dagster fails the step without closing the op
            raise

    def _store_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if not isinstance(obj, BaseModel):
            raise TypeError(
                f"the handover stores pydantic models; output {context.name!r} is a "
                f"{type(obj).__name__}"
            )
        data = encode(prepare_batch(obj) if isinstance(obj, ExtractionBatch) else obj)
        try:
            self.store().write(_key(context), data)
        except ExtractorError as error:
            fail_step(context, error)
        context.add_output_metadata({"handover_bytes": len(data)})

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        assert upstream is not None
        model = upstream.dagster_type.typing_type
        key = _key(upstream)
        if model is ExtractionBatch:
            return StagedBatch(self.store(), key, upstream.get_identifier()[0])
        try:
            data = self.store().read(key)
        except ExtractorError as error:
            fail_step(context, error)
        return model.model_validate_json(gzip.decompress(data))


def _key(context: dg.OutputContext) -> str:
    return "/".join(context.get_identifier()) + SUFFIX


def handover_io_manager() -> HandoverIOManager:
    """The handover of this deployment, from the settings."""
    settings = get_settings()
    return HandoverIOManager(
        url=settings.handover_location(), s3_endpoint_url=settings.handover_s3_endpoint_url
    )


def prune_handovers(
    store: HandoverStore, instance: dg.DagsterInstance, retention: timedelta
) -> list[str]:
    """Remove the handovers of runs not in flight whose newest object is older than `retention`;
    returns their run ids. A run still queued or going keeps its handover whatever its age."""
    old = store.runs_older_than(datetime.now(UTC) - retention)
    if not old:
        return []
    in_flight = {
        run.run_id
        for run in instance.get_runs(
            filters=dg.RunsFilter(run_ids=old, statuses=list(IN_FLIGHT_STATUSES))
        )
    }
    pruned = [run_id for run_id in old if run_id not in in_flight]
    for run_id in pruned:
        store.remove_run(run_id)
    return pruned


RETENTION_CHECK_SECONDS = 3600


@dg.sensor(
    name="handover_retention_sensor",
    minimum_interval_seconds=RETENTION_CHECK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Removes what failed runs left in the handover (extracted batches kept for a re-execution) "
        "once older than METADATA_PIPELINES_HANDOVER_RETENTION_DAYS."
    ),
)
def handover_retention_sensor(
    context: dg.SensorEvaluationContext, io_manager: HandoverIOManager
) -> dg.SkipReason:
    started = time.monotonic()
    days = get_settings().handover_retention_days
    retention = timedelta(days=days)
    pruned = prune_handovers(io_manager.store(), context.instance, retention)
    if pruned:
        context.log.info(f"removed the handover of {len(pruned)} run(s): {', '.join(pruned[:20])}")
    return dg.SkipReason(
        f"{len(pruned)} run handover(s) older than {days:g} day(s) removed "
        f"in {time.monotonic() - started:.1f} s"
    )
