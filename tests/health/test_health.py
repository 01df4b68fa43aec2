from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from asset_anchor import __version__
from asset_anchor.app import create_app, lifespan
from asset_anchor.settings import Settings
from tests.conftest import client_for, make_settings
from tests.support.proxy import TcpProxy, free_port
from tests.support.servers import postgres_proxy, redis_proxy


async def get_health(settings: Settings) -> tuple[int, dict[str, str], float]:
    app = create_app(settings)
    async with lifespan(app), client_for(app) as client:
        started = time.perf_counter()
        response = await client.get("/health")
        elapsed = time.perf_counter() - started
    return response.status_code, response.json(), elapsed


@pytest.fixture
async def db_proxy(database_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    proxy, url = postgres_proxy(database_url)
    await proxy.start()
    yield proxy, url
    await proxy.close()


@pytest.fixture
async def cache_proxy(redis_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    proxy, url = redis_proxy(redis_url)
    await proxy.start()
    yield proxy, url
    await proxy.close()


class TestHealth:
    async def test_healthy_when_both_dependencies_answer(
        self, settings: Settings
    ) -> None:
        status, body, _ = await get_health(settings)

        assert status == 200
        assert body == {
            "status": "healthy",
            "version": __version__,
            "database": "connected",
            "redis": "connected",
        }

    async def test_database_refusing_connections_is_503_within_3_seconds(
        self, database_url: str, redis_url: str
    ) -> None:
        dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
        settings = make_settings(dead, redis_url)

        status, body, elapsed = await get_health(settings)

        assert status == 503
        assert body["status"] == "unhealthy"
        assert body["database"] == "disconnected"
        assert body["redis"] == "connected"
        assert elapsed < 3

    async def test_hanging_database_gives_up_after_the_time_box(
        self, db_proxy: tuple[TcpProxy, str], redis_url: str
    ) -> None:
        proxy, url = db_proxy
        await proxy.hang()
        settings = make_settings(url, redis_url)

        status, body, elapsed = await get_health(settings)

        assert status == 503
        assert body["database"] == "disconnected"
        assert 1.5 < elapsed < 3

    async def test_redis_unreachable_is_degraded_but_200(
        self, database_url: str
    ) -> None:
        settings = make_settings(database_url, f"redis://127.0.0.1:{free_port()}/0")

        status, body, elapsed = await get_health(settings)

        assert status == 200
        assert body["status"] == "degraded"
        assert body["database"] == "connected"
        assert body["redis"] == "disconnected"
        assert elapsed < 3

    async def test_hanging_redis_gives_up_after_the_time_box(
        self, database_url: str, cache_proxy: tuple[TcpProxy, str]
    ) -> None:
        proxy, url = cache_proxy
        await proxy.hang()
        settings = make_settings(database_url, url)

        status, body, elapsed = await get_health(settings)

        assert status == 200
        assert body["status"] == "degraded"
        assert 1.5 < elapsed < 3

    async def test_recovers_from_outages_without_a_restart(
        self,
        db_proxy: tuple[TcpProxy, str],
        cache_proxy: tuple[TcpProxy, str],
    ) -> None:
        database, database_url = db_proxy
        cache, redis_url = cache_proxy
        app = create_app(make_settings(database_url, redis_url, health_cache_seconds=0))

        async with lifespan(app), client_for(app) as client:
            assert (await client.get("/health")).json()["status"] == "healthy"
            await database.refuse()
            await cache.refuse()
            down = await client.get("/health")
            await cache.restore()
            half = await client.get("/health")
            await database.restore()
            up = await client.get("/health")

        assert down.status_code == 503
        assert down.json()["redis"] == "disconnected"
        assert half.status_code == 503
        assert half.json()["redis"] == "connected"
        assert up.status_code == 200
        assert up.json()["status"] == "healthy"

    async def test_answers_while_the_request_pool_is_exhausted(
        self, database_url: str, redis_url: str
    ) -> None:
        settings = make_settings(
            database_url, redis_url, db_pool_size=1, db_max_overflow=0
        )
        app = create_app(settings)

        async with lifespan(app), client_for(app) as client:
            engine: AsyncEngine = app.state.engine
            async with engine.connect():
                response = await client.get("/health")

        assert response.status_code == 200
        assert response.json()["database"] == "connected"


class TestProbeSharing:
    async def test_concurrent_requests_share_one_probe(
        self, db_proxy: tuple[TcpProxy, str], redis_url: str
    ) -> None:
        proxy, url = db_proxy
        app = create_app(make_settings(url, redis_url, health_cache_seconds=30))

        async with lifespan(app), client_for(app) as client:
            responses = await asyncio.gather(
                *(client.get("/health") for _ in range(25))
            )

        assert {response.status_code for response in responses} == {200}
        assert app.state.health.probes == 1
        assert proxy.connections == 1

    async def test_a_fresh_probe_runs_once_the_answer_is_stale(
        self, settings: Settings
    ) -> None:
        app = create_app(settings.model_copy(update={"health_cache_seconds": 0}))

        async with lifespan(app), client_for(app) as client:
            await client.get("/health")
            await client.get("/health")

        assert app.state.health.probes == 2


class TestLiveness:
    async def test_live_touches_no_dependency(self) -> None:
        dead_port = free_port()
        settings = make_settings(
            f"postgresql://postgres@127.0.0.1:{dead_port}/x",
            f"redis://127.0.0.1:{dead_port}/0",
        )
        app = create_app(settings)

        async with lifespan(app), client_for(app) as client:
            response = await client.get("/health/live")

        assert response.status_code == 200
        assert response.json() == {"status": "alive"}
