"""Alembic environment: async, reading DATABASE_URL through our settings.

Two ways in:
- ``alembic upgrade head`` / ``make db-upgrade`` / ``asset-anchor migrate``:
  no loop is running, so this module runs its own with ``asyncio.run``.
- Code that already has a connection (tests, the ``dev`` command) passes it as
  ``config.attributes["connection"]`` and the migrations run on it directly.
"""

from __future__ import annotations

import asyncio
import logging.config
import warnings

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from asset_anchor.db import parse_database_url
from asset_anchor.models import Base
from asset_anchor.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get(
    "configure_logger", True
):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# PostgreSQL gives a generated column's expression back in its own spelling
# (casts, parentheses), which never matches the model's text; autogenerate
# then warns that it cannot alter it, on every check. Such a column changes
# only through a migration written by hand.
warnings.filterwarnings(
    "ignore",
    message=r"Computed default on \S+ cannot be modified",
    category=UserWarning,
)


def _run(connection: Connection) -> None:
    settings = Settings()
    # A migration waits at most this long for a lock held by live traffic,
    # then fails cleanly instead of queueing every request behind it.
    connection.execute(
        text(f"SET lock_timeout = {int(settings.db_migration_lock_timeout_ms)}")
    )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = config.attributes.get("database_url") or Settings().require_database_url()
    target = parse_database_url(url)
    engine = create_async_engine(
        target.sqlalchemy_url,
        connect_args=target.connect_args,
        pool_pre_ping=True,
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    url = Settings().require_database_url()
    context.configure(
        url=parse_database_url(url).sqlalchemy_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_async())
