"""MongoDB connector (connector type "mongodb").

config.py validates settings and credentials, classify.py maps pymongo errors, sampling.py builds
the one bounded aggregation per collection and buckets shares, bson_types.py names BSON types,
mapper.py turns listCollections / listIndexes / collStats / `$jsonSchema` into catalog models, and
extractor.py walks databases and collections (pymongo's asyncio client) and scopes failures.
Inference itself is the shared extractors/inference.py.
"""

from metadata_pipelines.extractors.mongodb.config import MongoDBConfig, MongoDBCredentials
from metadata_pipelines.extractors.mongodb.extractor import MongoDBExtractor

__all__ = ["MongoDBConfig", "MongoDBCredentials", "MongoDBExtractor"]
