"""The transactional outbox: no job for rolled-back work, none lost, none doubled."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from arq.worker import Retry
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.app import create_app, lifespan
from asset_anchor.db import SessionDep
from asset_anchor.errors import Conflict
from asset_anchor.jobs import service
from asset_anchor.jobs.outbox import UnknownJob, dispatch_pending, enqueue
from asset_anchor.jobs.queue import arq_job_id
from asset_anchor.jobs.runner import run_outbox_job
from asset_anchor.jobs.tasks import prune_outbox, sweep_outbox
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import JsonFormatter, bound
from asset_anchor.models import IdempotencyKey, OutboxJob
from asset_anchor.settings import Settings
from tests.conftest import client_for
from tests.jobs import handlers
from tests.jobs.conftest import drain
from tests.jobs.handlers import EFFECT_SCOPE
from tests.support.proxy import free_port

router = APIRouter(prefix="/api/v1/chores", tags=["chores"])


@router.post("/{marker}", status_code=202)
async def schedule(marker: str, session: SessionDep) -> dict[str, str]:
    row = enqueue(session, "test.record", marker=marker)
    return {"outbox_id": str(row.id)}


@router.post("/{marker}/then-fail")
async def schedule_then_fail(marker: str, session: SessionDep) -> None:
    enqueue(session, "test.record", marker=marker)
    await session.flush()
    raise Conflict("changed my mind")


@pytest.fixture
async def api(
    job_settings: Settings,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(job_settings)
    app.include_router(router)
    async with lifespan(app), client_for(app) as client:
        yield app, client


async def outbox_rows(
    sessions: async_sessionmaker[AsyncSession],
) -> list[OutboxJob]:
    async with sessions() as session:
        return list(
            await session.scalars(select(OutboxJob).order_by(OutboxJob.created_at))
        )


async def effects(sessions: async_sessionmaker[AsyncSession], marker: str) -> list[str]:
    async with sessions() as session:
        keys = await session.scalars(
            select(IdempotencyKey.key).where(
                IdempotencyKey.scope == EFFECT_SCOPE,
                IdempotencyKey.key.startswith(f"{marker}:"),
            )
        )
        return sorted(keys)


async def commit_job(
    sessions: async_sessionmaker[AsyncSession],
    job_name: str,
    **arguments: Any,
) -> uuid.UUID:
    """Write an outbox row and commit it, without handing it over."""
    async with sessions.begin() as session:
        row = enqueue(session, job_name, **arguments)
        session.info.clear()
    return row.id


def new_marker() -> str:
    return uuid.uuid4().hex[:12]


class TestEnqueue:
    async def test_a_rolled_back_request_leaves_no_row_and_no_job(
        self,
        api: tuple[FastAPI, httpx.AsyncClient],
        queue: ArqRedis,
        job_settings: Settings,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        _, client = api

        response = await client.post(f"/api/v1/chores/{new_marker()}/then-fail")

        assert response.status_code == 409
        assert await outbox_rows(committed_sessionmaker) == []
        assert await queue.zcard(job_settings.arq_queue_name) == 0

    async def test_a_committed_request_hands_its_job_over_at_once(
        self,
        api: tuple[FastAPI, httpx.AsyncClient],
        queue: ArqRedis,
        job_settings: Settings,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        _, client = api
        marker = new_marker()

        response = await client.post(f"/api/v1/chores/{marker}")

        outbox_id = uuid.UUID(response.json()["outbox_id"])
        [row] = await outbox_rows(committed_sessionmaker)
        assert response.status_code == 202
        assert row.id == outbox_id
        assert row.arguments == {"marker": marker}
        assert row.request_id == response.headers["x-request-id"]
        assert await queue.zscore(
            job_settings.arq_queue_name, arq_job_id(job_settings, outbox_id)
        )

    async def test_the_worker_runs_it_and_records_completion_with_its_effects(
        self,
        api: tuple[FastAPI, httpx.AsyncClient],
        job_settings: Settings,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        _, client = api
        marker = new_marker()
        await client.post(f"/api/v1/chores/{marker}")

        await drain(job_settings)

        [row] = await outbox_rows(committed_sessionmaker)
        assert row.completed_at is not None
        assert row.attempts == 1
        assert await effects(committed_sessionmaker, marker) == [f"{marker}:1"]

    async def test_a_commit_while_redis_is_down_answers_fast_and_is_swept_later(
        self,
        job_settings: Settings,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        dead_redis = SecretStr(f"redis://127.0.0.1:{free_port()}/0")
        down = job_settings.model_copy(update={"redis_url": dead_redis})
        app = create_app(down)
        app.include_router(router)
        marker = new_marker()

        async with lifespan(app), client_for(app) as client:
            started = time.perf_counter()
            response = await client.post(f"/api/v1/chores/{marker}")
            elapsed = time.perf_counter() - started
        async with committed_sessionmaker.begin() as session:
            await session.execute(
                update(OutboxJob).values(run_after=utc_now() - timedelta(seconds=30))
            )
        handed_over = await sweep_outbox(worker_ctx)
        await drain(job_settings)

        assert response.status_code == 202
        assert elapsed < job_settings.outbox_handover_timeout_seconds + 0.5
        assert handed_over == 1
        [row] = await outbox_rows(committed_sessionmaker)
        assert row.completed_at is not None
        assert await effects(committed_sessionmaker, marker) == [f"{marker}:1"]

    async def test_an_unknown_job_name_is_refused(self, db: AsyncSession) -> None:
        with pytest.raises(UnknownJob):
            enqueue(db, "test.no-such-job", marker="x")

    async def test_arguments_must_be_json(self, db: AsyncSession) -> None:
        with pytest.raises(TypeError):
            enqueue(db, "test.record", marker=object())


class TestDelivery:
    async def test_the_same_job_delivered_twice_does_its_work_once(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        marker = new_marker()
        outbox_id = await commit_job(
            committed_sessionmaker, "test.record", marker=marker
        )

        await run_outbox_job(worker_ctx, str(outbox_id))
        await run_outbox_job(worker_ctx, str(outbox_id))

        assert handlers.calls[marker] == 1
        assert await effects(committed_sessionmaker, marker) == [f"{marker}:1"]

    async def test_the_sweep_does_not_double_a_job_arq_already_holds(
        self,
        worker_ctx: dict[str, Any],
        job_settings: Settings,
        queue: ArqRedis,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        async with committed_sessionmaker.begin() as session:
            enqueue(
                session,
                "test.record",
                marker=new_marker(),
                run_after=utc_now() - timedelta(minutes=1),
            )
            pending = dict(session.info)
        session.info.update(pending)
        await dispatch_pending(session, queue, job_settings)

        handed_over = await sweep_outbox(worker_ctx)

        assert handed_over == 0
        assert await queue.zcard(job_settings.arq_queue_name) == 1

    async def test_a_job_enqueued_by_a_job_is_handed_over_after_its_commit(
        self,
        worker_ctx: dict[str, Any],
        job_settings: Settings,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        marker = new_marker()
        outbox_id = await commit_job(
            committed_sessionmaker, "test.chain", marker=marker
        )

        await run_outbox_job(worker_ctx, str(outbox_id))
        await drain(job_settings)

        rows = await outbox_rows(committed_sessionmaker)
        assert [row.job_name for row in rows] == ["test.chain", "test.record"]
        assert all(row.completed_at is not None for row in rows)
        assert handlers.calls[f"{marker}:next"] == 1


class TestFailures:
    async def test_a_transient_failure_rolls_back_and_retries_with_backoff(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        marker = new_marker()
        outbox_id = await commit_job(
            committed_sessionmaker, "test.flaky", marker=marker, fail_times=1
        )

        with pytest.raises(Retry) as retry:
            await run_outbox_job(worker_ctx, str(outbox_id))
        [row] = await outbox_rows(committed_sessionmaker)
        await run_outbox_job(worker_ctx, str(outbox_id))
        [done] = await outbox_rows(committed_sessionmaker)

        assert retry.value.defer_score is not None
        assert 500 <= retry.value.defer_score <= 1000  # base 1 s, 50-100 % jitter
        assert row.attempts == 1
        assert row.dead_at is None
        assert row.completed_at is None
        assert row.last_error == "TransientJobError: provider answered 503"
        assert row.run_after > utc_now()
        assert done.completed_at is not None
        assert done.last_error is None
        assert await effects(committed_sessionmaker, marker) == [f"{marker}:2"]

    async def test_backoff_grows_until_the_tries_run_out_then_the_job_is_dead(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        marker = new_marker()
        outbox_id = await commit_job(
            committed_sessionmaker, "test.flaky", marker=marker, fail_times=99
        )

        delays = []
        for _ in range(2):
            with pytest.raises(Retry) as retry:
                await run_outbox_job(worker_ctx, str(outbox_id))
            delays.append(retry.value.defer_score)
        await run_outbox_job(worker_ctx, str(outbox_id))
        [row] = await outbox_rows(committed_sessionmaker)

        assert delays[0] is not None
        assert 500 <= delays[0] <= 1000
        assert delays[1] is not None
        assert 1000 <= delays[1] <= 2000
        assert row.attempts == 3
        assert row.dead_at is not None
        assert "503" in (row.last_error or "")
        assert await effects(committed_sessionmaker, marker) == []

    async def test_a_permanent_failure_is_dead_at_once(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        marker = new_marker()
        outbox_id = await commit_job(
            committed_sessionmaker, "test.refused", marker=marker
        )

        await run_outbox_job(worker_ctx, str(outbox_id))

        [row] = await outbox_rows(committed_sessionmaker)
        assert row.dead_at is not None
        assert row.attempts == 1
        assert row.last_error == (
            "PermanentJobError: provider answered 422: inactive recipient"
        )
        assert await effects(committed_sessionmaker, marker) == []

    async def test_an_unexpected_error_is_retried_within_the_jobs_own_limit(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        marker = new_marker()
        outbox_id = await commit_job(
            committed_sessionmaker, "test.buggy", marker=marker
        )

        with pytest.raises(Retry):
            await run_outbox_job(worker_ctx, str(outbox_id))
        await run_outbox_job(worker_ctx, str(outbox_id))

        [row] = await outbox_rows(committed_sessionmaker)
        assert row.max_tries == 2
        assert row.dead_at is not None
        assert row.last_error == "RuntimeError: a bug"

    async def test_attempts_that_died_with_their_worker_still_count(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        marker = new_marker()
        outbox_id = await commit_job(
            committed_sessionmaker, "test.record", marker=marker
        )
        async with committed_sessionmaker.begin() as session:
            await session.execute(update(OutboxJob).values(attempts=3))

        await run_outbox_job(worker_ctx, str(outbox_id))

        [row] = await outbox_rows(committed_sessionmaker)
        assert row.dead_at is not None
        assert "3 attempts started and none finished" in (row.last_error or "")
        assert handlers.calls[marker] == 0

    async def test_a_row_naming_no_registered_job_is_dead(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        outbox_id = await commit_job(
            committed_sessionmaker, "test.record", marker=new_marker()
        )
        async with committed_sessionmaker.begin() as session:
            await session.execute(update(OutboxJob).values(job_name="retired.job"))

        await run_outbox_job(worker_ctx, str(outbox_id))

        [row] = await outbox_rows(committed_sessionmaker)
        assert row.dead_at is not None
        assert "retired.job" in (row.last_error or "")


class TestDeadJobs:
    async def test_a_dead_job_is_listed_and_replayed_to_completion(
        self,
        worker_ctx: dict[str, Any],
        job_settings: Settings,
        queue: ArqRedis,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        marker = new_marker()
        outbox_id = await commit_job(
            committed_sessionmaker, "test.flaky", marker=marker, fail_times=3
        )
        for _ in range(2):
            with pytest.raises(Retry):
                await run_outbox_job(worker_ctx, str(outbox_id))
        await run_outbox_job(worker_ctx, str(outbox_id))
        async with committed_sessionmaker() as session:
            dead = await service.list_jobs(session, state="dead")

        async with committed_sessionmaker() as session:
            await service.retry_dead_job(session, outbox_id)
            await session.commit()
            await dispatch_pending(session, queue, job_settings)
        await drain(job_settings)

        assert [row.id for row in dead] == [outbox_id]
        [row] = await outbox_rows(committed_sessionmaker)
        assert row.completed_at is not None
        assert row.dead_at is None
        assert row.attempts == 1
        assert handlers.calls[marker] == 4

    async def test_only_a_dead_job_can_be_retried(
        self, committed_sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        outbox_id = await commit_job(
            committed_sessionmaker, "test.record", marker=new_marker()
        )

        async with committed_sessionmaker() as session:
            with pytest.raises(service.JobNotDead):
                await service.retry_dead_job(session, outbox_id)
            with pytest.raises(service.JobNotFound):
                await service.retry_dead_job(session, uuid.uuid4())


class TestPrune:
    async def test_only_completed_rows_past_retention_are_deleted(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        ids = [
            await commit_job(committed_sessionmaker, "test.record", marker=new_marker())
            for _ in range(4)
        ]
        old, recent, dead, pending = ids
        long_ago = utc_now() - timedelta(days=8)
        async with committed_sessionmaker.begin() as session:
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == old)
                .values(completed_at=long_ago)
            )
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == recent)
                .values(completed_at=utc_now())
            )
            await session.execute(
                update(OutboxJob).where(OutboxJob.id == dead).values(dead_at=long_ago)
            )

        deleted = await prune_outbox(worker_ctx)

        async with committed_sessionmaker() as session:
            left = set(await session.scalars(select(OutboxJob.id)))
            total = await session.scalar(select(func.count()).select_from(OutboxJob))
        assert deleted == 1
        assert left == {recent, dead, pending}
        assert total == 3


class JobLines(logging.Handler):
    """The runner's lines, formatted as they are written (with their context)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] == name]


