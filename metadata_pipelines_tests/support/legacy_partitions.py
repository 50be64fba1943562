"""Puts an instance in the state a release before readable partition keys left it.

`python -m metadata_pipelines_tests.support.legacy_partitions SYNCED [MORE ...]` (with the
environment of the `metadata-pipelines` commands): every named source (tenant `default`) gets a
partition keyed by its id, and SYNCED one finished in-process sync on that partition, tagged as
`metadata-pipelines sync` tagged runs then. The readable-key migration is not run.
"""

from __future__ import annotations

import sys

from metadata_pipelines.catalog.database import CatalogDatabase
from metadata_pipelines.orchestration import tags as run_tags
from metadata_pipelines.orchestration.instance import get_instance
from metadata_pipelines.orchestration.jobs import metadata_sync_job
from metadata_pipelines.orchestration.location import location_tags
from metadata_pipelines.orchestration.partitions import ensure_partition
from metadata_pipelines.orchestration.resources import default_resources


def main(synced: str, *more: str) -> None:
    catalog = CatalogDatabase.from_settings()
    instance = get_instance()
    sources = [catalog.data_sources.find_by_name("default", name) for name in (synced, *more)]
    for source in sources:
        ensure_partition(instance, source.id)
    result = metadata_sync_job.execute_in_process(
        instance=instance,
        partition_key=sources[0].id,
        tags={
            **location_tags(metadata_sync_job.name),
            **run_tags.source_tags(sources[0]),
            run_tags.TRIGGER: "manual",
        },
        resources=default_resources(),
        raise_on_error=False,
    )
    print(result.run_id if result.success else "failed")


if __name__ == "__main__":
    main(*sys.argv[1:])
