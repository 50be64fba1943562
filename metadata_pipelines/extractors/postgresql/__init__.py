"""PostgreSQL connector (connector types "postgresql" and "postgres").

config.py validates settings, queries.py holds the fixed pg_catalog queries, mapper.py turns their
rows into models, classify.py maps driver errors, extractor.py runs it all off the event loop.
"""

from metadata_pipelines.extractors.postgresql.config import (
    PostgreSQLConfig,
    PostgreSQLCredentials,
)
from metadata_pipelines.extractors.postgresql.extractor import PostgreSQLExtractor

__all__ = ["PostgreSQLConfig", "PostgreSQLCredentials", "PostgreSQLExtractor"]
