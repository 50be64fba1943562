"""Settings of an SQLite data source, validated before anything opens the file.

Table patterns are Python regular expressions matched against the whole name (`re.fullmatch`), as
for the other connectors, and tried against both the bare name (`orders`) and the qualified name
(`main.orders`).
"""

from __future__ import annotations

from functools import cached_property

from pydantic import Field

from metadata_pipelines.extractors.base import ConnectorConfig
from metadata_pipelines.extractors.patterns import NameFilter, Patterns

DATABASE = "main"
DEFAULT_TIMEOUT = 5.0


class SQLiteConfig(ConnectorConfig):
    """Where the database file is and what to read from it."""

    path: str = Field(min_length=1, description="Path of the SQLite database file.")
    include_tables: Patterns = Field(
        default_factory=list,
        description="Regexes; when given, only tables/views whose whole name matches one are read.",
    )
    exclude_tables: Patterns = Field(
        default_factory=list,
        description="Regexes; tables/views whose whole name matches one are skipped.",
    )
    include_row_counts: bool = Field(
        default=True, description="Count rows of every table (one COUNT(*) per table, batched)."
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        description=f"Seconds to wait for a locked database (default {DEFAULT_TIMEOUT}).",
    )

    @cached_property
    def _table_filter(self) -> NameFilter:
        return NameFilter(self.include_tables, self.exclude_tables)

    def wants_table(self, name: str) -> bool:
        """Whether a table or view is in scope."""
        return self._table_filter.allows(name, f"{DATABASE}.{name}")

    @property
    def busy_timeout(self) -> float:
        return self.timeout if self.timeout is not None else DEFAULT_TIMEOUT
