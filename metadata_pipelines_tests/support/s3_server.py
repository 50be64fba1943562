"""moto in server mode on loopback, with IAM authentication on, for the S3 connector's tests.

The server authenticates every request after its first three (INITIAL_NO_AUTH_ACTION_COUNT=3): those
create an admin user, its policy and its access key, so every later request is signed and checked
the way S3 checks it (unknown keys and wrong secrets are rejected, IAM policies deny). `S3Server.user`
makes further users with a given policy.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from metadata_pipelines_tests.support.local_server import LocalServer, free_port, port_open, running

REGION = "us-east-1"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str

    def as_credentials(self) -> dict[str, str]:
        return {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key}


@dataclass
class S3Server:
    endpoint_url: str
    admin: Keys

    def client(self, keys: Keys | None = None, service: str = "s3") -> Any:
        keys = keys or self.admin
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            config=Config(retries={"max_attempts": 1}),
        )

    def user(self, policy: dict[str, Any]) -> Keys:
        """A new IAM user whose only policy is `policy`, and its access key."""
        iam = self.client(service="iam")
        name = f"user-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])

    def config(self, **settings: Any) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint_url, "region": REGION, **settings}


def _moto_command(port: int) -> list[str]:
    script = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    return [script or "moto_server", "-H", "127.0.0.1", "-p", str(port)]


def _bootstrap(endpoint_url: str) -> Keys:
    """The three unauthenticated requests: an admin user with an allow-all policy and its key."""
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="AKIABOOTSTRAP0000000",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    return Keys(key["AccessKeyId"], key["SecretAccessKey"])


@contextmanager
def moto_server() -> Iterator[S3Server]:
    """A moto server with IAM on, stopped on the way out (also for benchmarks)."""
    port = free_port()
    server = LocalServer(
        name="moto_server",
        command=_moto_command(port),
        ready=lambda: port_open(port),
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "3", "AWS_DEFAULT_REGION": REGION},
    )
    with running(server):
        endpoint = f"http://127.0.0.1:{port}"
        yield S3Server(endpoint, _bootstrap(endpoint))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto server per session; tests use buckets of their own. Fails under CI, skips
    elsewhere, if it cannot start."""
    with moto_server() as server:
        yield server
