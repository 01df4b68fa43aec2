"""Running one outbox row: at least once, idempotently, with honest retries.

The arq function ``outbox.run`` receives an outbox id and:

1. claims an attempt in a short transaction of its own (so an attempt that
   dies with the process still counts, and a job that keeps killing its
   worker ends as dead instead of looping);
2. runs the handler in a second transaction that holds the row's lock, inside
   a savepoint, and marks the row completed in that same transaction;
3. on failure, rolls the handler's effects back to the savepoint, records the
   error, and either schedules the next try (``arq.Retry`` with jittered
   exponential backoff) or marks the row dead.

A row that is completed, dead, or locked by another run is skipped, so a job
delivered twice does its work once.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from arq.worker import Retry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.jobs.catalog import job_spec
from asset_anchor.jobs.context import JobContext
from asset_anchor.jobs.errors import PermanentJobError, TransientJobError
from asset_anchor.jobs.outbox import discard_pending, dispatch_pending
from asset_anchor.jobs.registry import call
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import bound, get_logger
from asset_anchor.models import OutboxJob
from asset_anchor.settings import Settings

log = get_logger(__name__)

_MAX_ERROR_LENGTH = 2000


def retry_delay(settings: Settings, attempt: int, hint: float | None = None) -> float:
    """Jittered exponential backoff: base * 2^(attempt-1), capped, 50-100 %."""
    ceiling = min(
        settings.job_retry_max_seconds,
        settings.job_retry_base_seconds * 2 ** (attempt - 1),
    )
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
    if hint is not None:
        delay = max(delay, min(hint, settings.job_retry_max_seconds))
    return delay


def describe(error: BaseException) -> str:
    """A bounded, single-line account of an error for the row and the logs."""
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    return text[:_MAX_ERROR_LENGTH]


async def _lock(session: AsyncSession, outbox_id: uuid.UUID) -> OutboxJob | None:
    row: OutboxJob | None = await session.scalar(
        select(OutboxJob)
        .where(OutboxJob.id == outbox_id)
        .with_for_update(skip_locked=True)
    )
    return row


def tries_allowed(row: OutboxJob, settings: Settings) -> int:
    return row.max_tries or settings.job_max_tries


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    outbox_id: uuid.UUID,
) -> OutboxJob | None:
    """Count an attempt; None when there is nothing to run (done, dead, busy)."""
    async with sessionmaker.begin() as session:
        row = await _lock(session, outbox_id)
        if row is None or row.completed_at is not None or row.dead_at is not None:
            return None
        now = utc_now()
        if row.attempts >= tries_allowed(row, settings):
            row.dead_at = now
            row.last_error = (
                f"{row.attempts} attempts started and none finished"
                f" (last error: {row.last_error or 'none recorded'})"
            )[:_MAX_ERROR_LENGTH]
            log.error("job.dead", job=row.job_name, attempts=row.attempts)
            return None
        row.attempts += 1
        row.last_attempt_at = now
        return row


async def run_outbox_job(ctx: dict[str, Any], outbox_id: str) -> None:
    """The arq function behind every outbox job."""
    settings: Settings = ctx["settings"]
    sessionmaker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    http: httpx.AsyncClient = ctx["http"]
    row_id = uuid.UUID(outbox_id)

    claimed = await _claim(sessionmaker, settings, row_id)
    if claimed is None:
        log.info("job.skipped", outbox_id=outbox_id)
        return

    with bound(
        job=claimed.job_name,
        outbox_id=outbox_id,
        attempt=claimed.attempts,
        enqueued_by=claimed.request_id,
    ):
        retry_in = await _run_claimed(ctx, settings, sessionmaker, http, row_id)
    if retry_in is not None:
        raise Retry(defer=timedelta(seconds=retry_in))


async def _run_claimed(
    ctx: dict[str, Any],
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    row_id: uuid.UUID,
) -> float | None:
    """Run the handler; return seconds until the next try, or None."""
    started = time.perf_counter()
    retry_in: float | None = None
    async with sessionmaker() as session:
        try:
            async with session.begin():
                row = await _lock(session, row_id)
                if row is None or row.completed_at is not None or row.dead_at:
                    log.info("job.skipped")
                    return None
                log.info("job.started")
                retry_in = await _attempt(session, settings, http, row)
        except BaseException:
            discard_pending(session)
            raise
        await dispatch_pending(session, ctx.get("redis"), settings)
    log.info(
        "job.finished",
        outcome="retry" if retry_in is not None else "done",
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return retry_in


async def _attempt(
    session: AsyncSession, settings: Settings, http: httpx.AsyncClient, row: OutboxJob
) -> float | None:
    """Run the handler inside a savepoint and record what happened on the row."""
    spec = job_spec(row.job_name)
    # Read before the savepoint: a rolled-back savepoint may expire the row,
    # and an expired attribute cannot be loaded implicitly in async code.
    attempts, arguments = row.attempts, dict(row.arguments)
    max_tries = tries_allowed(row, settings)
    if spec is None:
        row.dead_at = utc_now()
        row.last_error = f"no handler is registered for {row.job_name!r}"
        log.error("job.dead", reason="unknown_job")
        return None

    context = JobContext(
        session=session,
        settings=settings,
        http=http,
        outbox_id=row.id,
        job_name=row.job_name,
        attempt=attempts,
        request_id=row.request_id,
    )
    try:
        async with session.begin_nested():
            await call(spec, context, arguments)
            await session.flush()
    except PermanentJobError as error:
        row.dead_at = utc_now()
        row.last_error = describe(error)
        log.error("job.dead", reason="permanent", error=row.last_error)
        return None
    except Exception as error:
        row.last_error = describe(error)
        hint = (
            error.retry_after_seconds if isinstance(error, TransientJobError) else None
        )
        if attempts >= max_tries:
            row.dead_at = utc_now()
            log.error("job.dead", reason="out_of_tries", error=row.last_error)
            return None
        delay = retry_delay(settings, attempts, hint)
        row.run_after = utc_now() + timedelta(seconds=delay)
        log.warning(
            "job.retrying",
            error=row.last_error,
            retry_in_seconds=round(delay, 2),
            expected=isinstance(error, TransientJobError),
        )
        return delay

    row.completed_at = utc_now()
    row.last_error = None
    return None
