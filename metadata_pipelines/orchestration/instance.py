"""The Dagster instance for in-process syncs (CLI, programmatic API).

With DAGSTER_HOME set, that instance (e.g. PostgreSQL through dagster-postgres). Without it, an
embedded instance home under the project's home directory, so a bare install needs no setup and the
repository's production dagster.yaml is never picked up by accident.
"""

from __future__ import annotations

import os
from importlib.resources import files

import dagster as dg

from metadata_pipelines.settings import DAGSTER_HOME_ENV, get_settings

EMBEDDED_INSTANCE_YAML = "embedded_dagster.yaml"


def embedded_dagster_home() -> str:
    configured = get_settings()
    configured.private_home()
    home = configured.dagster_instance_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(files(__package__).joinpath(EMBEDDED_INSTANCE_YAML).read_text())
    return str(home)


def get_instance() -> dg.DagsterInstance:
    if not os.environ.get(DAGSTER_HOME_ENV):  # Dagster reads it from there
        os.environ[DAGSTER_HOME_ENV] = embedded_dagster_home()
    return dg.DagsterInstance.get()
