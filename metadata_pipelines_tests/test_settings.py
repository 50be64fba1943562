"""The environment, read in one place: typed, validated, named in every error, and documented."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from metadata_pipelines.settings import Settings, SettingsError, get_settings

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "metadata_pipelines"
# Only these modules may touch os.environ: settings.py reads it, the CLI reads a credentials
# variable the user names and passes the environment on to `dagster dev`, and the instance module
# sets DAGSTER_HOME for Dagster.
ENVIRON_ALLOWED = {"settings.py", "cli.py", "orchestration/instance.py"}


def test_defaults(monkeypatch, tmp_path):
    for name in Settings.variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    settings = Settings()

    assert settings.embedded_home() == tmp_path / ".metadata-pipelines"
    assert settings.catalog_database_url() == f"sqlite:///{tmp_path}/.metadata-pipelines/catalog.db"
    assert settings.key_file() == tmp_path / ".metadata-pipelines" / "secret.key"
    assert settings.dagster_instance_home() == tmp_path / ".metadata-pipelines" / "dagster"
    assert settings.secret_key is None and settings.tenant == "default"
    assert (settings.retry_delay_seconds, settings.sensor_interval_seconds) == (5.0, 30)
    assert (settings.daily_sync_cron, settings.schedule_timezone) == ("0 2 * * *", "UTC")


def test_values_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("METADATA_PIPELINES_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("METADATA_PIPELINES_SENSOR_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("METADATA_PIPELINES_SCHEDULE_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("METADATA_PIPELINES_CATALOG_URL", "")  # empty means unset

    settings = get_settings()

    assert settings is get_settings()  # read once
    assert settings.dagster_instance_home() == tmp_path / "d"
    assert settings.catalog_database_url() == f"sqlite:///{tmp_path}/h/catalog.db"
    assert settings.sensor_interval_seconds == 1  # at least one second, as before
    assert settings.schedule_timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("METADATA_PIPELINES_RETRY_DELAY_SECONDS", "soon", "valid number"),
        ("METADATA_PIPELINES_RETRY_DELAY_SECONDS", "-1", "greater than or equal to 0"),
        ("METADATA_PIPELINES_SENSOR_INTERVAL_SECONDS", "1.5", "valid integer"),
        ("METADATA_PIPELINES_DAILY_SYNC_CRON", "every day", "5-field cron"),
        ("METADATA_PIPELINES_SCHEDULE_TIMEZONE", "Mars/Olympus", "IANA timezone"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch, variable, value, problem):
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as caught:
        get_settings()

    assert f"{variable}={value!r}" in str(caught.value)
    assert problem in str(caught.value)


def test_a_bad_value_stops_the_code_location_with_that_message(tmp_path):
    env = {**os.environ, "METADATA_PIPELINES_RETRY_DELAY_SECONDS": "5s"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import metadata_pipelines.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )

    assert loaded.returncode != 0
    assert "SettingsError: invalid environment: METADATA_PIPELINES_RETRY_DELAY_SECONDS='5s'" in (
        loaded.stderr
    )


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            reads = (isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}) or (
                isinstance(node, ast.alias) and node.name in {"environ", "getenv"}
            )
            if reads and relative not in ENVIRON_ALLOWED:
                readers.append(f"{relative}:{node.lineno}")
    assert readers == []


@pytest.mark.parametrize("document", ["README.md", "docs/operations.md"])
def test_the_documented_variables_are_exactly_the_settings(document):
    text = (REPO / document).read_text()
    table = text[text.index("<!-- settings table -->") : text.index("<!-- end settings table -->")]
    documented = re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.MULTILINE)

    assert sorted(documented) == sorted(Settings.variables())
