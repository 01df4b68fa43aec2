"""Two runs of the schedule at once charge each period and fee once.

These run on real, committed transactions: what they prove is the unique
keys at work between two connections, which one rolled-back transaction
cannot show. They build an organization of their own and delete it after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.billing import schedule
from asset_anchor.models import AuditEvent, LedgerEntry, Organization, User
from tests.billing.schedule_support import at, make_lease, make_organization

LEASES = 12


@dataclass
class World:
    organization_id: uuid.UUID
    lease_ids: list[uuid.UUID]


@pytest.fixture
async def world(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[World]:
    async with committed_sessionmaker.begin() as session:
        place = await make_organization(session, days_ahead=0)
        leases = [
            await make_lease(
                session,
                place,
                start=date(2027, 1, 1),
                due_day=1 + index,
                late_fee_kind="flat",
                late_fee_flat_amount=1_000,
                late_fee_frequency="daily",
                late_fee_grace_days=0,
            )
            for index in range(LEASES)
        ]
    try:
        yield World(place.organization.id, [lease.id for lease in leases])
    finally:
        async with committed_sessionmaker.begin() as session:
            # The ledger, the leases and the audit log go with the organization.
            await session.execute(
                delete(Organization).where(Organization.id == place.organization.id)
            )
            await session.execute(delete(User).where(User.id == place.owner.user_id))


async def run_and_hold(
    sessions: async_sessionmaker[AsyncSession],
    job: str,
    now: datetime,
) -> schedule.Written:
    """One run in a transaction that stays open a moment after its insert, so
    the other run meets its rows while they are uncommitted."""
    async with sessions.begin() as session:
        if job == "rent":
            written = await schedule.charge_rent(session, now=now)
        else:
            written = await schedule.charge_late_fees(session, now=now)
        await session.execute(text("SELECT pg_sleep(0.3)"))
    return written


async def count(
    sessions: async_sessionmaker[AsyncSession], world: World, category: str
) -> tuple[int, int, int]:
    """Rows of the category, distinct keys among them, and their audit events."""
    async with sessions() as session:
        key = (
            func.concat(LedgerEntry.lease_id, LedgerEntry.rent_period)
            if category == "rent"
            else func.concat(LedgerEntry.source_entry_id, LedgerEntry.fee_key)
        )
        rows, keys = (
            await session.execute(
                select(func.count(), func.count(func.distinct(key))).where(
                    LedgerEntry.lease_id.in_(world.lease_ids),
                    LedgerEntry.category == category,
                )
            )
        ).one()
        audited = await session.scalar(
            select(func.count()).where(
                AuditEvent.organization_id == world.organization_id,
                AuditEvent.action == f"ledger.{category}_charged",
            )
        )
    return int(rows), int(keys), int(audited or 0)


async def test_two_rent_runs_at_once_charge_each_period_once(
    committed_sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    # 12 January: every lease's January rent is due (due days 1 to 12).
    now = at(2027, 1, 12, 12)

    first, second = await asyncio.gather(
        run_and_hold(committed_sessionmaker, "rent", now),
        run_and_hold(committed_sessionmaker, "rent", now),
    )

    rows, keys, audited = await count(committed_sessionmaker, world, "rent")
    assert (rows, keys, audited) == (LEASES, LEASES, LEASES)
    assert first.entries + second.entries == LEASES


async def test_two_late_fee_runs_at_once_charge_each_fee_once(
    committed_sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with committed_sessionmaker.begin() as session:
        await schedule.charge_rent(session, now=at(2027, 1, 1, 12))
    # The first lease's rent (due 1 January) is late from the 2nd: one daily
    # fee for each of the 2nd to the 4th.
    now = at(2027, 1, 4, 12)

    first, second = await asyncio.gather(
        run_and_hold(committed_sessionmaker, "late_fee", now),
        run_and_hold(committed_sessionmaker, "late_fee", now),
    )

    rows, keys, audited = await count(committed_sessionmaker, world, "late_fee")
    assert (rows, keys, audited) == (3, 3, 3)
    assert first.entries + second.entries == 3
