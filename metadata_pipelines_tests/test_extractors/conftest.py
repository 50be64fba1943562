"""Fixtures of the extractor tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from metadata_pipelines_tests.test_extractors.mysql_fixture import (
    MySQLFixture,
    create,
    drop,
    new_fixture,
)


@pytest.fixture(scope="module")
def mysql_schema(mysql_server: sa.Engine) -> Iterator[MySQLFixture]:
    """The MySQL fixture schema, created once per test module and dropped afterwards."""
    fx = new_fixture()
    try:
        create(mysql_server, fx)
        yield fx
    finally:
        drop(mysql_server, fx)
