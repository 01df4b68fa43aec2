"""The billing crons as the worker runs them: window by window, committed,
emails handed to the queue after each commit.

These commit for real (the crons open their own transactions), in an
organization of their own that is deleted afterwards. The crons take the
real clock, so the leases are made to fall due today at their property.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis, create_pool
from redis.asyncio import Redis
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.billing import tasks
from asset_anchor.billing.schedule import LeaseWindow
from asset_anchor.jobs.queue import deserialize, serialize
from asset_anchor.kit.time import utc_now
from asset_anchor.leases.terms import local_today
from asset_anchor.models import Email, LedgerEntry, Organization, OutboxJob, User
from asset_anchor.settings import Settings
from asset_anchor.worker import redis_settings
from tests.billing.schedule_support import Place, make_lease, make_organization
from tests.conftest import REDIS_PREFIX, make_settings


def midday_zone() -> str:
    """A zone where it is about noon now, so that reminders are sendable."""
    offset = 12 - utc_now().hour  # -11 to +12 hours
    # The Etc zones count the other way: Etc/GMT-3 is three hours ahead.
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.fixture
def settings_of_test(database_url: str, redis_url: str) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        redis_key_prefix=f"{REDIS_PREFIX}billing-{uuid.uuid4().hex[:8]}:",
    )


@pytest.fixture
async def queue(settings_of_test: Settings) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(
        redis_settings(settings_of_test),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings_of_test.arq_queue_name,
    )
    yield pool
    keys = [
        key
        async for key in pool.scan_iter(match=f"*{settings_of_test.redis_key_prefix}*")
    ]
    if keys:
        await pool.delete(*keys)
    await pool.aclose()


@pytest.fixture
def ctx(
    settings_of_test: Settings,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    queue: ArqRedis,
) -> dict[str, Any]:
    """What arq hands a cron: the settings, the job sessions, Redis."""
    return {
        "settings": settings_of_test,
        "sessionmaker": committed_sessionmaker,
        "redis": queue,
    }


@dataclass
class World:
    place: Place
    address: str
    """Where this test's tenants get their email."""


@pytest.fixture
async def world(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[World]:
    async with committed_sessionmaker.begin() as session:
        made = await make_organization(session, days_ahead=0, reminder_days=3)
    address = f"tenant.{uuid.uuid4().hex[:10]}@example.test"
    try:
        yield World(made, address)
    finally:
        async with committed_sessionmaker.begin() as session:
            email_ids = [
                str(found)
                for found in await session.scalars(
                    select(Email.id).where(Email.to_address == address)
                )
            ]
            await session.execute(
                delete(OutboxJob).where(
                    OutboxJob.arguments["email_id"].astext.in_(email_ids)
                )
            )
            await session.execute(delete(Email).where(Email.to_address == address))
            # The ledger, the leases and the audit log go with the organization.
            await session.execute(
                delete(Organization).where(Organization.id == made.organization.id)
            )
            await session.execute(delete(User).where(User.id == made.owner.user_id))


async def leases_due_today(
    sessions: async_sessionmaker[AsyncSession], world: World, count: int
) -> list[uuid.UUID]:
    """``count`` leases whose rent falls due today at their property."""
    zone = midday_zone()
    today = local_today(zone, utc_now())
    async with sessions.begin() as session:
        leases = [
            await make_lease(
                session,
                world.place,
                start=today.replace(day=1),
                due_day=today.day,
                activated_at=utc_now() - timedelta(minutes=5),
                timezone=zone,
                tenants=(("Dana Tenant", world.address),),
            )
            for _ in range(count)
        ]
    return [lease.id for lease in leases]


async def rent_rows(
    sessions: async_sessionmaker[AsyncSession], lease_ids: list[uuid.UUID]
) -> int:
    async with sessions() as session:
        found = await session.scalar(
            select(func.count()).where(
                LedgerEntry.lease_id.in_(lease_ids), LedgerEntry.category == "rent"
            )
        )
    return int(found or 0)


class TestWindows:
    async def test_every_window_is_reached_and_each_lease_charged_once(
        self,
        ctx: dict[str, Any],
        world: World,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        lease_ids = await leases_due_today(committed_sessionmaker, world, 5)
        monkeypatch.setattr(tasks, "WINDOW_SIZE", 2)

        first = await tasks.generate_rent(ctx)
        second = await tasks.generate_rent(ctx)

        assert await rent_rows(committed_sessionmaker, lease_ids) == 5
        assert first >= 5
        assert second == 0

    async def test_a_run_out_of_time_starts_no_further_window(
        self, ctx: dict[str, Any], world: World
    ) -> None:
        seen: list[LeaseWindow] = []

        async def step(session: AsyncSession, window: LeaseWindow) -> None:
            seen.append(window)

        results, finished = await tasks.each_window(ctx, step, size=1, budget_seconds=0)

        assert (results, finished, seen) == ([], False, [])


class TestReminderCron:
    async def test_the_reminder_is_queued_and_handed_to_the_worker(
        self,
        ctx: dict[str, Any],
        world: World,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
        settings_of_test: Settings,
        queue: ArqRedis,
    ) -> None:
        [lease_id] = await leases_due_today(committed_sessionmaker, world, 1)
        await tasks.generate_rent(ctx)

        sent = await tasks.send_rent_reminders(ctx)
        again = await tasks.send_rent_reminders(ctx)

        async with committed_sessionmaker() as session:
            [email] = list(
                await session.scalars(
                    select(Email).where(
                        Email.context["lease_id"].astext == str(lease_id)
                    )
                )
            )
            outbox = await session.scalar(
                select(OutboxJob.id).where(
                    OutboxJob.arguments["email_id"].astext == str(email.id)
                )
            )
        assert (sent, again) == (1, 0)
        assert email.kind == "rent_reminder"
        assert email.context["due_today"] is True
        prefix = settings_of_test.redis_key_prefix
        redis: Redis = queue
        assert await redis.zscore(f"{prefix}queue", f"{prefix}outbox:{outbox}")
