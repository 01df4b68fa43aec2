"""Stored answers to ``Idempotency-Key`` requests: retention."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import IdempotencyKey

PRUNE_BATCH_SIZE = 1000


async def prune_expired(
    session: AsyncSession, *, now: datetime, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete up to ``batch_size`` expired keys; return how many went.

    Deleting in bounded batches keeps each transaction short, so a backlog never
    holds locks on the table for long.
    """
    expired = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.expires_at <= now)
        .order_by(IdempotencyKey.expires_at)
        .limit(batch_size)
        .scalar_subquery()
    )
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id.in_(expired))
        .returning(IdempotencyKey.id)
    )
    return len(result.all())
