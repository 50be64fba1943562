"""Dagster definitions of the metadata sync: partitions, resources, ops, the job, sensors, schedules.

Dagster's own sensor decorators pass its beta `owners` parameter, which would print a BetaWarning in
every process that loads the definitions (code server, daemon, runs); nothing here uses it.
"""

import warnings

import dagster as dg

warnings.filterwarnings(
    "ignore",
    message=r"Parameter `owners` of initializer `SensorDefinition",
    category=dg.BetaWarning,
)
