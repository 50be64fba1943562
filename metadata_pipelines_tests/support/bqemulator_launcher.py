"""Starts bqemulator without its DuckDB spatial extension (runs inside the emulator's virtualenv).

bqemulator installs and loads DuckDB's `spatial` extension at start-up, which downloads a binary
from DuckDB's extension repository; these machines reach only package registries, so the download
fails and the emulator refuses to start. Replacing the loader with a no-op costs only GEOGRAPHY,
which the BigQuery tests cover with the REST front instead (see fakes/bigquery_server.py).
"""

import sys

from bqemulator.storage.engine import DuckDBEngine

DuckDBEngine._load_spatial = lambda self: None

from bqemulator.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
