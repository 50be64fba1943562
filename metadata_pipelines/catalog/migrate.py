"""Applies the Alembic migrations shipped inside the package; no alembic.ini needed.

Alembic is imported only when a migration runs: every Dagster run worker imports the catalog, and
most never migrate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")

# Indexes migrations create only where the backend supports them, so schema.py does not hold them.
UNMANAGED_INDEXES = frozenset({"ix_assets_qualified_name_trgm"})


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's autogenerate filter: leave the unmanaged indexes alone."""
    return not (type_ == "index" and reflected and name in UNMANAGED_INDEXES)


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    from alembic import command

    _migrate(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command

    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: sa.Engine, step: Callable[[Config], None]) -> None:
    """Run `step` in one transaction; on SQLite with foreign keys off while it runs.

    On SQLite a migration that alters a table copies it, drops the original and renames the copy.
    With foreign keys enforced (create_catalog_engine turns them on), dropping `data_sources` runs
    its ON DELETE CASCADE: every connector run, asset and field would go with it. SQLite ignores
    the pragma inside a transaction, so it is switched before the transaction and restored after,
    and the migrated database must pass `PRAGMA foreign_key_check`.
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            connection.commit()
        try:
            with connection.begin():
                step(alembic_config(connection))
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