@pytest.fixture
def job_lines() -> Iterator[JobLines]:
    logger = logging.getLogger("asset_anchor.jobs.runner")
    handler = JobLines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


class TestLogging:
    async def test_each_try_logs_its_start_and_end_with_the_enqueuing_request(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
        job_lines: JobLines,
    ) -> None:
        with bound(request_id="req-4f2a9c01"):
            outbox_id = await commit_job(
                committed_sessionmaker, "test.record", marker=new_marker()
            )

        await run_outbox_job(worker_ctx, str(outbox_id))

        [started] = job_lines.events("job.started")
        [finished] = job_lines.events("job.finished")
        for line in (started, finished):
            assert line["job"] == "test.record"
            assert line["outbox_id"] == str(outbox_id)
            assert line["attempt"] == 1
            assert line["enqueued_by"] == "req-4f2a9c01"
        assert finished["outcome"] == "done"
        assert isinstance(finished["duration_ms"], int | float)
        assert finished["duration_ms"] >= 0

    async def test_a_retried_job_logs_each_try_with_its_number(
        self,
        worker_ctx: dict[str, Any],
        committed_sessionmaker: async_sessionmaker[AsyncSession],
        job_lines: JobLines,
    ) -> None:
        outbox_id = await commit_job(
            committed_sessionmaker, "test.flaky", marker=new_marker(), fail_times=1
        )

        with pytest.raises(Retry):
            await run_outbox_job(worker_ctx, str(outbox_id))
        await run_outbox_job(worker_ctx, str(outbox_id))

        started = job_lines.events("job.started")
        finished = job_lines.events("job.finished")
        assert [line["attempt"] for line in started] == [1, 2]
        assert [(line["attempt"], line["outcome"]) for line in finished] == [
            (1, "retry"),
            (2, "done"),
        ]
        assert {line["outbox_id"] for line in started + finished} == {str(outbox_id)}
        assert all(line["enqueued_by"] is None for line in started + finished)
        [retrying] = job_lines.events("job.retrying")
        assert retrying["attempt"] == 1
