"""Probes of the service's dependencies, each on its own time-boxed connection.

The probes deliberately bypass the request pool: ``/health`` must answer while
the pool is exhausted or a dependency hangs, and must see a dependency that
came back without a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

import asyncpg
from redis.asyncio import Redis

from asset_anchor import __version__
from asset_anchor.db import parse_database_url
from asset_anchor.logging import get_logger
from asset_anchor.settings import Settings

log = get_logger(__name__)

Connectivity = Literal["connected", "disconnected"]
Status = Literal["healthy", "degraded", "unhealthy"]


@dataclass(frozen=True)
class HealthReport:
    status: Status
    version: str
    database: Connectivity
    redis: Connectivity


async def probe_database(settings: Settings) -> Connectivity:
    """Open a fresh connection, run ``SELECT 1``, give up after the time box."""
    timeout = settings.health_probe_timeout_seconds
    try:
        dsn = parse_database_url(settings.require_database_url()).asyncpg_dsn
        async with asyncio.timeout(timeout):
            connection = await asyncpg.connect(dsn, timeout=timeout)
            try:
                await connection.fetchval("SELECT 1")
            finally:
                await connection.close(timeout=timeout)
    except Exception as error:
        log.warning("health.database_unreachable", error_type=type(error).__name__)
        return "disconnected"
    return "connected"


async def probe_redis(settings: Settings) -> Connectivity:
    """Open a fresh Redis connection, PING it, give up after the time box."""
    timeout = settings.health_probe_timeout_seconds
    try:
        client = Redis.from_url(
            settings.require_redis_url(),
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            single_connection_client=True,
        )
        try:
            async with asyncio.timeout(timeout):
                await client.ping()
        finally:
            await client.aclose()
    except Exception as error:
        log.warning("health.redis_unreachable", error_type=type(error).__name__)
        return "disconnected"
    return "connected"


async def check_health(settings: Settings) -> HealthReport:
    """Both probes at once; the database decides healthy, Redis degraded."""
    database, redis = await asyncio.gather(
        probe_database(settings), probe_redis(settings)
    )
    status: Status
    if database == "disconnected":
        status = "unhealthy"
    elif redis == "disconnected":
        status = "degraded"
    else:
        status = "healthy"
    return HealthReport(
        status=status, version=__version__, database=database, redis=redis
    )


class HealthMonitor:
    """Shares one probe among concurrent callers and reuses it briefly.

    ``/health`` is public, and every probe opens a database connection: without
    this, a burst of health requests would open as many connections as it has
    requests. With it, one API process probes at most once per
    ``HEALTH_CACHE_SECONDS`` however many monitors (or attackers) ask.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._latest: tuple[float, HealthReport] | None = None
        self._inflight: asyncio.Task[HealthReport] | None = None
        self.probes = 0

    async def report(self) -> HealthReport:
        loop = asyncio.get_running_loop()
        if self._latest is not None:
            taken_at, report = self._latest
            if loop.time() - taken_at < self._settings.health_cache_seconds:
                return report
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._probe())
        # Shielded: a caller that disconnects does not cancel the others' probe.
        return await asyncio.shield(self._inflight)

    async def _probe(self) -> HealthReport:
        self.probes += 1
        try:
            report = await check_health(self._settings)
            self._latest = (asyncio.get_running_loop().time(), report)
            return report
        finally:
            self._inflight = None
