"""Alembic environment: runs on the connection the caller hands over (see CatalogDatabase.upgrade)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from metadata_pipelines.catalog.migrate import include_object
from metadata_pipelines.catalog.schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as new_connection:
        _run(new_connection)
    engine.dispose()
