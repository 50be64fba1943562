"""How the S3 connector finds and reaches buckets, against moto with IAM authentication on: bucket
discovery with include / exclude patterns, a role assumed through STS, a configured bucket that does
not exist."""

from __future__ import annotations

import asyncio
import json
import uuid

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
