"""Looking after the outbox: what is pending or dead, replaying the dead."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.errors import Conflict, NotFound
from asset_anchor.kit.time import utc_now
from asset_anchor.models import OutboxJob

JobState = Literal["pending", "dead", "completed"]

SWEEP_BATCH_SIZE = 500
PRUNE_BATCH_SIZE = 1000


class JobNotFound(NotFound):
    code = "job_not_found"
    title = "No such job"


class JobNotDead(Conflict):
    code = "job_not_dead"
    title = "Only a dead job can be retried"


def _in_state(state: JobState) -> ColumnElement[bool]:
    if state == "dead":
        return OutboxJob.dead_at.is_not(None)
    if state == "completed":
        return OutboxJob.completed_at.is_not(None)
    return OutboxJob.completed_at.is_(None) & OutboxJob.dead_at.is_(None)


async def list_jobs(
    session: AsyncSession, *, state: JobState, limit: int = 50
) -> list[OutboxJob]:
    """Newest first."""
    rows = await session.scalars(
        select(OutboxJob)
        .where(_in_state(state))
        .order_by(OutboxJob.created_at.desc(), OutboxJob.id)
        .limit(limit)
    )
    return list(rows)


async def retry_dead_job(session: AsyncSession, outbox_id: uuid.UUID) -> OutboxJob:
    """Give a dead job a fresh set of tries; the caller dispatches after commit."""
    from asset_anchor.jobs.outbox import remember_for_dispatch

    row = await session.scalar(
        select(OutboxJob).where(OutboxJob.id == outbox_id).with_for_update()
    )
    if row is None:
        raise JobNotFound(f"There is no job {outbox_id}.")
    if row.dead_at is None:
        raise JobNotDead(f"Job {outbox_id} is not dead.")
    row.dead_at = None
    row.attempts = 0
    row.run_after = utc_now()
    remember_for_dispatch(session, row)
    return row


async def dead_job_ids(session: AsyncSession) -> list[uuid.UUID]:
    return list(await session.scalars(select(OutboxJob.id).where(_in_state("dead"))))


async def due_job_ids(
    session: AsyncSession, *, due_before: datetime, limit: int = SWEEP_BATCH_SIZE
) -> list[tuple[uuid.UUID, datetime]]:
    """Pending rows whose time has come, oldest first."""
    rows = await session.execute(
        select(OutboxJob.id, OutboxJob.run_after)
        .where(_in_state("pending"), OutboxJob.run_after <= due_before)
        .order_by(OutboxJob.run_after)
        .limit(limit)
    )
    return [(row.id, row.run_after) for row in rows]


async def prune_completed(
    session: AsyncSession, *, completed_before: datetime, limit: int = PRUNE_BATCH_SIZE
) -> int:
    old = (
        select(OutboxJob.id)
        .where(OutboxJob.completed_at < completed_before)
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(
        delete(OutboxJob).where(OutboxJob.id.in_(old)).returning(OutboxJob.id)
    )
    return len(result.all())
