"""Settings of a PostgreSQL data source, validated before anything connects.

Patterns are Python regular expressions matched against the whole name (`re.fullmatch`), as for every
connector. Schema patterns are tried on `schema` and `database.schema`, table patterns on `table`,
`schema.table` and `database.schema.table`; they apply to tables, views, materialized views, foreign
tables and sequences alike.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from metadata_pipelines.extractors.base import ConnectorConfig, ConnectorCredentials
from metadata_pipelines.extractors.patterns import NameFilter, Patterns

#: Schemas that hold PostgreSQL itself rather than user data; `include_system_schemas` reads them.
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema"})
#: Prefixes of per-session and TOAST schemas (pg_toast, pg_temp_3, pg_toast_temp_3).
SYSTEM_SCHEMA_PREFIXES = ("pg_toast", "pg_temp_")

SslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]


class PostgreSQLConfig(ConnectorConfig):
    """Where the server is, how to reach it, and which part of it to read."""

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 5432
    database: Annotated[str, Field(min_length=1)] | None = None
    initial_database: Annotated[str, Field(min_length=1)] = "postgres"
    sslmode: SslMode = "prefer"
    sslrootcert: Annotated[str, Field(min_length=1)] | None = None
    connect_timeout: Annotated[float, Field(ge=1, le=3600)] = 30
    statement_timeout: Annotated[float, Field(gt=0, le=86400)] = 300
    lock_timeout: Annotated[float, Field(gt=0, le=86400)] = 10
    max_concurrent_databases: Annotated[int, Field(ge=1, le=64)] = 4
    batch_tables: Annotated[int, Field(ge=1)] = 5000
    include_databases: Patterns = Field(default_factory=list)
    exclude_databases: Patterns = Field(default_factory=list)
    include_schemas: Patterns = Field(default_factory=list)
    exclude_schemas: Patterns = Field(default_factory=list)
    include_tables: Patterns = Field(default_factory=list)
    exclude_tables: Patterns = Field(default_factory=list)
    include_views: bool = True
    include_statistics: bool = True
    include_routines: bool = True
    include_sequences: bool = True
    include_partitions: bool = False
    include_system_schemas: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> PostgreSQLConfig:
        if self.sslrootcert is not None and self.sslmode not in ("verify-ca", "verify-full"):
            raise ValueError("sslrootcert only applies when sslmode is verify-ca or verify-full")
        if self.database is not None and (self.include_databases or self.exclude_databases):
            raise ValueError(
                "database reads exactly one database; leave include_databases and "
                "exclude_databases empty when it is set"
            )
        return self

    @cached_property
    def _filters(self) -> dict[str, NameFilter]:
        return {
            kind: NameFilter(getattr(self, f"include_{kind}"), getattr(self, f"exclude_{kind}"))
            for kind in ("databases", "schemas", "tables")
        }

    def wants_database(self, name: str) -> bool:
        if self.database is not None:
            return name == self.database
        return self._filters["databases"].allows(name)

    def wants_schema(self, database: str, name: str) -> bool:
        if not self.include_system_schemas and is_system_schema(name):
            return False
        return self._filters["schemas"].allows(name, f"{database}.{name}")

    def wants_table(self, database: str, schema: str, name: str) -> bool:
        return self._filters["tables"].allows(
            name, f"{schema}.{name}", f"{database}.{schema}.{name}"
        )


def is_system_schema(name: str) -> bool:
    return name in SYSTEM_SCHEMAS or name.startswith(SYSTEM_SCHEMA_PREFIXES)


class PostgreSQLCredentials(ConnectorCredentials):
    """The role the connector logs in as: CONNECT on the databases is all it needs (see the docs)."""

    username: Annotated[str, Field(min_length=1)]
    password: SecretStr = SecretStr("")
