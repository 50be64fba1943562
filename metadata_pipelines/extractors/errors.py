"""Extractor errors, split by what the orchestrator should do with them.

Permanent errors (bad config, authentication, missing privilege, a source that answers nonsense) fail a
run at once: retrying cannot help. Transient errors (refused connections, timeouts, throttling, a server
that went away) are retried by the job's retry policy.
"""

from __future__ import annotations

import re
from typing import Any


class ExtractorError(Exception):
    """Base class; `retryable` tells the orchestrator whether another attempt can succeed."""

    retryable: bool = False
    code: str = "extractor_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PermanentExtractorError(ExtractorError):
    retryable = False
    code = "permanent"


class ConfigurationError(PermanentExtractorError):
    code = "invalid_config"


class AuthenticationError(PermanentExtractorError):
    code = "authentication_failed"


class PrivilegeError(PermanentExtractorError):
    code = "missing_privilege"


class SourceResponseError(PermanentExtractorError):
    """The source answered, but not with anything we can read (malformed JSON, unexpected shape)."""

    code = "malformed_response"


class UnknownConnectorError(ConfigurationError):
    code = "unknown_connector"


class TransientExtractorError(ExtractorError):
    retryable = True
    code = "transient"


class SourceUnavailableError(TransientExtractorError):
    """Refused or dropped connection, DNS failure, server gone away, HTTP 5xx."""

    code = "source_unavailable"


class SourceTimeoutError(TransientExtractorError):
    code = "timeout"


class ThrottledError(TransientExtractorError):
    code = "throttled"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: What the resolver says when a host name does not exist (glibc, macOS, musl); not "temporary
#: failure in name resolution", which is a resolver that could not answer and may heal.
_NAME_NOT_RESOLVED = re.compile(
    r"Name or service not known|nodename nor servname provided|"
    r"No address associated with hostname|Name does not resolve"
)


def name_not_resolved(text: str) -> bool:
    """Whether an error's text says a host name does not resolve: a configuration error (the MySQL
    manual lists it under client errors to fix, not to retry), so it fails at once."""
    return _NAME_NOT_RESOLVED.search(text) is not None


#: A secret shorter than this is replaced only where it stands alone, never inside a longer word:
#: replacing a short value blindly would mangle every name that happens to contain it.
WHOLE_WORD_BELOW = 8


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of a secret in `text`; used on messages that leave an extractor."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if len(secret) >= WHOLE_WORD_BELOW:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    return text


def string_values(value: Any) -> list[str]:
    """Every string inside a JSON-like value: the secrets to scrub, given decrypted credentials."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in string_values(item)]
    if isinstance(value, list):
        return [s for item in value for s in string_values(item)]
    return []
