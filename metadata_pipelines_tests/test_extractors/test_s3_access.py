"""How the S3 connector finds and reaches buckets, against moto with IAM authentication on: bucket
discovery with include / exclude patterns, a role assumed through STS, a configured bucket that does
not exist, S3 throttling (503 SlowDown) injected by a proxy in front of moto."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from metadata_pipelines.extractors.errors import TransientExtractorError
from metadata_pipelines.extractors.s3 import S3Extractor
from metadata_pipelines.models import ExtractionResult, ExtractionStatus, Severity
from metadata_pipelines_tests.test_extractors.s3_support import jsonl_bytes, put

DATA = {"d/a.jsonl": jsonl_bytes([{"a": 1}])}


def extract(server, credentials, **config) -> ExtractionResult:
    return asyncio.run(S3Extractor(server.config(**config), credentials).extract_metadata())


def test_every_listed_bucket_is_read_within_the_include_and_exclude_patterns(s3_server):
    client = s3_server.client()
    tag = uuid.uuid4().hex[:8]
    names = [f"disc-{tag}-a", f"disc-{tag}-b", f"disc-{tag}-skip"]
    for name in names:
        client.create_bucket(Bucket=name)
        put(client, name, DATA)
    result = extract(
        s3_server,
        s3_server.admin.as_credentials(),
        include_buckets=[f"disc-{tag}-.*"],
        exclude_buckets=[".*-skip"],
    )
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    assert sorted(d.name for d in result.databases) == names[:2]
    assert sorted(t.database for t in result.tables) == names[:2]


def test_a_role_is_assumed_through_sts(s3_server):
    """The user may only assume the role; the role may read S3. Without role_arn the same keys are
    denied, so the data can only have come through the assumed role."""
    client = s3_server.client()
    bucket = f"role-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    put(client, bucket, DATA)
    iam = s3_server.client(service="iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(
        RoleName=f"reader-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    keys = s3_server.user(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}],
        }
    )

    denied = extract(s3_server, keys.as_credentials(), buckets=[bucket])
    assert denied.status is not ExtractionStatus.SUCCESS

    assumed = extract(
        s3_server, keys.as_credentials() | {"role_arn": role["Arn"]}, buckets=[bucket]
    )
    assert assumed.status is ExtractionStatus.SUCCESS, assumed.errors
    assert [t.name for t in assumed.tables] == ["d/"]


def test_a_configured_bucket_that_does_not_exist_is_a_warning(s3_server):
    client = s3_server.client()
    present = f"here-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=present)
    put(client, present, DATA)
    missing = f"gone-{uuid.uuid4().hex[:8]}"
    result = extract(s3_server, s3_server.admin.as_credentials(), buckets=[present, missing])
    assert [t.database for t in result.tables] == [present]
    [vanished] = [e for e in result.errors if e.code == "vanished"]
    assert vanished.severity is Severity.WARNING and vanished.scope == (missing,)
    assert missing in vanished.message
    assert result.status is not ExtractionStatus.FAILED


class ThrottlingProxy:
    """A proxy in front of moto that answers the first `throttled` GetObject requests with S3's
    503 SlowDown and forwards everything else unchanged (Host header kept: SigV4 signs it)."""

    def __init__(self, upstream: str, throttled: int) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.throttled = throttled
        self.refused = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    throttle = (
                        self.command == "GET" and "Range" in self.headers and proxy.throttled > 0
                    )
                    if throttle:
                        proxy.throttled -= 1
                        proxy.refused += 1
                    else:
                        proxy.forwarded += 1
                if throttle:
                    error = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def test_slow_down_answers_are_retried_with_backoff(s3_server):
    """Three SlowDown (503) answers to the reads of a dataset: botocore's retries absorb them and
    the sync succeeds with the schema; with one attempt allowed the file is reported, not lost."""
    client = s3_server.client()
    bucket = f"slow-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    put(client, bucket, DATA)
    with ThrottlingProxy(s3_server.endpoint_url, throttled=3) as proxy:
        config = s3_server.config(buckets=[bucket]) | {"endpoint_url": proxy.url}
        result = asyncio.run(
            S3Extractor(config, s3_server.admin.as_credentials()).extract_metadata()
        )
    assert result.status is ExtractionStatus.SUCCESS, result.errors
    [table] = result.tables
    assert [c.name for c in table.columns] == ["a"]
    assert proxy.refused == 3

    with ThrottlingProxy(s3_server.endpoint_url, throttled=3) as proxy:
        config = s3_server.config(buckets=[bucket], max_attempts=1) | {"endpoint_url": proxy.url}
        extractor = S3Extractor(config, s3_server.admin.as_credentials())
        with pytest.raises(TransientExtractorError, match="SlowDown"):
            asyncio.run(extractor.extract_metadata())
    assert proxy.refused == 1
