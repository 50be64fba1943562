"""Kafka connector (connector type "kafka").

config.py validates settings and credentials, broker.py wraps the AdminClient and the sampling
consumer (requests counted), registry.py reads the Schema Registry, schemas.py maps Avro / JSON
Schema / Protobuf to fields, topics.py turns a topic's facts into a dataset, classify.py maps
librdkafka and registry errors, extractor.py runs a sync and scopes failures.
"""

from metadata_pipelines.extractors.kafka.config import KafkaConfig, KafkaCredentials
from metadata_pipelines.extractors.kafka.extractor import KafkaExtractor

__all__ = ["KafkaConfig", "KafkaCredentials", "KafkaExtractor"]
