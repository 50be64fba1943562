"""The Dagster names the project spells out itself (orchestration/dagster_api.py) still match
Dagster's own. If this fails after a Dagster upgrade, update dagster_api.py and read the release
notes for what changed; do not import the private modules into the product instead."""

from __future__ import annotations

import dagster as dg

from metadata_pipelines.orchestration import dagster_api


def test_tags_are_dagsters_own():
    from dagster._core.storage import tags  # private: that is why this test exists

    assert dagster_api.PARTITION_TAG == tags.PARTITION_NAME_TAG
    assert dagster_api.PARTITION_SET_TAG == tags.PARTITION_SET_TAG
    assert dagster_api.REPOSITORY_LABEL_TAG == tags.REPOSITORY_LABEL_TAG
    assert dagster_api.BACKFILL_TAG == tags.BACKFILL_ID_TAG
    assert dagster_api.SCHEDULE_NAME_TAG == tags.SCHEDULE_NAME_TAG
    assert dagster_api.SENSOR_NAME_TAG == tags.SENSOR_NAME_TAG
    assert dagster_api.WILL_RETRY_TAG == tags.WILL_RETRY_TAG
    assert dagster_api.RETRY_STRATEGY_TAG == tags.RETRY_STRATEGY_TAG


def test_in_flight_statuses_are_unfinished_and_every_status_is_known():
    from dagster._core.storage.dagster_run import FINISHED_STATUSES, NOT_FINISHED_STATUSES

    assert set(dagster_api.IN_FLIGHT_STATUSES) <= set(NOT_FINISHED_STATUSES)
    assert not set(dagster_api.IN_FLIGHT_STATUSES) & set(FINISHED_STATUSES)
    # A status Dagster adds must be placed on purpose: in flight (holds its source) or not.
    assert {status.value for status in dg.DagsterRunStatus} == {
        "QUEUED",
        "NOT_STARTED",
        "MANAGED",
        "STARTING",
        "STARTED",
        "SUSPENDED",
        "SUCCESS",
        "FAILURE",
        "CANCELING",
        "CANCELED",
    }


def test_a_partitioned_run_carries_the_partition_tag():
    key = "source-1"
    partitions = dg.StaticPartitionsDefinition([key])

    @dg.op
    def noop() -> None:
        pass

    @dg.job(partitions_def=partitions)
    def job() -> None:
        noop()

    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key=key)
        assert instance.get_run_by_id(result.run_id).tags[dagster_api.PARTITION_TAG] == key
