"""No two active leases of one unit overlap: serially, and under concurrency.

The concurrent tests run on real, committed transactions (the unit's lock is
what they prove), so they build their rows in their own organization and
delete it afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.leases import transitions
from asset_anchor.leases.errors import LeaseOverlap
from asset_anchor.models import Lease, Organization, Property, Unit, User
from asset_anchor.organizations.scope import StaffScope
from tests.leases.factories import active_lease, draft_lease
from tests.portfolio.conftest import Account, ok


async def activate(
    api: httpx.AsyncClient, owner: Account, lease_id: str
) -> httpx.Response:
    return await api.post(f"/api/v1/leases/{lease_id}/activate", headers=owner.headers)


class TestOverlapRefused:
    async def test_an_overlapping_draft_is_refused_naming_the_active_lease(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        current = await active_lease(api, owner, unit["id"])
        later = await draft_lease(
            api, owner, unit["id"], start_date="2026-12-31", end_date="2027-12-30"
        )

        answer = await activate(api, owner, later["id"])

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_overlap"
        assert answer.json()["conflicting_lease_id"] == current["id"]
        still = ok(
            await api.get(f"/api/v1/leases/{later['id']}", headers=owner.headers)
        )
        assert still["status"] == "draft"

    async def test_a_draft_starting_the_day_after_the_end_date_activates(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        await active_lease(api, owner, unit["id"])
        later = await draft_lease(
            api, owner, unit["id"], start_date="2027-01-01", end_date="2027-12-31"
        )

        answer = await activate(api, owner, later["id"])

        assert ok(answer)["status"] == "active"

    async def test_an_open_ended_lease_overlaps_every_later_one(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        current = await active_lease(api, owner, unit["id"], end_date=None)
        later = await draft_lease(
            api, owner, unit["id"], start_date="2035-01-01", end_date="2035-12-31"
        )

        answer = await activate(api, owner, later["id"])

        assert answer.status_code == 409
        assert answer.json()["conflicting_lease_id"] == current["id"]

    async def test_an_open_ended_draft_overlaps_an_earlier_active_lease(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        await active_lease(api, owner, unit["id"])
        earlier = await draft_lease(
            api, owner, unit["id"], start_date="2025-01-01", end_date=None
        )

        answer = await activate(api, owner, earlier["id"])

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_overlap"

    async def test_an_ended_lease_no_longer_blocks_its_dates(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        current = await active_lease(api, owner, unit["id"])
        ok(
            await api.post(
                f"/api/v1/leases/{current['id']}/terminate",
                json={"ended_on": "2026-03-31", "reason": "Moved out"},
                headers=owner.headers,
            )
        )
        next_one = await draft_lease(
            api, owner, unit["id"], start_date="2026-04-01", end_date="2027-03-31"
        )

        answer = await activate(api, owner, next_one["id"])

        assert ok(answer)["status"] == "active"

    async def test_leases_of_other_units_never_overlap(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        await active_lease(api, owner, unit["id"])
        other_unit = ok(
            await api.post(
                f"/api/v1/properties/{unit['property_id']}/units",
                json={"label": "Other"},
                headers=owner.headers,
            ),
            201,
        )
        other = await draft_lease(api, owner, other_unit["id"])

        assert ok(await activate(api, owner, other["id"]))["status"] == "active"


@dataclass
class Committed:
    scope: StaffScope
    unit_id: uuid.UUID
    first: uuid.UUID
    second: uuid.UUID


@pytest.fixture
async def two_overlapping_drafts(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Committed]:
    """Two committed drafts of one unit sharing June 2026; removed afterwards."""
    organization_id, user_id = uuid.uuid4(), uuid.uuid4()
    property_id, unit_id = uuid.uuid4(), uuid.uuid4()
    first, second = uuid.uuid4(), uuid.uuid4()
    address = f"user.{secrets.token_hex(5)}@example.test"
    async with committed_sessionmaker() as session:
        session.add(
            User(id=user_id, email=address, email_normalized=address, full_name="Jo")
        )
        session.add(Organization(id=organization_id, name="Concurrent Homes"))
        await session.flush()
        session.add(
            Property(
                id=property_id,
                organization_id=organization_id,
                name="Oak House",
                kind="single_family",
                address_line1="1 Oak Street",
                city="Portland",
                country="US",
                timezone="America/Los_Angeles",
            )
        )
        await session.flush()
        session.add(
            Unit(
                id=unit_id,
                organization_id=organization_id,
                property_id=property_id,
                label="Whole house",
                currency="USD",
            )
        )
        await session.flush()
        for lease_id, start, end in (
            (first, date(2026, 1, 1), date(2026, 12, 31)),
            (second, date(2026, 6, 1), None),
        ):
            session.add(
                Lease(
                    id=lease_id,
                    organization_id=organization_id,
                    unit_id=unit_id,
                    property_id=property_id,
                    status="draft",
                    start_date=start,
                    end_date=end,
                    rent_amount=100_000,
                    currency="USD",
                    due_day=1,
                )
            )
        await session.commit()
    try:
        yield Committed(
            StaffScope(user_id, organization_id, "owner"), unit_id, first, second
        )
    finally:
        async with committed_sessionmaker() as session:
            # Everything of the organization (leases, audit events) goes with it.
            await session.execute(
                delete(Organization).where(Organization.id == organization_id)
            )
            await session.execute(delete(User).where(User.id == user_id))
            await session.commit()


async def active_leases_of(
    sessionmaker: async_sessionmaker[AsyncSession], unit_id: uuid.UUID
) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(
                Lease.unit_id == unit_id, Lease.status == "active"
            )
        )
    return int(count or 0)


async def wait_until_waiting_for_a_lock(
    sessionmaker: async_sessionmaker[AsyncSession], backend_pid: int
) -> None:
    async with sessionmaker() as session:
        for _ in range(200):
            waiting = await session.scalar(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": backend_pid},
            )
            await session.rollback()
            if waiting == "Lock":
                return
            await asyncio.sleep(0.025)
    raise AssertionError("the second activation never waited for the unit's lock")


class TestOverlapUnderConcurrency:
    async def test_an_activation_waits_for_the_other_and_then_sees_it(
        self,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
        two_overlapping_drafts: Committed,
    ) -> None:
        drafts = two_overlapping_drafts
        async with (
            committed_sessionmaker() as first,
            committed_sessionmaker() as second,
        ):
            await transitions.activate(first, drafts.scope, drafts.first)
            pid = await second.scalar(text("SELECT pg_backend_pid()"))
            assert isinstance(pid, int)
            blocked = asyncio.create_task(
                transitions.activate(second, drafts.scope, drafts.second)
            )
            await wait_until_waiting_for_a_lock(committed_sessionmaker, pid)

            await first.commit()

            with pytest.raises(LeaseOverlap) as refused:
                await blocked
            await second.rollback()

        assert refused.value.extra["conflicting_lease_id"] == str(drafts.first)
        assert await active_leases_of(committed_sessionmaker, drafts.unit_id) == 1

    async def test_of_two_activations_at_once_exactly_one_succeeds(
        self,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
        two_overlapping_drafts: Committed,
    ) -> None:
        drafts = two_overlapping_drafts

        async def activate_and_commit(lease_id: uuid.UUID) -> str:
            async with committed_sessionmaker() as session:
                lease = await transitions.activate(session, drafts.scope, lease_id)
                await session.commit()
                return lease.status

        outcomes = await asyncio.gather(
            activate_and_commit(drafts.first),
            activate_and_commit(drafts.second),
            return_exceptions=True,
        )

        assert sorted(type(outcome).__name__ for outcome in outcomes) == [
            "LeaseOverlap",
            "str",
        ]
        assert "active" in outcomes
        assert await active_leases_of(committed_sessionmaker, drafts.unit_id) == 1
