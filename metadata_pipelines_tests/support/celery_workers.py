"""RabbitMQ and Celery step workers for the Celery executor's tests.

`rabbitmq_broker`: a private virtual host and user on the machine's RabbitMQ (127.0.0.1:5672), made
with `rabbitmqctl` and deleted afterwards, so parallel test runs never share a queue; the user's
password is a canary the tests look for where it must not be. `celery_workers` starts step workers
(`celery -A metadata_pipelines.orchestration.celery_app worker`, as docs/scaling.md deploys them),
each in its own process group, and stops them all, so no worker outlives the test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from metadata_pipelines_tests.support.local_server import LocalServer, port_open, unavailable

RABBITMQ_PORT = 5672
BIN = Path(sys.executable).parent
APP = "metadata_pipelines.orchestration.celery_app"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Broker:
    url: str
    vhost: str
    password: str


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(
        ["rabbitmqctl", "--quiet", *args], check=True, capture_output=True, text=True, timeout=60
    )


@contextmanager
def private_vhost() -> Iterator[Broker]:
    """A virtual host and a user of its own on the shared RabbitMQ, removed on the way out."""
    if not port_open(RABBITMQ_PORT):
        unavailable(
            "RabbitMQ is not answering on 127.0.0.1:5672 (start it: rabbitmq-server -detached)"
        )
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is not installed (it makes each test run's private vhost)")
    name = f"mp-test-{uuid.uuid4().hex[:10]}"
    password = f"broker-canary-{uuid.uuid4().hex}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("add_user", name, password)
        _rabbitmqctl("set_permissions", "-p", name, name, ".*", ".*", ".*")
        yield Broker(f"pyamqp://{name}:{password}@127.0.0.1:{RABBITMQ_PORT}/{name}", name, password)
    finally:
        _rabbitmqctl("delete_vhost", name)
        subprocess.run(["rabbitmqctl", "--quiet", "delete_user", name], capture_output=True)


@pytest.fixture
def rabbitmq_broker() -> Iterator[Broker]:
    with private_vhost() as broker:
        yield broker


def _answers(app, worker: str) -> bool:
    return any(worker in reply for reply in app.control.ping(destination=[worker], timeout=1))


@contextmanager
def celery_workers(count: int, broker_url: str, env: Mapping[str, str]) -> Iterator[list[str]]:
    """`count` step workers, one task at a time each, on `broker_url`, with `env` on top of this
    process's environment; yields their names (as Celery reports them in `request.hostname`).
    All are stopped on the way out; a worker that does not stop is killed."""
    from celery import Celery

    app = Celery(broker=broker_url)
    names = [f"step-worker-{index}-{uuid.uuid4().hex[:6]}@localhost" for index in range(count)]
    with ExitStack() as stack:
        stack.callback(app.close)
        for name in names:
            worker = LocalServer(
                name=f"celery worker {name}",
                command=[
                    str(BIN / "celery"),
                    "-A",
                    APP,
                    "worker",
                    "-Q",
                    "dagster",
                    "-c",
                    "1",
                    "--prefetch-multiplier=1",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    name,
                    "--loglevel=INFO",
                ],
                ready=lambda name=name: _answers(app, name),
                env=dict(env),
                cwd=REPO_ROOT,
                startup_timeout=120,
            )
            stack.callback(worker.log_path.unlink, missing_ok=True)
            stack.callback(worker.stop, timeout=30)
            worker.start()
        yield names
