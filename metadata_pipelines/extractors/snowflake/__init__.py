"""Snowflake connector (connector type "snowflake").

config.py validates settings and credentials, queries.py holds the SHOW commands, types.py reads
column types (structured ones into nested fields), mapper.py turns rows into models, classify.py maps
driver errors, extractor.py runs it all off the event loop.
"""

from metadata_pipelines.extractors.snowflake.config import SnowflakeConfig, SnowflakeCredentials
from metadata_pipelines.extractors.snowflake.extractor import SnowflakeExtractor

__all__ = ["SnowflakeConfig", "SnowflakeCredentials", "SnowflakeExtractor"]
