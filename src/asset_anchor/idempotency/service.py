"""Stored answers to ``Idempotency-Key`` requests: claiming, replaying, retention.

A request that moves money may carry ``Idempotency-Key``. Its endpoint calls
``claim`` before any work and ``remember`` with its answer; both write in the
request's transaction, so the key, the work and the answer are saved together
or not at all.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.errors import Conflict
from asset_anchor.kit.time import utc_now
from asset_anchor.models import IdempotencyKey
from asset_anchor.settings import Settings

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


# --- answering a repeated request ---------------------------------------------


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with another request"


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique value of yours (a UUID): sending the same request"
        " again with it, within 24 hours, gives the first answer and does the"
        " work once; the same key with another request is a 409.",
    ),
]


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status)


def fingerprint(method: str, path: str, body: BaseModel | None) -> str:
    """What makes two requests the same one: method, path and body."""
    payload = [method, path, body.model_dump(mode="json") if body else None]
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


async def claim(
    session: AsyncSession,
    settings: Settings,
    *,
    scope: str,
    key: str,
    request_fingerprint: str,
) -> Replay | None:
    """Claim the key for this request, or the answer it was given before.

    The key's row is written in the request's own transaction, so a second
    request with the key waits for the first to finish: it then replays the
    first's answer, or gets the key itself when the first failed and left
    nothing. A key older than the retention window is taken over.
    """
    now = utc_now()
    expires_at = now + timedelta(hours=settings.idempotency_key_retention_hours)
    claimed = await session.scalar(
        insert(IdempotencyKey)
        .values(
            id=uuid.uuid4(),
            scope=scope,
            key=key,
            request_fingerprint=request_fingerprint,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(IdempotencyKey.id)
    )
    if claimed is not None:
        return None
    stored = await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .with_for_update()
    )
    assert stored is not None
    if stored.expires_at <= now:
        stored.request_fingerprint = request_fingerprint
        stored.response_status = None
        stored.response_body = None
        stored.expires_at = expires_at
        return None
    if stored.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused
    if stored.response_status is None or stored.response_body is None:
        raise IdempotencyKeyReused("The first request with this key left no answer.")
    return Replay(stored.response_status, stored.response_body)


async def remember(
    session: AsyncSession, *, scope: str, key: str, status: int, body: BaseModel
) -> None:
    """Keep the answer with the key, committed with the work it answers."""
    stored = await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key
        )
    )
    assert stored is not None
    stored.response_status = status
    stored.response_body = body.model_dump(mode="json")
    await session.flush()
