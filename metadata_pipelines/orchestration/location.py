"""Where the definitions live for Dagster: the code location's name and its workspace file.

Runs launched by the daemon or the UI carry the location in their tags; runs executed in this process
(`metadata-pipelines sync`, `run_metadata_sync`) are given the same tags, so the Partitions page and
the partition status count them like any other run of the job's partition set.
"""

from __future__ import annotations

from pathlib import Path

from metadata_pipelines.orchestration.dagster_api import PARTITION_SET_TAG, REPOSITORY_LABEL_TAG

LOCATION_NAME = "metadata_pipelines"  # as in the repository's workspace.yaml
REPOSITORY_NAME = "__repository__"  # Dagster's name for the repository of a Definitions object
DEFINITIONS_MODULE = "metadata_pipelines.definitions"


def partition_set_name(job_name: str) -> str:
    return f"{job_name}_partition_set"


def location_tags(job_name: str) -> dict[str, str]:
    """The tags a daemon-launched run of `job_name` carries that tie it to this code location."""
    return {
        PARTITION_SET_TAG: partition_set_name(job_name),
        REPOSITORY_LABEL_TAG: f"{REPOSITORY_NAME}@{LOCATION_NAME}",
    }


def write_workspace(path: Path, working_directory: Path) -> Path:
    """A workspace file that loads the definitions as LOCATION_NAME (what `ui` serves)."""
    path.write_text(
        "load_from:\n"
        "  - python_module:\n"
        f"      module_name: {DEFINITIONS_MODULE}\n"
        f"      location_name: {LOCATION_NAME}\n"
        f"      working_directory: {working_directory}\n"
    )
    return path
