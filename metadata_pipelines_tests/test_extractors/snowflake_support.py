"""Shared helpers for the Snowflake tests: a sample account on fakesnow, key pairs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from metadata_pipelines.extractors.snowflake import SnowflakeExtractor
from metadata_pipelines_tests.fakes.snowflake_front import SnowflakeFront
from metadata_pipelines_tests.support.snowflake_server import run as run_sql
from metadata_pipelines_tests.support.snowflake_server import source_config

T = TypeVar("T")
PASSWORD = "S3cret-pass-7f1e"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def extractor(
    front: SnowflakeFront, prefix: str, credentials: Any = None, **config: Any
) -> SnowflakeExtractor:
    return SnowflakeExtractor(
        source_config(front, prefix, **config),
        credentials if credentials is not None else {"user": "READER", "password": PASSWORD},
    )


def populate(port: int, prefix: str) -> dict[str, str]:
    """Two databases: `{prefix}SALES` (keys, a view, a secure view, a transient table, odd names)
    and `{prefix}HR` (one table). Returns their names."""
    sales, hr = f"{prefix}SALES", f"{prefix}HR"
    run_sql(
        port,
        f"CREATE DATABASE {sales}",
        f"CREATE SCHEMA {sales}.CORE",
        f"CREATE TABLE {sales}.CORE.CUSTOMERS (ID NUMBER(38,0) PRIMARY KEY, "
        "EMAIL VARCHAR(200) NOT NULL, NAME VARCHAR(50) DEFAULT 'anonymous')",
        f"CREATE TABLE {sales}.CORE.ORDERS (ID INT PRIMARY KEY, CUSTOMER_ID INT, "
        "TOTAL NUMBER(10,2), PLACED TIMESTAMP_NTZ, PAID BOOLEAN, PAYLOAD VARIANT, "
        "TAGS MAP(VARCHAR, VARCHAR), RATE FLOAT, DAY DATE)",
        f"CREATE TRANSIENT TABLE {sales}.CORE.STAGING (X INT)",
        f"CREATE VIEW {sales}.CORE.BIG_ORDERS AS SELECT ID, TOTAL FROM {sales}.CORE.ORDERS "
        "WHERE TOTAL > 100",
        f"CREATE SECURE VIEW {sales}.CORE.PRIVATE_ORDERS AS SELECT ID FROM {sales}.CORE.ORDERS",
        f'CREATE SCHEMA {sales}."Odd Schema"',
        f'CREATE TABLE {sales}."Odd Schema"."Mixed Case ü" ("Col A" INT, "naïve ""q"" col" '
        "VARCHAR(10))",
        f"CREATE DATABASE {hr}",
        f"CREATE SCHEMA {hr}.STAFF",
        f"CREATE TABLE {hr}.STAFF.PEOPLE (ID INT, NAME VARCHAR(100))",
    )
    return {"sales": sales, "hr": hr}


def key_pair(passphrase: str | None = None) -> tuple[str, rsa.RSAPrivateKey]:
    """A fresh RSA key: (its PKCS#8 PEM, encrypted when a passphrase is given; the key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()
    return pem, key
