"""S3 / object storage connector (connector type "s3").

config.py validates settings and credentials, client.py wraps boto3 (retries, accounting),
classify.py maps botocore errors, layout.py groups keys into datasets (path specs, Hive
partitions, Delta / Iceberg folders), readers.py reads schemas from ranged GETs (Parquet footers,
CSV / JSON heads, Delta logs), arrow_types.py and the shared extractors/inference.py turn them
into fields, extractor.py walks buckets and datasets and scopes failures.
"""

from metadata_pipelines.extractors.s3.config import S3Config, S3Credentials
from metadata_pipelines.extractors.s3.extractor import S3Extractor

__all__ = ["S3Config", "S3Credentials", "S3Extractor"]
