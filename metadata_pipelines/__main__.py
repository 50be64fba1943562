"""`python -m metadata_pipelines` runs the command line."""

from metadata_pipelines.cli import run

run()
