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


class _Payload:
    """An op output that can be weakly referenced."""


def test_an_uncaptured_in_process_run_keeps_no_op_output(tmp_path):
    """`execute_in_process` keeps every op output alive for `output_for_node`; for a sync that was
    every batch of the source. The runner's variant lets each go once the IO manager stored it."""
    import gc
    import weakref

    made: list[weakref.ref] = []

    @dg.op
    def produce() -> _Payload:
        payload = _Payload()
        made.append(weakref.ref(payload))
        return payload

    @dg.op
    def consume(payload: _Payload) -> None:
        assert isinstance(payload, _Payload)

    partitions = dg.StaticPartitionsDefinition(["p"])

    @dg.job(partitions_def=partitions, executor_def=dg.in_process_executor)
    def pair() -> None:
        consume(produce())

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        captured = pair.execute_in_process(instance=instance, partition_key="p")
        gc.collect()
        assert made[0]() is not None  # Dagster's own API keeps it

        result = dagster_api.execute_in_process_uncaptured(
            pair,
            instance=instance,
            partition_key="p",
            run_id="11111111-2222-3333-4444-555555555555",
            tags={"origin": "test"},
            resources={"io_manager": dg.fs_io_manager.configured({"base_dir": str(tmp_path)})},
            run_config={},
        )
        gc.collect()

        assert result.success
        assert made[1]() is None
        run = instance.get_run_by_id(result.run_id)
        assert run.tags["origin"] == "test"
        assert run.tags["dagster/partition"] == "p"
        del captured
