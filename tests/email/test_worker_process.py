"""A real worker process: killed mid-job, stopped mid-job, the email goes once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from arq.connections import create_pool
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.email.service import queue_email
from asset_anchor.jobs.outbox import dispatch_pending
from asset_anchor.jobs.queue import deserialize, serialize
from asset_anchor.models import Email, OutboxJob
from asset_anchor.settings import Settings
from asset_anchor.worker import redis_settings
from tests.conftest import REDIS_PREFIX, make_settings
from tests.support.fake_postmark import FakePostmarkServer

JOB_TIMEOUT_SECONDS = 3


@pytest.fixture
async def postmark() -> AsyncIterator[FakePostmarkServer]:
    server = FakePostmarkServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def process_settings(
    database_url: str, redis_url: str, postmark: FakePostmarkServer
) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        redis_key_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:8]}:",
        email_backend="postmark",
        postmark_api_token="token-for-the-fake",
        postmark_api_url=postmark.url,
        worker_job_timeout_seconds=JOB_TIMEOUT_SECONDS,
    )


@pytest.fixture(autouse=True)
async def clean_tables(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[None]:
    yield
    async with committed_sessionmaker.begin() as session:
        await session.execute(delete(OutboxJob))
        await session.execute(delete(Email))


class WorkerProcess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        s = self.settings
        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "LOG_FORMAT": "json",
            "DATABASE_URL": s.require_database_url(),
            "REDIS_URL": s.require_redis_url(),
            "REDIS_KEY_PREFIX": s.redis_key_prefix,
            "EMAIL_BACKEND": "postmark",
            "POSTMARK_API_TOKEN": "token-for-the-fake",
            "POSTMARK_API_URL": s.postmark_api_url,
            "WORKER_JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT_SECONDS),
            "WORKER_SHUTDOWN_GRACE_SECONDS": "10",
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "asset_anchor.cli",
            "worker",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self, seconds: float = 30) -> int:
        assert self.process is not None
        async with asyncio.timeout(seconds):
            return await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def queue_one_email(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> uuid.UUID:
    queue = await create_pool(
        redis_settings(settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.arq_queue_name,
    )
    try:
        async with sessions() as session:
            email = queue_email(
                session,
                kind="test",
                to_address="tenant@example.test",
                context={"sent_at": "2026-12-03T09:00:00+00:00"},
            )
            await session.commit()
            assert await dispatch_pending(session, queue, settings) == 1
    finally:
        await queue.aclose()
    return email.id


async def wait_until_sent(
    sessions: async_sessionmaker[AsyncSession], email_id: uuid.UUID, seconds: float
) -> Email:
    async with asyncio.timeout(seconds):
        while True:
            async with sessions() as session:
                email = await session.scalar(select(Email).where(Email.id == email_id))
            assert email is not None
            if email.sent_at is not None:
                return email
            await asyncio.sleep(0.2)


async def the_job(sessions: async_sessionmaker[AsyncSession]) -> OutboxJob:
    async with sessions() as session:
        job: OutboxJob | None = await session.scalar(select(OutboxJob))
    assert job is not None
    return job


class TestWorkerProcess:
    async def test_sigkill_mid_job_completes_once_after_a_restart(
        self,
        process_settings: Settings,
        postmark: FakePostmarkServer,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        postmark.hang_next = 1
        email_id = await queue_one_email(process_settings, committed_sessionmaker)
        first, second = WorkerProcess(process_settings), WorkerProcess(process_settings)
        try:
            await first.start()
            await postmark.wait_for_requests(1)
            first.signal(signal.SIGKILL)
            await first.wait()
            await second.start()
            # arq gives up on the dead worker's claim after the job timeout + 10 s.
            email = await wait_until_sent(
                committed_sessionmaker, email_id, JOB_TIMEOUT_SECONDS + 30
            )
            second.signal(signal.SIGTERM)
            code = await second.wait()
        finally:
            await first.stop()
            await second.stop()

        job = await the_job(committed_sessionmaker)
        assert len(postmark.received) == 2
        assert len(postmark.answered) == 1
        assert email.provider_message_id is not None
        assert job.completed_at is not None
        assert job.attempts == 2
        assert code == 0

    async def test_sigterm_lets_a_running_job_finish(
        self,
        process_settings: Settings,
        postmark: FakePostmarkServer,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        postmark.delay_seconds = 1.5
        email_id = await queue_one_email(process_settings, committed_sessionmaker)
        worker = WorkerProcess(process_settings)
        try:
            await worker.start()
            await postmark.wait_for_requests(1)
            worker.signal(signal.SIGTERM)
            code = await worker.wait()
        finally:
            await worker.stop()

        email = await wait_until_sent(committed_sessionmaker, email_id, 1)
        job = await the_job(committed_sessionmaker)
        assert code == 0
        assert len(postmark.answered) == 1
        assert email.sent_at is not None
        assert job.completed_at is not None
        assert job.attempts == 1
