"""Each data source as an external asset in Dagster's Catalog, observed by every sync.

The asset key is `data_sources/` followed by the source's partition key (`data_sources/acme/sales-db`),
so, like the partition, it stays the same when the source is renamed and the Catalog keeps one
history per source. The observation carries the connector run's status, its counts and change
summary (or its error), so the Catalog plots tables and columns over time and links the source to
the runs that observed it. No per-table assets: one asset per source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

ASSET_KEY_PREFIX = "data_sources"


def source_asset_key(partition_key: str) -> dg.AssetKey:
    return dg.AssetKey([ASSET_KEY_PREFIX, *partition_key.split("/")])


def observe_source(
    context: dg.OpExecutionContext,
    *,
    partition_key: str,
    tenant_id: str,
    data_source_id: str,
    data_source_name: str,
    connector_type: str,
    connector_run_id: str,
    status: str,
    metadata: Mapping[str, Any],
) -> None:
    """Record what a sync saw of the source (no secrets: counts, names, scrubbed messages)."""
    context.log_event(
        dg.AssetObservation(
            asset_key=source_asset_key(partition_key),
            description=f"{connector_type} data source {data_source_name!r}",
            metadata={
                "connector_run_status": status,
                "connector_run_id": connector_run_id,
                "data_source_id": data_source_id,
                "data_source_name": data_source_name,
                "tenant_id": tenant_id,
                "connector_type": connector_type,
                **metadata,
            },
        )
    )
