"""Enqueue work in the caller's transaction; hand it to arq after commit.

    row = enqueue(session, "email.send", email_id=str(email.id))

writes an ``outbox_jobs`` row in the caller's transaction and remembers it on
the session. The two places that commit (the request's session dependency and
the worker's job runner) call ``dispatch_pending`` after a successful commit
and ``discard_pending`` after a rollback, so a job is handed over only for work
that was saved, and never for work that was rolled back.

The hand-over is time-boxed: when Redis is slow or down the request still
answers at once, and the worker's sweep hands the row over later.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.jobs.queue import RUN_OUTBOX_JOB, arq_job_id
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import current_context, get_logger
from asset_anchor.models import OutboxJob
from asset_anchor.settings import Settings

log = get_logger(__name__)

_PENDING = "asset_anchor.outbox.pending"


class UnknownJob(ValueError):
    """No handler is registered under that job name."""


def enqueue(
    session: AsyncSession,
    job_name: str,
    *,
    run_after: datetime | None = None,
    max_tries: int | None = None,
    **arguments: Any,
) -> OutboxJob:
    """Write a job to the outbox in the session's transaction.

    Arguments must be JSON values (pass ids as strings): the job reloads what
    it needs, so it sees the committed state, not a stale object.
    """
    from asset_anchor.jobs.catalog import job_spec

    spec = job_spec(job_name)
    if spec is None:
        raise UnknownJob(job_name)
    json.dumps(arguments)  # a TypeError here beats a poisoned row later
    request_id = current_context().get("request_id")
    row = OutboxJob(
        id=uuid.uuid4(),
        job_name=job_name,
        arguments=arguments,
        request_id=str(request_id) if request_id is not None else None,
        run_after=run_after or utc_now(),
        attempts=0,
        max_tries=max_tries or spec.max_tries,
    )
    session.add(row)
    remember_for_dispatch(session, row)
    return row


def remember_for_dispatch(session: AsyncSession, row: OutboxJob) -> None:
    """Hand this row over when the session's transaction commits."""
    session.info.setdefault(_PENDING, []).append((row.id, row.run_after))


def discard_pending(session: AsyncSession) -> None:
    """The transaction rolled back: its jobs do not exist."""
    session.info.pop(_PENDING, None)


async def dispatch_pending(
    session: AsyncSession, queue: ArqRedis | None, settings: Settings
) -> int:
    """Hand the session's committed jobs to arq; return how many went.

    Never raises for Redis trouble: whatever is not handed over now is found
    by the sweep.
    """
    pending: list[tuple[uuid.UUID, datetime]] = session.info.pop(_PENDING, [])
    if not pending or queue is None:
        return 0
    sent = 0
    try:
        async with asyncio.timeout(settings.outbox_handover_timeout_seconds):
            for outbox_id, run_after in pending:
                await hand_over(queue, settings, outbox_id, run_after)
                sent += 1
    except (RedisError, OSError, TimeoutError) as error:
        log.warning(
            "outbox.handover_deferred",
            pending=len(pending) - sent,
            error_type=type(error).__name__,
        )
    return sent


async def hand_over(
    queue: ArqRedis, settings: Settings, outbox_id: uuid.UUID, run_after: datetime
) -> bool:
    """Put one row on the arq queue; False when arq already holds it."""
    job = await queue.enqueue_job(
        RUN_OUTBOX_JOB,
        str(outbox_id),
        _job_id=arq_job_id(settings, outbox_id),
        _defer_until=run_after if run_after > utc_now() else None,
    )
    return job is not None
