"""The worker: JSON payloads, UTC cron, a real periodic job, outages, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis, create_pool
from arq.worker import Worker, func
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.jobs.queue import deserialize, serialize
from asset_anchor.kit.time import utc_now
from asset_anchor.models import IdempotencyKey
from asset_anchor.settings import Settings
from asset_anchor.worker import WorkerSupervisor, redis_settings, worker_settings
from tests.conftest import REDIS_PREFIX, make_settings
from tests.support.servers import redis_proxy

finished: dict[str, asyncio.Event] = {}


async def record(ctx: dict[str, Any], marker: str, seconds: float = 0.0) -> str:
    await asyncio.sleep(seconds)
    finished.setdefault(marker, asyncio.Event()).set()
    return marker


@pytest.fixture
def worker_config(database_url: str, redis_url: str) -> Settings:
    """Settings with a queue of the test's own."""
    return make_settings(
        database_url,
        redis_url,
        redis_key_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:8]}:",
        worker_restart_max_delay_seconds=0.5,
        worker_shutdown_grace_seconds=5,
    )


@pytest.fixture
async def queue(worker_config: Settings) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(
        redis_settings(worker_config),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=worker_config.arq_queue_name,
    )
    yield pool
    await pool.aclose()


async def wait_for(marker: str) -> None:
    event = finished.setdefault(marker, asyncio.Event())
    async with asyncio.timeout(10):
        await event.wait()


class TestSerialization:
    def test_payloads_round_trip_as_json(self) -> None:
        payload = {"f": "email.send", "a": ["b7a1"], "k": {"try": 2}}

        raw = serialize(payload)

        assert raw.startswith(b"{")
        assert deserialize(raw) == payload

    def test_a_pickled_payload_is_never_unpickled(self) -> None:
        raw = pickle.dumps({"f": "anything"})

        with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
            deserialize(raw)

    def test_an_exception_result_is_stored_as_data(self) -> None:
        raw = serialize({"r": KeyError("lease")})

        assert deserialize(raw) == {"r": {"error": "KeyError", "message": "'lease'"}}


class TestWorkerSettings:
    def test_cron_runs_in_utc_with_json_and_a_prefixed_queue(
        self, worker_config: Settings
    ) -> None:
        options = worker_settings(worker_config)

        assert options["timezone"] is UTC
        assert options["job_serializer"] is serialize
        assert options["job_deserializer"] is deserialize
        assert options["queue_name"].startswith(worker_config.redis_key_prefix)
        assert sorted(job.name for job in options["cron_jobs"]) == [
            "cron.billing.charge_late_fees",
            "cron.billing.generate_rent",
            "cron.billing.send_rent_reminders",
            "cron.billing.send_statements",
            "cron.maintenance.prune_idempotency_keys",
            "cron.outbox.prune",
            "cron.outbox.sweep",
            "cron.stripe.reconcile",
        ]


class TestPruneIdempotencyKeys:
    async def test_a_burst_worker_deletes_only_expired_keys(
        self,
        worker_config: Settings,
        queue: ArqRedis,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        scope = f"prune-{uuid.uuid4().hex}"
        now = utc_now()
        async with committed_sessionmaker.begin() as session:
            for key, expires_at in (
                ("old", now - timedelta(minutes=1)),
                ("older", now - timedelta(days=3)),
                ("fresh", now + timedelta(hours=23)),
            ):
                session.add(
                    IdempotencyKey(
                        scope=scope,
                        key=key,
                        request_fingerprint="f" * 64,
                        expires_at=expires_at,
                    )
                )
        job = await queue.enqueue_job("maintenance.prune_idempotency_keys")
        assert job is not None

        worker = Worker(
            **worker_settings(worker_config), burst=True, handle_signals=False
        )
        await worker.main()
        await worker.close()

        async with committed_sessionmaker.begin() as session:
            left = set(
                await session.scalars(
                    select(IdempotencyKey.key).where(IdempotencyKey.scope == scope)
                )
            )
            await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.scope == scope)
            )
        # Not ``worker.jobs_complete``: a 15-second cron may fall due during
        # the burst and count too.
        assert left == {"fresh"}
        assert await job.result(timeout=5) >= 2


class TestSupervisor:
    async def test_outlives_a_redis_outage_and_then_runs_jobs(
        self, worker_config: Settings, redis_url: str, queue: ArqRedis
    ) -> None:
        proxy, proxied_url = redis_proxy(redis_url)
        await proxy.start()
        await proxy.refuse()
        settings = worker_config.model_copy(
            update={"redis_url": SecretStr(proxied_url)}
        )
        supervisor = WorkerSupervisor(
            settings, functions=[func(record, name="test.record")]
        )
        running = asyncio.create_task(supervisor.run())
        marker = uuid.uuid4().hex

        try:
            async with asyncio.timeout(10):
                while supervisor.restarts < 2:
                    await asyncio.sleep(0.05)
            assert not running.done()
            await proxy.restore()
            await queue.enqueue_job("test.record", marker)
            await wait_for(marker)
        finally:
            supervisor.request_stop()
            await asyncio.wait_for(running, 10)
            await proxy.close()

        assert finished[marker].is_set()

    async def test_stopping_lets_a_running_job_finish(
        self, worker_config: Settings, queue: ArqRedis
    ) -> None:
        supervisor = WorkerSupervisor(
            worker_config, functions=[func(record, name="test.record")]
        )
        running = asyncio.create_task(supervisor.run())
        marker = uuid.uuid4().hex
        job = await queue.enqueue_job("test.record", marker, 1.0)
        assert job is not None
        async with asyncio.timeout(10):
            while await job.status() != "in_progress":
                await asyncio.sleep(0.02)

        supervisor.request_stop()
        await asyncio.wait_for(running, 10)

        assert finished[marker].is_set()
        assert await job.result(timeout=1) == marker


class TestWorkerProcess:
    async def test_sigterm_stops_the_worker_cleanly(
        self, worker_config: Settings
    ) -> None:
        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "DATABASE_URL": worker_config.require_database_url(),
            "REDIS_URL": worker_config.require_redis_url(),
            "REDIS_KEY_PREFIX": worker_config.redis_key_prefix,
            "LOG_FORMAT": "json",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "asset_anchor.cli",
            "worker",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert process.stdout is not None
        try:
            async with asyncio.timeout(20):
                while b"worker.started" not in await process.stdout.readline():
                    pass

            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                rest = await process.stdout.read()
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

        assert code == 0
        assert b"worker.stopped" in rest
