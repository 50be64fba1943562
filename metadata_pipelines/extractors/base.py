"""The contract every connector implements, and the typed config / credentials it is built from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from metadata_pipelines.extractors.errors import ConfigurationError, ExtractorError, scrub
from metadata_pipelines.models import AssetType, ExtractionBatch, ExtractionResult, utcnow


class ConnectorConfig(BaseModel):
    """Non-secret settings of a data source; stored as plain JSON in the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectorCredentials(BaseModel):
    """Secret settings of a data source; stored encrypted. Declare secret fields as `SecretStr`."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def secret_values(self) -> list[str]:
        return [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]


class NoCredentials(ConnectorCredentials):
    """For sources that need none (a local SQLite file)."""


def validation_message(what: str, error: ValidationError) -> str:
    """A one-line message that names each bad field and never echoes the input values."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "(root)"
        problems.append(f"{field}: {item['msg']}")
    return f"invalid {what}: " + "; ".join(problems)


ModelT = TypeVar("ModelT", bound=BaseModel)


def _parse(model: type[ModelT], value: Mapping[str, Any] | ModelT, what: str) -> ModelT:
    """`value` as a `model`, or a ConfigurationError naming each bad field (values never echoed)."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(dict(value))
    except ValidationError as error:
        raise ConfigurationError(validation_message(what, error)) from None


class BaseMetadataExtractor(ABC):
    """Reads metadata from one data source.

    Subclasses set `connector_type`, `config_model` and `credentials_model`, and implement
    `get_supported_asset_types`, `check_connection`, and `stream_metadata` or `extract_metadata`
    (each is built on the other). They know nothing of Dagster or the catalog database.

    Large sources implement `stream_metadata`: the sync persists each batch as it arrives, so memory
    is bounded by a batch (a database, a schema, or a few thousand tables), not by the source.

    Whole-source failures are raised as `ExtractorError` subclasses (permanent or transient); failures
    confined to one database, schema or table are returned in the errors of the result or batch.
    """

    connector_type: ClassVar[str]
    config_model: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    credentials_model: ClassVar[type[ConnectorCredentials]] = NoCredentials

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        base = BaseMetadataExtractor
        if cls.stream_metadata is base.stream_metadata and (
            cls.extract_metadata is base.extract_metadata
        ):
            # Only abstract intermediates may leave both out; checked when instantiated.
            cls._implements_extraction = False
        else:
            cls._implements_extraction = True

    _implements_extraction: ClassVar[bool] = False

    def __init__(
        self,
        config: Mapping[str, Any] | ConnectorConfig,
        credentials: Mapping[str, Any] | ConnectorCredentials | None = None,
    ) -> None:
        if not self._implements_extraction:
            raise TypeError(
                f"{type(self).__name__} must implement stream_metadata or extract_metadata"
            )
        self.config = self.parse_config(config)
        self.credentials = self.parse_credentials(credentials or {})

    @classmethod
    def parse_config(cls, config: Mapping[str, Any] | ConnectorConfig) -> Any:
        return _parse(cls.config_model, config, f"{cls.connector_type} config")

    @classmethod
    def parse_credentials(cls, credentials: Mapping[str, Any] | ConnectorCredentials) -> Any:
        return _parse(cls.credentials_model, credentials, f"{cls.connector_type} credentials")

    @abstractmethod
    def get_supported_asset_types(self) -> list[AssetType]:
        """The asset types this connector can produce."""

    @abstractmethod
    async def check_connection(self) -> None:
        """Connect and authenticate, raising a classified `ExtractorError` when that fails."""

    async def extract_metadata(self) -> ExtractionResult:
        """Read all metadata in scope; scoped failures go into the result's errors.

        The seed's contract. By default every batch of `stream_metadata`, gathered.
        """
        started = utcnow()
        batches = [batch async for batch in self.stream_metadata()]
        return ExtractionResult.from_batches(self.connector_type, started, batches)

    async def stream_metadata(self) -> AsyncIterator[ExtractionBatch]:
        """Read all metadata in scope as a sequence of self-contained batches.

        A table never spans two batches. By default one batch of what `extract_metadata` returns.
        """
        result = await self.extract_metadata()
        yield result.as_batch()

    async def test_connection(self) -> tuple[bool, str | None]:
        """The seed's contract: (True, None) when the source answers, else (False, a message)."""
        try:
            await self.check_connection()
        except ExtractorError as error:
            return False, self.safe_message(error)
        return True, None

    def secret_values(self) -> list[str]:
        return self.credentials.secret_values()

    def usage(self) -> dict[str, int]:
        """What the last check or extraction sent to the source or cost there (requests, bytes,
        statements), for the run's stats and metrics; empty for a connector that does not count."""
        return {}

    def safe_message(self, error: BaseException) -> str:
        """The error's message with every credential value removed."""
        return scrub(str(error), self.secret_values())
