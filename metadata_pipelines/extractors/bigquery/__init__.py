"""BigQuery connector (connector type "bigquery").

config.py validates settings and credentials, client.py wraps google-cloud-bigquery (threads,
retries, accounting), queries.py holds the INFORMATION_SCHEMA queries, type_strings.py parses
GoogleSQL types, mapper.py turns resources and rows into models, classify.py maps library errors,
extractor.py walks projects and datasets and scopes failures.
"""

from metadata_pipelines.extractors.bigquery.config import BigQueryConfig, BigQueryCredentials
from metadata_pipelines.extractors.bigquery.extractor import BigQueryExtractor

__all__ = ["BigQueryConfig", "BigQueryCredentials", "BigQueryExtractor"]
