"""What a job gets from the worker: its own engine, sessions and HTTP client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.settings import Settings


@dataclass(frozen=True)
class JobContext:
    """Everything a job handler may use.

    ``session`` is the job's own transaction: the handler's writes and the
    outbox row's completion commit together, or not at all. Handlers flush,
    never commit.
    """

    session: AsyncSession
    settings: Settings
    http: httpx.AsyncClient
    outbox_id: uuid.UUID
    job_name: str
    attempt: int
    request_id: str | None


@asynccontextmanager
async def job_session(ctx: dict[str, Any]) -> AsyncIterator[AsyncSession]:
    """A unit of work for worker code outside the outbox (cron maintenance).

    Commits when the block ends, rolls back on error. This, the outbox runner
    and the request's session dependency are the only places that commit.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    async with sessionmaker.begin() as session:
        yield session
