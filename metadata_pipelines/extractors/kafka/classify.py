"""librdkafka and Schema Registry errors as the connector's error classes.

Kafka's own codes decide: authentication failures are permanent (retrying a wrong password only
locks the account), authorization failures are permanent privilege errors (or scoped to the topic
they name), and the broker-side conditions Kafka itself marks retriable (broker / leader not
available, request timed out, not controller) are transient, as are librdkafka's local transport
failures and timeouts.
"""

from __future__ import annotations

import httpx
from confluent_kafka import KafkaError
from confluent_kafka.schema_registry.error import SchemaRegistryError

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
    name_not_resolved,
)

ACLS_NEEDED = (
    "the connector's principal needs DESCRIBE on the cluster and the topics, DESCRIBE_CONFIGS on "
    "the topics, and DESCRIBE on the consumer groups"
)
_AUTHENTICATION = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
_AUTHORIZATION = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    KafkaError.DELEGATION_TOKEN_AUTHORIZATION_FAILED,
}
_TIMEOUT = {KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT_QUEUE}
_UNAVAILABLE = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_CONTROLLER,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError._WAIT_COORD,
    KafkaError._DESTROY,
}
_CONFIGURATION = {KafkaError._SSL, KafkaError._INVALID_ARG, KafkaError._UNKNOWN_PROTOCOL}


def is_authorization(error: KafkaError) -> bool:
    return error.code() in _AUTHORIZATION


def is_missing(error: KafkaError) -> bool:
    return error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)


def kafka_error(error: BaseException) -> KafkaError | None:
    """The KafkaError an exception carries (KafkaException wraps one in args[0])."""
    if isinstance(error, KafkaError):
        return error
    if error.args and isinstance(error.args[0], KafkaError):
        return error.args[0]
    return None


def classify(error: BaseException, what: str) -> ExtractorError:
    """The ExtractorError for a librdkafka failure while doing `what`."""
    if isinstance(error, ExtractorError):
        return error
    kerror = kafka_error(error)
    if kerror is None:
        return SourceResponseError(f"{what}: {type(error).__name__}: {error}")
    code, text = kerror.code(), f"{kerror.name()}: {kerror.str()}"
    if code in _AUTHENTICATION:
        return AuthenticationError(
            f"{what}: the brokers rejected the credentials ({text}); check sasl_mechanism, "
            "sasl_username / sasl_password (or the OAuth client, the TLS client certificate)"
        )
    if code in _AUTHORIZATION:
        return PrivilegeError(f"{what}: not authorized ({text}); {ACLS_NEEDED}")
    if code == KafkaError.THROTTLING_QUOTA_EXCEEDED:
        return ThrottledError(f"{what}: the cluster is throttling requests ({text})")
    if code in _CONFIGURATION:
        return ConfigurationError(f"{what}: {text}; check security_protocol and the TLS settings")
    if code == KafkaError._RESOLVE or name_not_resolved(text):
        if name_not_resolved(text):
            return ConfigurationError(f"{what}: a bootstrap server does not resolve ({text})")
        return SourceUnavailableError(f"{what}: name resolution failed ({text})")
    if code in _TIMEOUT:
        return SourceTimeoutError(f"{what}: the brokers did not answer in time ({text})")
    if code in _UNAVAILABLE or kerror.retriable():
        return SourceUnavailableError(f"{what}: brokers unavailable ({text})")
    return SourceResponseError(f"{what}: {text}")


def registry_error(error: BaseException, what: str) -> ExtractorError:
    """The ExtractorError for a Schema Registry failure while doing `what`."""
    if isinstance(error, SchemaRegistryError):
        status, code = error.http_status_code, error.error_code
        text = f"HTTP {status}, error_code {code}: {error.error_message}"
        if status == 401:
            return AuthenticationError(
                f"{what}: the Schema Registry rejected the credentials ({text}); check "
                "schema_registry_username / schema_registry_password"
            )
        if status == 403:
            return PrivilegeError(
                f"{what}: the Schema Registry denied access ({text}); the connector needs read "
                "access to the subjects (DeveloperRead on Confluent Cloud)"
            )
        if status == 429:
            return ThrottledError(f"{what}: the Schema Registry is throttling requests ({text})")
        if status >= 500 or status < 0:
            return SourceUnavailableError(f"{what}: the Schema Registry failed ({text})")
        return SourceResponseError(f"{what}: the Schema Registry answered {text}")
    if isinstance(error, httpx.TimeoutException):
        return SourceTimeoutError(f"{what}: the Schema Registry did not answer in time ({error})")
    if isinstance(error, httpx.TransportError | OSError):
        return SourceUnavailableError(f"{what}: the Schema Registry is unreachable ({error!r})")
    return SourceResponseError(
        f"{what}: the Schema Registry answered {type(error).__name__}: {error}"
    )
