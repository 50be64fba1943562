"""BigQuery test servers: bqemulator in its own virtualenv, behind the REST front that fills its gaps.

The emulator's dependencies (DuckDB, sqlglot, FastAPI, ...) would clash with the project's, so it
gets a virtualenv of its own, built once from the pinned `bqemulator-requirements.txt` into a cache
directory named after that file's hash (`make bqemulator` does it ahead of the tests; the session
fixture does it when missing). One emulator runs per test session (it takes seconds to start); each
test gets a fresh front (`bigquery`) with no faults, and uses datasets of its own.

Run as `python -m metadata_pipelines_tests.support.bigquery_server` to build the virtualenv.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from metadata_pipelines_tests.fakes.bigquery_server import FakeBigQuery
from metadata_pipelines_tests.support.local_server import (
    LocalServer,
    free_port,
    running,
    unavailable,
)

HERE = Path(__file__).parent
REQUIREMENTS = HERE / "bqemulator-requirements.txt"
LAUNCHER = HERE / "bqemulator_launcher.py"
PROJECT = "test-proj"


def cache_root() -> Path:
    configured = os.environ.get("METADATA_PIPELINES_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "metadata-pipelines"
    return base


def emulator_env() -> Path:
    """The emulator's virtualenv, built (once, under a lock) from the pinned requirements."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    target = cache_root() / f"bqemulator-{digest}"
    python = target / "bin" / "python"
    done = target / ".complete"
    if done.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".bqemulator-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(target)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "-r", str(REQUIREMENTS)],
                check=True,
            )  # fmt: skip
            done.write_text(digest)
    return target


def _answers(url: str) -> bool:
    return requests.get(f"{url}/bigquery/v2/projects/{PROJECT}/datasets", timeout=2).ok


@pytest.fixture(scope="session")
def bqemulator() -> Iterator[str]:
    """A running bqemulator for the whole session; its base URL."""
    try:
        env = emulator_env()
    except (OSError, subprocess.CalledProcessError) as error:
        unavailable(f"the bqemulator virtualenv could not be built: {error}")
    rest_port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{rest_port}"
    server = LocalServer(
        name="bqemulator",
        command=[
            str(env / "bin" / "python"),
            str(LAUNCHER),
            "start",
            "--rest-port",
            str(rest_port),
            "--grpc-port",
            str(grpc_port),
            "--project",
            PROJECT,
            "--log-level",
            "warning",
        ],
        ready=lambda: _answers(url),
        startup_timeout=90,
    )
    with running(server):
        yield url


@pytest.fixture
def bigquery(bqemulator: str) -> Iterator[FakeBigQuery]:
    """The REST front on the session's emulator, fresh for each test; asserts it never drifted."""
    front = FakeBigQuery(upstream=bqemulator, projects=(PROJECT, "other-proj")).start()
    yield front
    front.stop()
    assert front.violations == []


@pytest.fixture
def dataset_prefix() -> str:
    """Datasets of one test share the emulator with the others: name them with this prefix."""
    return f"t{uuid.uuid4().hex[:8]}_"


if __name__ == "__main__":
    print(emulator_env())
