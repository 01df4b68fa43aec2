"""Fixtures for the outbox: a queue of the test's own, a worker to drain it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis, create_pool
from arq.worker import Worker
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.jobs.queue import deserialize, serialize
from asset_anchor.models import IdempotencyKey, OutboxJob
from asset_anchor.settings import Settings
from asset_anchor.worker import redis_settings, shutdown, startup, worker_settings
from tests.conftest import REDIS_PREFIX, make_settings
from tests.jobs.handlers import EFFECT_SCOPE


@pytest.fixture
def job_settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        redis_key_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:8]}:",
        job_max_tries=3,
        job_retry_base_seconds=1,
        job_retry_max_seconds=4,
    )


@pytest.fixture(autouse=True)
async def empty_outbox(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[None]:
    """Outbox tests commit for real; each starts and ends with no rows."""

    async def clear() -> None:
        async with committed_sessionmaker.begin() as session:
            await session.execute(delete(OutboxJob))
            await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.scope == EFFECT_SCOPE)
            )

    await clear()
    yield
    await clear()


@pytest.fixture
async def queue(job_settings: Settings) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(
        redis_settings(job_settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=job_settings.arq_queue_name,
    )
    yield pool
    await pool.aclose()


@pytest.fixture
async def worker_ctx(
    job_settings: Settings, queue: ArqRedis
) -> AsyncIterator[dict[str, Any]]:
    """The context a worker gives its jobs, for calling the runner directly."""
    ctx: dict[str, Any] = {"settings": job_settings, "redis": queue}
    await startup(ctx)
    yield ctx
    await shutdown(ctx)


async def drain(settings: Settings, **overrides: Any) -> Worker:
    """Run a burst worker until the queue holds nothing that is due."""
    options = {**worker_settings(settings), "poll_delay": 0.05, **overrides}
    worker = Worker(**options, burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


def fake_http(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))
