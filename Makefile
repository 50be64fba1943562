# The README's quick start. `make demo`: install and run a full sync on the embedded default.
# `make test`: install with dev extras and run the test suite (needs MariaDB and PostgreSQL).
# `make test-fast`: the same without the `slow` tests (real daemon, webserver, installed command).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-fast lint ui bqemulator

$(BIN)/metadata-pipelines: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/metadata-pipelines

demo: install
	$(BIN)/metadata-pipelines demo

# The BigQuery tests' emulator, in its own virtualenv built from pinned requirements (cached).
bqemulator: install
	$(BIN)/python -m metadata_pipelines_tests.support.bigquery_server

test: install bqemulator
	$(BIN)/pytest

test-fast: install bqemulator
	$(BIN)/pytest -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

ui: install
	$(BIN)/metadata-pipelines ui
