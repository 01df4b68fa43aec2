"""``asset-anchor billing run-rent``: the rent job by hand, for a given day.

The command commits, so the lease is committed too, in an organization of its
own that is deleted afterwards. It starts next month, so that only the
command's ``--date`` reaches its first rent.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.kit.time import utc_now
from asset_anchor.models import LedgerEntry, Organization, User
from asset_anchor.settings import Settings
from tests.billing.schedule_support import make_lease, make_organization
from tests.test_cli import run_command


@dataclass
class World:
    lease_id: uuid.UUID
    start: date


def next_month() -> date:
    today = utc_now().date()
    return (today.replace(day=1) + timedelta(days=32)).replace(day=1)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    """The command's environment: this run's database and nothing else."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)


@pytest.fixture
async def world(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[World]:
    start = next_month()
    async with committed_sessionmaker.begin() as session:
        place = await make_organization(session, days_ahead=0)
        lease = await make_lease(session, place, start=start, due_day=5)
    try:
        yield World(lease.id, start)
    finally:
        async with committed_sessionmaker.begin() as session:
            # The ledger, the lease and the audit log go with the organization.
            await session.execute(
                delete(Organization).where(Organization.id == place.organization.id)
            )
            await session.execute(delete(User).where(User.id == place.owner.user_id))


async def rent_periods(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> list[date | None]:
    async with sessions() as session:
        found = await session.scalars(
            select(LedgerEntry.rent_period)
            .where(LedgerEntry.lease_id == world.lease_id)
            .order_by(LedgerEntry.rent_period)
        )
    return list(found)


async def test_the_given_day_is_today_at_every_property(
    world: World,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
) -> None:
    day = world.start.replace(day=5).isoformat()

    code = run_command(["billing", "run-rent", "--date", day])

    out = capsys.readouterr().out
    assert code == 0
    assert await rent_periods(committed_sessionmaker, world) == [world.start]
    assert f"1 rent charge(s) made on 1 lease(s) with {day} as today" in out


async def test_running_it_again_makes_nothing_more(
    world: World,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
) -> None:
    day = world.start.replace(day=5).isoformat()
    run_command(["billing", "run-rent", "--date", day])
    capsys.readouterr()

    code = run_command(["billing", "run-rent", "--date", day])

    assert code == 0
    assert "0 rent charge(s) made on 0 lease(s)" in capsys.readouterr().out
    assert await rent_periods(committed_sessionmaker, world) == [world.start]


async def test_a_date_far_from_today_is_refused(
    world: World,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
) -> None:
    far = (utc_now().date() + timedelta(days=400)).isoformat()

    code = run_command(["billing", "run-rent", "--date", far])

    assert code == 2
    assert "more than 62 days from today; nothing was charged" in (
        capsys.readouterr().err
    )
    assert await rent_periods(committed_sessionmaker, world) == []


def test_a_date_that_is_not_one_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_command(["billing", "run-rent", "--date", "1 March"])

    assert exited.value.code == 2
    assert "invalid fromisoformat value" in capsys.readouterr().err
