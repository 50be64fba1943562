"""One partition per registered data source, keyed by its readable `partition_key`.

The key (`<tenant>/<name>` slugged, see catalog/partition_keys.py) is what people read and pick in
the Dagster UI; the data source id travels in the `metadata_pipelines/data_source_id` run tag.
"""

from __future__ import annotations

import dagster as dg

DATA_SOURCES_PARTITION = "data_sources"

data_source_partitions = dg.DynamicPartitionsDefinition(name=DATA_SOURCES_PARTITION)


def ensure_partition(instance: dg.DagsterInstance, partition_key: str) -> None:
    if not instance.has_dynamic_partition(DATA_SOURCES_PARTITION, partition_key):
        instance.add_dynamic_partitions(DATA_SOURCES_PARTITION, [partition_key])


def remove_partition(instance: dg.DagsterInstance, partition_key: str) -> None:
    if instance.has_dynamic_partition(DATA_SOURCES_PARTITION, partition_key):
        instance.delete_dynamic_partition(DATA_SOURCES_PARTITION, partition_key)
