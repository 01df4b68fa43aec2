"""Where the test run's PostgreSQL and Redis are, and URLs through a proxy."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
from sqlalchemy.engine import make_url

from tests.support.proxy import TcpProxy

T = TypeVar("T")


def run_in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in another thread.

    Session fixtures use it for setup that must not touch the test loop.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def call_in_thread(function: Callable[..., T], *args: Any) -> T:
    """Call a function that runs its own event loop (Alembic's env) elsewhere."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    return (
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


async def create_database(server_url: str, name: str) -> str:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def postgres_proxy(database_url: str) -> tuple[TcpProxy, str]:
    """A proxy in front of the test PostgreSQL and the URL that goes through it."""
    url = make_url(database_url)
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        port = url.port or 5432
        proxy = TcpProxy(unix_path=f"{socket_dir}/.s.PGSQL.{port}")
    else:
        proxy = TcpProxy(host=url.host or "127.0.0.1", port=url.port or 5432)
    query = {key: value for key, value in url.query.items() if key != "host"}
    proxied = url.set(host="127.0.0.1", port=proxy.port, query=query)
    return proxy, proxied.render_as_string(hide_password=False)


def redis_proxy(redis_url: str) -> tuple[TcpProxy, str]:
    """A proxy in front of the test Redis and the URL that goes through it."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        proxy = TcpProxy(unix_path=parts.path)
        database = "0"
    else:
        proxy = TcpProxy(host=parts.hostname or "127.0.0.1", port=parts.port or 6379)
        database = parts.path.lstrip("/") or "0"
    auth = f"{parts.username or ''}:{parts.password}@" if parts.password else ""
    return proxy, f"redis://{auth}127.0.0.1:{proxy.port}/{database}"
