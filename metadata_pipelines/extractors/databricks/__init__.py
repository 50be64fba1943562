"""Databricks Unity Catalog connector (REST over httpx; keys through the SQL Statement API)."""

from metadata_pipelines.extractors.databricks.config import (
    DatabricksConfig,
    DatabricksCredentials,
)
from metadata_pipelines.extractors.databricks.extractor import DatabricksExtractor

__all__ = ["DatabricksConfig", "DatabricksCredentials", "DatabricksExtractor"]
