"""The Schema Registry side of a sync, through confluent-kafka's AsyncSchemaRegistryClient.

Subjects are listed once; only subjects that match a topic in scope are read (latest version, then
the subject's compatibility level, falling back to the global level read once), at most
`max_concurrent_requests` at a time; referenced schemas are read once per sync whatever number of
schemas name them. A topic whose subject is not in the listing costs no request at all. Every HTTP
request is counted (an httpx event hook on the client's own session), so the bench prints real
figures, cache hits excluded.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from confluent_kafka.schema_registry import AsyncSchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from metadata_pipelines.extractors.errors import ExtractorError
from metadata_pipelines.extractors.kafka.classify import registry_error
from metadata_pipelines.extractors.kafka.schemas import Reference

#: Confluent's error code for "this subject has no compatibility level of its own".
SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED = 40408
#: How deep references may chain before the schema is reported unreadable.
MAX_REFERENCE_DEPTH = 16


@dataclass
class SubjectSchema:
    """The latest version of a subject, with what the catalog records about it."""

    subject: str
    version: int
    schema_id: int
    schema_type: str
    schema: str
    compatibility: str | None
    references: list[Reference] = field(default_factory=list)
    reference_names: list[dict[str, Any]] = field(default_factory=list)


class RegistryReader:
    def __init__(self, settings: dict[str, Any], concurrency: int) -> None:
        self._client = AsyncSchemaRegistryClient(settings)
        self._session: httpx.AsyncClient = self._client._rest_client.session
        self.requests: Counter[str] = Counter()
        self._session.event_hooks["request"].append(self._count)
        self._limit = asyncio.Semaphore(concurrency)
        self._global_compatibility: asyncio.Task[str | None] | None = None
        self._versions: dict[tuple[str, int], asyncio.Task[Any]] = {}

    async def _count(self, request: httpx.Request) -> None:
        path = request.url.path.strip("/").split("/")
        self.requests[path[0] if path else ""] += 1

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    async def close(self) -> None:
        await self._client.aclose()

    async def _guarded(self, what: str, call: Any) -> Any:
        async with self._limit:
            try:
                return await call
            except ExtractorError:
                raise
            except Exception as error:  # SchemaRegistryError, httpx errors, bad JSON
                raise registry_error(error, what) from None

    async def subjects(self) -> set[str]:
        return set(await self._guarded("listing registry subjects", self._client.get_subjects()))

    async def _global(self) -> str | None:
        return await self._guarded(
            "reading the global compatibility level", self._client.get_compatibility()
        )

    async def compatibility(self, subject: str) -> str | None:
        """The subject's own level, else the global one (read once per sync)."""
        async with self._limit:
            try:
                return await self._client.get_compatibility(subject)
            except SchemaRegistryError as error:
                if error.error_code != SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED:
                    raise registry_error(error, f"reading compatibility of {subject}") from None
            except Exception as error:
                raise registry_error(error, f"reading compatibility of {subject}") from None
        if self._global_compatibility is None:
            self._global_compatibility = asyncio.ensure_future(self._global())
        return await self._global_compatibility

    async def latest(self, subject: str) -> SubjectSchema:
        registered = await self._guarded(
            f"reading subject {subject}", self._client.get_latest_version(subject)
        )
        compatibility = await self.compatibility(subject)
        schema = registered.schema
        references = [r for r in schema.references or ()]
        resolved = await self._resolve(references, 0)
        return SubjectSchema(
            subject=subject,
            version=registered.version,
            schema_id=registered.schema_id,
            schema_type=schema.schema_type or "AVRO",
            schema=schema.schema_str,
            compatibility=compatibility,
            references=resolved,
            reference_names=[
                {"name": r.name, "subject": r.subject, "version": r.version} for r in references
            ],
        )

    async def by_id(self, schema_id: int) -> tuple[str, str, list[Reference]]:
        schema = await self._guarded(
            f"reading schema id {schema_id}", self._client.get_schema(schema_id)
        )
        resolved = await self._resolve(list(schema.references or ()), 0)
        return schema.schema_type or "AVRO", schema.schema_str, resolved

    async def _resolve(self, references: list[Any], depth: int) -> list[Reference]:
        """Every schema the references name, transitively, dependencies first."""
        if depth > MAX_REFERENCE_DEPTH:
            raise registry_error(
                ValueError("references nest deeper than 16 levels"), "resolving references"
            )
        out: list[Reference] = []
        for reference in references:
            key = (reference.subject, reference.version)
            if key not in self._versions:
                self._versions[key] = asyncio.ensure_future(
                    self._guarded(
                        f"reading referenced subject {reference.subject} version {reference.version}",
                        self._client.get_version(reference.subject, reference.version),
                    )
                )
            registered = await self._versions[key]
            schema = registered.schema
            out += await self._resolve(list(schema.references or ()), depth + 1)
            out.append(Reference(reference.name, schema.schema_type or "AVRO", schema.schema_str))
        return out
