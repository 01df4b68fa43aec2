"""Run the Alembic migrations from code (``asset-anchor migrate``, ``dev``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def find_alembic_ini() -> Path:
    """``alembic.ini`` in the working folder, else beside the source tree."""
    candidates = [
        Path.cwd() / "alembic.ini",
        Path(__file__).resolve().parents[2] / "alembic.ini",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "alembic.ini not found; run this from the project folder (or /app)"
    )


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(find_alembic_ini()))
    config.attributes["configure_logger"] = False
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Upgrade to ``revision``. Runs its own event loop: call it outside one."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "-1") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
