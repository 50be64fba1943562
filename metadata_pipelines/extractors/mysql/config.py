"""Settings of a MySQL / MariaDB data source, validated before anything connects.

Patterns are Python regular expressions matched against the whole name (`re.fullmatch`), so
`sales` selects the database `sales` and not `sales_archive`; write `sales.*` for both. Table
patterns apply to tables and views alike and are tried against both the bare name (`orders`) and the
qualified name (`shop.orders`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import Field, SecretStr, model_validator

from metadata_pipelines.extractors.base import ConnectorConfig, ConnectorCredentials
from metadata_pipelines.extractors.patterns import NameFilter, Patterns

SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})


class MySQLConfig(ConnectorConfig):
    """Where the server is, how to reach it, and which part of it to read."""

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 3306
    database: Annotated[str, Field(min_length=1)] | None = None
    ssl_enabled: bool = False
    ssl_ca: Annotated[str, Field(min_length=1)] | None = None
    ssl_verify: bool = True
    connection_timeout: Annotated[float, Field(gt=0, le=3600)] = 30
    read_timeout: Annotated[float, Field(gt=0, le=86400)] = 300
    include_databases: Patterns = Field(default_factory=list)
    exclude_databases: Patterns = Field(default_factory=list)
    include_tables: Patterns = Field(default_factory=list)
    exclude_tables: Patterns = Field(default_factory=list)
    include_views: bool = True
    include_statistics: bool = True
    include_routines: bool = True
    include_system_databases: bool = False
    #: Tables per batch handed over to persistence; a database of more is split.
    batch_tables: Annotated[int, Field(ge=1)] = 5000

    @model_validator(mode="after")
    def _consistent(self) -> MySQLConfig:
        if not self.ssl_enabled and (self.ssl_ca is not None or not self.ssl_verify):
            raise ValueError("ssl_ca and ssl_verify only apply when ssl_enabled is true")
        if self.database is not None and (self.include_databases or self.exclude_databases):
            raise ValueError(
                "database reads exactly one database; leave include_databases and "
                "exclude_databases empty when it is set"
            )
        return self

    @cached_property
    def _database_filter(self) -> NameFilter:
        return NameFilter(self.include_databases, self.exclude_databases)

    @cached_property
    def _table_filter(self) -> NameFilter:
        return NameFilter(self.include_tables, self.exclude_tables)

    def wants_database(self, name: str) -> bool:
        """Whether a database the server lists is in scope for this source."""
        if self.database is not None:
            return name == self.database
        if name.lower() in SYSTEM_DATABASES and not self.include_system_databases:
            return False
        return self._database_filter.allows(name)

    def wants_table(self, database: str, name: str) -> bool:
        """Whether a table or view is in scope (views also need `include_views`)."""
        return self._table_filter.allows(name, f"{database}.{name}")


class MySQLCredentials(ConnectorCredentials):
    """The account the connector logs in with; it needs only SELECT / SHOW VIEW on what it reads."""

    username: Annotated[str, Field(min_length=1)]
    password: SecretStr = SecretStr("")
