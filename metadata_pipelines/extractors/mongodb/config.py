"""MongoDB connector settings and credentials, validated before any connection is opened.

The connection string names the deployment (hosts or an SRV record, replica set, TLS and other
driver options) and never carries credentials: user name and password (SCRAM) or a client
certificate (X.509) are stored encrypted as credentials. Databases and collections are filtered by
include / exclude patterns (`re.fullmatch`; a collection pattern is tried against `coll` and
`db.coll`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from metadata_pipelines.extractors.base import ConnectorConfig, ConnectorCredentials
from metadata_pipelines.extractors.patterns import NameFilter, Patterns
from metadata_pipelines.models import MAX_FIELD_DEPTH

ReadPreference = Literal[
    "primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"
]
#: Options that carry a secret or a credential: they belong in the credentials, never in the URI.
_SECRET_OPTIONS = {"password", "tlscertificatekeyfilepassword", "authmechanismproperties"}
#: Options this config sets itself (from typed fields), so the URI must not set them too.
_OWN_OPTIONS = {"readpreference", "authsource", "authmechanism", "tlscertificatekeyfile"}
#: Databases MongoDB keeps for itself; read only with include_system.
SYSTEM_DATABASES = frozenset({"admin", "local", "config"})


class MongoDBConfig(ConnectorConfig):
    """Where the deployment is, what to read, and how much of each collection to sample."""

    connection_string: str = Field(
        description="mongodb:// or mongodb+srv:// URI without user name or password, e.g. "
        "'mongodb://db1:27017,db2:27017/?replicaSet=rs0&tls=true'."
    )
    auth_source: str | None = Field(
        default=None, description="Database holding the user (MongoDB's default: admin)."
    )
    read_preference: ReadPreference = "secondaryPreferred"
    include_databases: Patterns = Field(default_factory=list)
    exclude_databases: Patterns = Field(default_factory=list)
    include_collections: Patterns = Field(default_factory=list)
    exclude_collections: Patterns = Field(default_factory=list)
    include_system: bool = Field(
        default=False,
        description="Also read admin, local, config and system.* collections.",
    )
    schema_sample_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    sampling: Literal["newest", "random"] = Field(
        default="newest",
        description="'newest': the newest documents by _id (deterministic: an unchanged "
        "collection yields the same schema); 'random': $sample.",
    )
    sample_views: bool = Field(
        default=True, description="Infer a view's fields by sampling it (runs its pipeline)."
    )
    max_schema_fields: Annotated[int, Field(ge=1, le=100_000)] = 1000
    max_depth: Annotated[int, Field(ge=1, le=MAX_FIELD_DEPTH - 1)] = 15
    max_concurrent_collections: Annotated[int, Field(ge=1, le=64)] = 8
    batch_max_tables: Annotated[int, Field(ge=1, le=100_000)] = 500
    server_selection_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    socket_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 120.0
    sample_max_time_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0, description="maxTimeMS of each sampling aggregation."
    )

    @field_validator("connection_string")
    @classmethod
    def _check_uri(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in {"mongodb", "mongodb+srv"}:
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        hosts = parts.netloc
        if "@" in hosts:
            raise ValueError("must not carry a user name or password: store them as credentials")
        if not hosts:
            raise ValueError("names no host")
        if parts.scheme == "mongodb+srv" and ("," in hosts or ":" in hosts.rsplit("]", 1)[-1]):
            raise ValueError("mongodb+srv:// takes one host name without a port")
        for key, _ in parse_qsl(parts.query, keep_blank_values=True):
            option = unquote(key).lower()
            if option in _SECRET_OPTIONS:
                raise ValueError(f"option {key!r} holds a secret: store it as credentials")
            if option in _OWN_OPTIONS:
                raise ValueError(f"option {key!r} is set by its own config field, not the URI")
        return value

    @cached_property
    def database_filter(self) -> NameFilter:
        return NameFilter(self.include_databases, self.exclude_databases)

    @cached_property
    def collection_filter(self) -> NameFilter:
        return NameFilter(self.include_collections, self.exclude_collections)

    def wants_database(self, name: str) -> bool:
        if name in SYSTEM_DATABASES and not self.include_system:
            return False
        return self.database_filter.allows(name)

    def wants_collection(self, database: str, name: str) -> bool:
        if name.startswith("system.") and not self.include_system:
            return False
        return self.collection_filter.allows(name, f"{database}.{name}")


class MongoDBCredentials(ConnectorCredentials):
    """A user and password (SCRAM), a client certificate (X.509), or nothing."""

    username: str | None = None
    password: SecretStr | None = None
    auth_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-1", "MONGODB-X509"] | None = Field(
        default=None,
        description="Negotiated with the server when empty (SCRAM) or implied by a certificate.",
    )
    tls_certificate_key: SecretStr | None = Field(
        default=None, description="PEM client certificate followed by its private key (X.509)."
    )
    tls_certificate_key_password: SecretStr | None = None

    @model_validator(mode="after")
    def _one_method(self) -> MongoDBCredentials:
        has_password = bool(self.password and self.password.get_secret_value())
        certificate = self.tls_certificate_key
        has_certificate = bool(certificate and certificate.get_secret_value())
        if self.auth_mechanism == "MONGODB-X509" or has_certificate:
            if not has_certificate:
                raise ValueError("MONGODB-X509 needs tls_certificate_key (PEM certificate + key)")
            if has_password:
                raise ValueError("a password and a client certificate do not go together")
            if self.auth_mechanism not in (None, "MONGODB-X509"):
                raise ValueError("a client certificate authenticates with MONGODB-X509")
            pem = certificate.get_secret_value() if certificate else ""
            if "BEGIN CERTIFICATE" not in pem or "PRIVATE KEY" not in pem:
                raise ValueError(
                    "tls_certificate_key must hold a PEM certificate and its private key"
                )
            return self
        if bool(self.username) != has_password:
            raise ValueError("username and password go together")
        if self.tls_certificate_key_password is not None:
            raise ValueError("tls_certificate_key_password needs tls_certificate_key")
        return self

    @property
    def x509(self) -> bool:
        return self.tls_certificate_key is not None
