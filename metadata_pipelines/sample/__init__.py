"""The sample source that ships with the package: a small online shop in an SQLite file.

The `demo` command builds it so a full sync can run with no server. The schema lives in `shop.sql`
(package data) and exercises what the SQLite connector reads: a self-referencing table, a composite
primary key, a composite foreign key, unique constraints, expression, descending and partial
indexes, views over views, and a few hundred deterministic rows.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import closing
from importlib.resources import files
from pathlib import Path

SAMPLE_SCRIPT = "shop.sql"
SAMPLE_TABLES = (
    "categories",
    "customers",
    "order_items",
    "orders",
    "payments",
    "products",
    "returns",
)
SAMPLE_VIEWS = ("customer_lifetime_value", "order_totals")


def sample_script() -> str:
    return files(__package__).joinpath(SAMPLE_SCRIPT).read_text(encoding="utf-8")


def create_sample_database(path: Path) -> Path:
    """Build the sample shop database at `path`, replacing any file already there.

    The database is built in a temporary file next to `path` and moved into place at the end, so a
    failure never leaves a half-built sample behind and a reader never sees one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with closing(sqlite3.connect(temporary)) as connection:
            connection.executescript(sample_script())
            connection.commit()
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
