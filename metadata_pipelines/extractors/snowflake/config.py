"""Settings and credentials of a Snowflake data source, validated before anything connects.

Patterns are Python regular expressions matched against the whole name (`re.fullmatch`), as for every
connector: database patterns against `database`, schema patterns against `schema` and
`database.schema`, table patterns against `table`, `schema.table` and `database.schema.table`.
Snowflake stores unquoted identifiers in upper case, so patterns see `SALES`, not `sales`.

Credentials: user + password, key-pair (`SNOWFLAKE_JWT`: a PEM private key, optionally encrypted
with a passphrase) or an OAuth access token. The key is loaded (and its passphrase checked) here, so
a wrong passphrase is a configuration error before any login; its bytes never appear in a message.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pydantic import Field, SecretStr, model_validator

from metadata_pipelines.extractors.base import ConnectorConfig, ConnectorCredentials
from metadata_pipelines.extractors.hosts import is_loopback
from metadata_pipelines.extractors.patterns import NameFilter, Patterns

#: Account identifiers: `orgname-account_name`, or a legacy locator with region (`xy12345.eu-west-1`).
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
#: The schema every Snowflake database has; `include_information_schema` reads it.
INFORMATION_SCHEMA = "INFORMATION_SCHEMA"

PrivateKey = RSAPrivateKey | EllipticCurvePrivateKey


class SnowflakeConfig(ConnectorConfig):
    """Which account to read, as which role, and which part of it."""

    account: Annotated[str, Field(min_length=1, max_length=255)]
    host: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="Overrides `<account>.snowflakecomputing.com` (private link, tests).",
    )
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    protocol: Literal["https", "http"] = "https"
    role: Annotated[str, Field(min_length=1)] | None = None
    warehouse: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="Only needed when a database outgrows SHOW's 10,000-row limit: the "
        "INFORMATION_SCHEMA fallback runs on it.",
    )
    include_databases: Patterns = Field(default_factory=list)
    exclude_databases: Patterns = Field(default_factory=list)
    include_schemas: Patterns = Field(default_factory=list)
    exclude_schemas: Patterns = Field(default_factory=list)
    include_tables: Patterns = Field(default_factory=list)
    exclude_tables: Patterns = Field(default_factory=list)
    include_views: bool = True
    include_statistics: bool = True
    include_routines: bool = True
    include_stages: bool = False
    include_streams: bool = False
    include_shared_databases: bool = False
    include_information_schema: bool = False
    max_concurrent_databases: Annotated[int, Field(ge=1, le=32)] = 4
    login_timeout: Annotated[float, Field(ge=1, le=3600)] = 60
    network_timeout: Annotated[float, Field(ge=1, le=3600)] = 120
    query_timeout: Annotated[int, Field(ge=1, le=86400)] = 600

    @model_validator(mode="after")
    def _consistent(self) -> SnowflakeConfig:
        if not _ACCOUNT.fullmatch(self.account):
            raise ValueError("account must be an account identifier such as myorg-myaccount")
        if self.protocol == "http" and not is_loopback(self.host):
            raise ValueError("protocol http is only allowed for a loopback host")
        return self

    @cached_property
    def database_filter(self) -> NameFilter:
        return NameFilter(self.include_databases, self.exclude_databases)

    @cached_property
    def schema_filter(self) -> NameFilter:
        return NameFilter(self.include_schemas, self.exclude_schemas)

    @cached_property
    def table_filter(self) -> NameFilter:
        return NameFilter(self.include_tables, self.exclude_tables)

    def wants_schema(self, database: str, name: str) -> bool:
        if name.upper() == INFORMATION_SCHEMA and not self.include_information_schema:
            return False
        return self.schema_filter.allows(name, f"{database}.{name}")

    def wants_table(self, database: str, schema: str, name: str) -> bool:
        return self.table_filter.allows(name, f"{schema}.{name}", f"{database}.{schema}.{name}")


class SnowflakeCredentials(ConnectorCredentials):
    """A user with a password, a key pair or an OAuth token; `method` is inferred when left out."""

    method: Literal["password", "key_pair", "oauth"] | None = None
    user: Annotated[str, Field(min_length=1)] | None = None
    password: SecretStr | None = None
    private_key: SecretStr | None = Field(default=None, description="PEM (PKCS#8 or PKCS#1)")
    private_key_passphrase: SecretStr | None = None
    token: SecretStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SnowflakeCredentials:
        given = {
            name
            for name in ("password", "private_key", "token")
            if (value := getattr(self, name)) is not None and value.get_secret_value()
        }
        if self.method is None:
            inferred = {"password": "password", "private_key": "key_pair", "token": "oauth"}
            if len(given) != 1:
                raise ValueError("give exactly one of password, private_key or token")
            object.__setattr__(self, "method", inferred[next(iter(given))])
        needed = {"password": "password", "key_pair": "private_key", "oauth": "token"}[self.method]
        if needed not in given:
            raise ValueError(f"method {self.method!r} needs {needed}")
        if given - {needed}:
            raise ValueError(f"method {self.method!r} takes only {needed}")
        if self.method != "oauth" and not self.user:
            raise ValueError(f"method {self.method!r} needs user")
        if self.private_key_passphrase is not None and self.method != "key_pair":
            raise ValueError("private_key_passphrase only applies to method 'key_pair'")
        if self.method == "key_pair":
            self.key  # noqa: B018 (loads the key: a bad PEM or passphrase fails here)
        return self

    @cached_property
    def key(self) -> PrivateKey:
        """The private key, decrypted; its text and passphrase are never echoed."""
        assert self.private_key is not None
        passphrase = self.private_key_passphrase
        secret = passphrase.get_secret_value().encode() if passphrase else None
        try:
            key = serialization.load_pem_private_key(
                self.private_key.get_secret_value().strip().encode(), password=secret
            )
        except TypeError:
            if secret is None:
                raise ValueError("private_key is encrypted: give private_key_passphrase") from None
            raise ValueError(
                "private_key is not encrypted: leave out private_key_passphrase"
            ) from None
        except ValueError:
            raise ValueError(
                "private_key could not be loaded: not a PEM private key, or a wrong passphrase"
            ) from None
        if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
            raise ValueError("private_key must be an RSA or EC key")
        return key
