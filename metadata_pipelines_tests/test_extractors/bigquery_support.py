"""Shared helpers for the BigQuery tests: a client on the emulator, a sample dataset, keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from metadata_pipelines.extractors.bigquery import BigQueryExtractor
from metadata_pipelines_tests.fakes.bigquery_server import FakeBigQuery
from metadata_pipelines_tests.support.bigquery_server import PROJECT

T = TypeVar("T")
F = bigquery.SchemaField
FAST_RETRIES = {"retry_initial_delay_seconds": 0.01, "retry_deadline_seconds": 5}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def emulator_client(url: str) -> bigquery.Client:
    """A client straight on the emulator (set-up calls do not go through the front)."""
    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=url),
    )


def extractor(
    front: FakeBigQuery, prefix: str, credentials: Any = None, **config: Any
) -> BigQueryExtractor:
    settings = {
        "project_ids": [PROJECT],
        "api_endpoint": front.url,
        "include_datasets": [f"{prefix}.*"],
        **FAST_RETRIES,
        **config,
    }
    return BigQueryExtractor(
        settings, credentials if credentials is not None else {"method": "anonymous"}
    )


ORDERS_SCHEMA = [
    F("id", "INT64", mode="REQUIRED", description="Order id"),
    F(
        "customer",
        "RECORD",
        description="Who ordered",
        fields=[
            F("name", "STRING"),
            F(
                "addresses",
                "RECORD",
                mode="REPEATED",
                description="Where to deliver",
                fields=[
                    F("city", "STRING", description="City name"),
                    F("geo", "RECORD", fields=[F("lat", "FLOAT64"), F("lon", "FLOAT64")]),
                ],
            ),
        ],
    ),
    F("tags", "STRING", mode="REPEATED"),
    F("amount", "NUMERIC"),
    F("ordered_at", "TIMESTAMP"),
]


def populate(url: str, prefix: str) -> dict[str, str]:
    """Two datasets: `{prefix}sales` (nested, partitioned + clustered table, views, a UDF) and
    `{prefix}hr` (one flat table). Returns the dataset names."""
    client = emulator_client(url)
    sales, hr = f"{prefix}sales", f"{prefix}hr"
    dataset = bigquery.Dataset(f"{PROJECT}.{sales}")
    dataset.location = "US"
    dataset.description = "Sales data"
    dataset.labels = {"team": "sales"}
    dataset.default_table_expiration_ms = 30 * 86_400_000
    client.create_dataset(dataset)
    client.create_dataset(bigquery.Dataset(f"{PROJECT}.{hr}"))
    orders = bigquery.Table(f"{PROJECT}.{sales}.orders", schema=ORDERS_SCHEMA)
    orders.description = "All orders"
    orders.labels = {"pii": "yes"}
    orders.time_partitioning = bigquery.TimePartitioning(
        type_="DAY", field="ordered_at", expiration_ms=90 * 86_400_000
    )
    orders.clustering_fields = ["id"]
    client.create_table(orders)
    client.query_and_wait(
        f"CREATE VIEW `{PROJECT}.{sales}.big_orders` AS SELECT id, amount FROM "
        f"`{PROJECT}.{sales}.orders` WHERE amount > 100"
    )
    client.query_and_wait(
        f"CREATE FUNCTION `{PROJECT}.{sales}.double_it`(x INT64) RETURNS INT64 AS (x * 2)"
    )
    client.create_table(
        bigquery.Table(f"{PROJECT}.{hr}.people", schema=[F("id", "INT64"), F("name", "STRING")])
    )
    return {"sales": sales, "hr": hr}


def service_account_key(token_uri: str, email: str = "reader@test-proj.iam.gserviceaccount.com"):
    """A fresh service-account key: (its JSON text, its RSA private key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "k" + email.split("@")[0],
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    return json.dumps(info), key
