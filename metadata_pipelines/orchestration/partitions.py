"""One partition per registered data source; the partition key is the data source id."""

from __future__ import annotations

import dagster as dg

DATA_SOURCES_PARTITION = "data_sources"

data_source_partitions = dg.DynamicPartitionsDefinition(name=DATA_SOURCES_PARTITION)


def ensure_partition(instance: dg.DagsterInstance, data_source_id: str) -> None:
    if not instance.has_dynamic_partition(DATA_SOURCES_PARTITION, data_source_id):
        instance.add_dynamic_partitions(DATA_SOURCES_PARTITION, [data_source_id])


def remove_partition(instance: dg.DagsterInstance, data_source_id: str) -> None:
    if instance.has_dynamic_partition(DATA_SOURCES_PARTITION, data_source_id):
        instance.delete_dynamic_partition(DATA_SOURCES_PARTITION, data_source_id)
