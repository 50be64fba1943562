"""Settings and credentials of a Kafka data source, validated before anything connects.

Topic patterns are Python regular expressions matched against the whole topic name
(`re.fullmatch`), as for every connector. Internal topics (`__consumer_offsets`,
`__transaction_state`, and by convention every name starting with `_`, such as `_schemas` or
`__amazon_msk_canary`) are left out unless `include_internal_topics` is on.

Credentials hold everything secret: the SASL user / password (PLAIN, SCRAM), the OAuth client id /
secret (OAUTHBEARER through OIDC client credentials), the TLS client key and its password, and the
Schema Registry's basic-auth user / password. `client_config` turns them into librdkafka and
SchemaRegistryClient settings; nothing here ever reaches a message.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from metadata_pipelines.extractors.base import ConnectorConfig, ConnectorCredentials
from metadata_pipelines.extractors.hosts import is_loopback
from metadata_pipelines.extractors.patterns import NameFilter, Patterns

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
SubjectNaming = Literal["topic-name", "record-name", "topic-record-name"]
#: Topics Kafka itself keeps; everything starting with "_" is treated as internal too.
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
_PEM = "-----BEGIN "


def _bootstrap(value: str) -> str:
    servers = [part.strip() for part in value.split(",") if part.strip()]
    if not servers:
        raise ValueError("bootstrap_servers needs at least one host:port")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{server!r} is not host:port")
        if "/" in server or "@" in server:
            raise ValueError(f"{server!r} is not host:port (no scheme, user or path)")
    return ",".join(servers)


class KafkaConfig(ConnectorConfig):
    """Which cluster to read, how to reach it, and where its schemas are."""

    bootstrap_servers: Annotated[str, Field(min_length=3)]
    cluster_name: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="The cluster's name in the catalog (the first part of every qualified name); "
        "the cluster id the brokers report when empty.",
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="Required with SASL_PLAINTEXT / SASL_SSL."
    )
    sasl_oauthbearer_token_endpoint_url: str | None = Field(
        default=None, description="OAUTHBEARER: the OIDC token endpoint (client credentials)."
    )
    sasl_oauthbearer_scope: str | None = None
    ssl_ca_pem: str | None = Field(
        default=None, description="PEM CA certificate(s) the brokers' certificates chain to."
    )
    ssl_certificate_pem: str | None = Field(
        default=None, description="PEM client certificate (mutual TLS); its key is a credential."
    )
    ssl_endpoint_identification: bool = Field(
        default=True, description="Check that a broker's certificate names its host."
    )
    include_topics: Patterns = Field(default_factory=list)
    exclude_topics: Patterns = Field(default_factory=list)
    include_internal_topics: bool = False
    include_consumer_groups: bool = True
    schema_registry_url: str | None = None
    schema_registry_ca_location: str | None = Field(
        default=None, description="A CA file or directory for the registry's TLS certificate."
    )
    subject_naming_strategy: SubjectNaming = "topic-name"
    sample_messages: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=0,
        description="Messages read per topic without a registered schema, to infer one (0: none).",
    )
    request_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    sample_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 10.0
    registry_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    registry_max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    max_concurrent_requests: Annotated[int, Field(ge=1, le=64)] = 8
    describe_configs_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    batch_max_tables: Annotated[int, Field(ge=1, le=100_000)] = 1000

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        return _bootstrap(value)

    @field_validator("ssl_ca_pem", "ssl_certificate_pem")
    @classmethod
    def _check_pem(cls, value: str | None) -> str | None:
        if value is not None and _PEM not in value:
            raise ValueError("must be PEM text (-----BEGIN CERTIFICATE-----), not a path")
        return value

    @field_validator("schema_registry_url", "sasl_oauthbearer_token_endpoint_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise ValueError("must be an absolute https URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError(
                "must not carry credentials (they go in the credentials), a query or a fragment"
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("must use https (plain http only for a loopback host)")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaConfig:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism is None:
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_mechanism")
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError("sasl_mechanism needs security_protocol SASL_PLAINTEXT or SASL_SSL")
        if self.sasl_mechanism == "OAUTHBEARER" and not self.sasl_oauthbearer_token_endpoint_url:
            raise ValueError("sasl_mechanism OAUTHBEARER needs sasl_oauthbearer_token_endpoint_url")
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        if not tls and (self.ssl_ca_pem or self.ssl_certificate_pem):
            raise ValueError(
                "ssl_ca_pem / ssl_certificate_pem need security_protocol SSL or SASL_SSL"
            )
        if self.subject_naming_strategy == "record-name" and self.sample_messages == 0:
            raise ValueError(
                "subject_naming_strategy record-name needs sample_messages >= 1: a record-name "
                "subject does not name its topic, so topics are matched to subjects by the schema "
                "ids of sampled messages"
            )
        if self.subject_naming_strategy != "topic-name" and not self.schema_registry_url:
            raise ValueError("subject_naming_strategy needs schema_registry_url")
        return self

    @cached_property
    def topic_filter(self) -> NameFilter:
        return NameFilter(self.include_topics, self.exclude_topics)

    def is_internal(self, topic: str) -> bool:
        return topic in INTERNAL_TOPICS or topic.startswith("_")


class KafkaCredentials(ConnectorCredentials):
    """SASL, OAuth client, TLS client key and registry credentials; all optional."""

    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    ssl_key_pem: SecretStr | None = None
    ssl_key_password: SecretStr | None = None
    schema_registry_username: str | None = None
    schema_registry_password: SecretStr | None = None

    @model_validator(mode="after")
    def _pairs(self) -> KafkaCredentials:
        if bool(self.sasl_username) != bool(self.sasl_password):
            raise ValueError("sasl_username and sasl_password go together")
        if bool(self.oauth_client_id) != bool(self.oauth_client_secret):
            raise ValueError("oauth_client_id and oauth_client_secret go together")
        if bool(self.schema_registry_username) != bool(self.schema_registry_password):
            raise ValueError("schema_registry_username and schema_registry_password go together")
        if self.ssl_key_password and not self.ssl_key_pem:
            raise ValueError("ssl_key_password needs ssl_key_pem")
        if self.ssl_key_pem and _PEM not in self.ssl_key_pem.get_secret_value():
            raise ValueError("ssl_key_pem must be PEM text (-----BEGIN ... PRIVATE KEY-----)")
        return self


def client_config(config: KafkaConfig, credentials: KafkaCredentials) -> dict[str, Any]:
    """librdkafka settings for the AdminClient and the sampling consumer (secrets included: never
    log this dict)."""
    settings: dict[str, Any] = {
        "bootstrap.servers": config.bootstrap_servers,
        "security.protocol": config.security_protocol,
        "socket.timeout.ms": int(config.request_timeout_seconds * 1000),
        "socket.connection.setup.timeout.ms": int(config.request_timeout_seconds * 1000),
        # One bootstrap attempt per sync: librdkafka would otherwise reconnect forever.
        "reconnect.backoff.max.ms": 2000,
        "client.id": "metadata-pipelines",
        "log_level": 3,
    }
    if config.sasl_mechanism:
        settings["sasl.mechanism"] = config.sasl_mechanism
        if config.sasl_mechanism == "OAUTHBEARER":
            if not (credentials.oauth_client_id and credentials.oauth_client_secret):
                raise ValueError(
                    "sasl_mechanism OAUTHBEARER needs oauth_client_id / oauth_client_secret"
                )
            settings["sasl.oauthbearer.method"] = "oidc"
            settings["sasl.oauthbearer.token.endpoint.url"] = (
                config.sasl_oauthbearer_token_endpoint_url
            )
            settings["sasl.oauthbearer.client.id"] = credentials.oauth_client_id
            settings["sasl.oauthbearer.client.secret"] = (
                credentials.oauth_client_secret.get_secret_value()
            )
            if config.sasl_oauthbearer_scope:
                settings["sasl.oauthbearer.scope"] = config.sasl_oauthbearer_scope
        else:
            if not (credentials.sasl_username and credentials.sasl_password):
                raise ValueError(
                    f"sasl_mechanism {config.sasl_mechanism} needs sasl_username / sasl_password"
                )
            settings["sasl.username"] = credentials.sasl_username
            settings["sasl.password"] = credentials.sasl_password.get_secret_value()
    if config.security_protocol in ("SSL", "SASL_SSL"):
        settings["ssl.endpoint.identification.algorithm"] = (
            "https" if config.ssl_endpoint_identification else "none"
        )
        if config.ssl_ca_pem:
            settings["ssl.ca.pem"] = config.ssl_ca_pem
        if config.ssl_certificate_pem:
            settings["ssl.certificate.pem"] = config.ssl_certificate_pem
        if credentials.ssl_key_pem:
            settings["ssl.key.pem"] = credentials.ssl_key_pem.get_secret_value()
        if credentials.ssl_key_password:
            settings["ssl.key.password"] = credentials.ssl_key_password.get_secret_value()
    return settings


def registry_config(config: KafkaConfig, credentials: KafkaCredentials) -> dict[str, Any]:
    """SchemaRegistryClient settings (secrets included: never log this dict)."""
    settings: dict[str, Any] = {
        "url": config.schema_registry_url,
        "timeout": config.registry_timeout_seconds,
        "max.retries": config.registry_max_retries,
        "retries.wait.ms": 200,
        "retries.max.wait.ms": 2000,
    }
    if config.schema_registry_ca_location:
        settings["ssl.ca.location"] = config.schema_registry_ca_location
    if credentials.schema_registry_username and credentials.schema_registry_password:
        password = credentials.schema_registry_password.get_secret_value()
        settings["basic.auth.user.info"] = f"{credentials.schema_registry_username}:{password}"
    return settings
