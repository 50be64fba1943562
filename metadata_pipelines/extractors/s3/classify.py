"""botocore errors as the connector's error classes, with a message that names the fix."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from metadata_pipelines.extractors.errors import (
    AuthenticationError,
    ConfigurationError,
    ExtractorError,
    PrivilegeError,
    SourceResponseError,
    SourceTimeoutError,
    SourceUnavailableError,
    ThrottledError,
)

_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
}
_DENIED = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "Forbidden", "403"}
_MISSING = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"}
_REDIRECT = {
    "PermanentRedirect",
    "301",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_missing(error: BaseException) -> bool:
    return error_code(error) in _MISSING


def is_denied(error: BaseException) -> bool:
    return error_code(error) in _DENIED


def classify(error: BaseException, what: str) -> ExtractorError:
    """The ExtractorError for a boto3 failure while doing `what`."""
    code = error_code(error)
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message") or code
        if code in _BAD_CREDENTIALS:
            return AuthenticationError(
                f"{what}: S3 rejected the credentials ({code}: {message}); check "
                "access_key_id / secret_access_key (and session_token, which expires)"
            )
        if code in _REDIRECT:
            region = error.response.get("Error", {}).get("Region") or error.response.get(
                "ResponseMetadata", {}
            ).get("HTTPHeaders", {}).get("x-amz-bucket-region")
            hint = f"set region to {region!r}" if region else "set region to the bucket's region"
            return ConfigurationError(f"{what}: the bucket is in another region ({code}); {hint}")
        if code in _DENIED:
            return PrivilegeError(
                f"{what}: access denied ({message}); the connector needs s3:ListBucket, "
                "s3:GetObject, s3:GetBucketLocation and s3:GetBucketTagging"
            )
        if code in _THROTTLED:
            return ThrottledError(f"{what}: S3 is throttling requests ({code}) after retries")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500:
            return SourceUnavailableError(f"{what}: S3 answered {status} ({code}) after retries")
        return SourceResponseError(f"{what}: {code}: {message}")
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return AuthenticationError(
            f"{what}: no AWS credentials found; store access_key_id / secret_access_key, or give "
            "the worker an environment, profile or instance role"
        )
    if isinstance(error, ParamValidationError):
        return ConfigurationError(f"{what}: {error}")
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return SourceTimeoutError(f"{what}: S3 did not answer in time ({error})")
    if isinstance(error, EndpointConnectionError | BotoCoreError | OSError):
        return SourceUnavailableError(f"{what}: S3 endpoint unreachable ({error})")
    return SourceResponseError(f"{what}: {type(error).__name__}: {error}")
