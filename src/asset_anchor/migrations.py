"""Run the Alembic migrations from code (``asset-anchor migrate``, ``dev``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


class MigrationsNotFound(RuntimeError):
    """The migration scripts are not where this process can see them."""


def find_alembic_ini() -> Path:
    """``alembic.ini`` in the working folder, else beside the source tree."""
    candidates = [
        Path.cwd() / "alembic.ini",
        Path(__file__).resolve().parents[2] / "alembic.ini",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MigrationsNotFound(
        "alembic.ini not found: run this from the project folder"
        " (in the production image, /app)"
    )


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(find_alembic_ini()))
    config.attributes["configure_logger"] = False
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


async def database_revision(database_url: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    import asyncpg

    from asset_anchor.db import parse_database_url

    connection = await asyncpg.connect(parse_database_url(database_url).asyncpg_dsn)
    try:
        exists = await connection.fetchval("SELECT to_regclass('alembic_version')")
        if exists is None:
            return None
        revision: str | None = await connection.fetchval(
            "SELECT version_num FROM alembic_version"
        )
        return revision
    finally:
        await connection.close()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {revision.revision for revision in script.walk_revisions()}


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Upgrade to ``revision``. Runs its own event loop: call it outside one."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "-1") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
