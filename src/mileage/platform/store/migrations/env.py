"""Alembic environment: runs on the connection handed over by ``mileage.platform.store``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from mileage.platform.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only used by the alembic command line
    from mileage.platform.store._engine import create_store_engine

    engine = create_store_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
else:
    _run(connection)
