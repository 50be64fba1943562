"""Metadata sync for a data catalog, orchestrated by Dagster."""

__version__ = "0.1.0"
