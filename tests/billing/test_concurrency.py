"""Two payments at once never pay one charge twice.

These run on real, committed transactions (the lease's row lock is what they
prove), in an organization of their own that is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.billing import ledger, service
from asset_anchor.billing.schemas import ChargeIn, PaymentIn
from asset_anchor.models import (
    Allocation,
    Lease,
    Organization,
    Property,
    Unit,
    User,
)
from asset_anchor.organizations.scope import StaffScope


@dataclass
class World:
    scope: StaffScope
    lease_id: uuid.UUID


@pytest.fixture
async def world(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[World]:
    organization_id, user_id = uuid.uuid4(), uuid.uuid4()
    property_id, unit_id, lease_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    address = f"user.{secrets.token_hex(5)}@example.test"
    async with committed_sessionmaker.begin() as session:
        session.add(
            User(id=user_id, email=address, email_normalized=address, full_name="Jo")
        )
        session.add(Organization(id=organization_id, name="Concurrent Payments"))
        await session.flush()
        session.add(
            Property(
                id=property_id,
                organization_id=organization_id,
                name="Elm House",
                kind="single_family",
                address_line1="3 Elm Street",
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
        session.add(
            Lease(
                id=lease_id,
                organization_id=organization_id,
                unit_id=unit_id,
                property_id=property_id,
                status="active",
                start_date=date(2026, 1, 1),
                rent_amount=100_000,
                currency="USD",
                due_day=1,
            )
        )
    scope = StaffScope(user_id, organization_id, "owner")
    try:
        yield World(scope, lease_id)
    finally:
        async with committed_sessionmaker.begin() as session:
            # The ledger, the lease and its audit log go with the organization.
            await session.execute(
                delete(Organization).where(Organization.id == organization_id)
            )
            await session.execute(delete(User).where(User.id == user_id))


async def test_two_payments_at_once_pay_a_charge_exactly_once(
    committed_sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with committed_sessionmaker.begin() as session:
        owed = await service.add_charge(
            session,
            world.scope,
            world.lease_id,
            ChargeIn(amount=5_000, due_on=date(2026, 1, 1), description="Repair"),
        )

    async def pay_and_commit() -> None:
        async with committed_sessionmaker.begin() as session:
            await service.record_payment(
                session,
                world.scope,
                world.lease_id,
                PaymentIn(amount=4_000, method="cash"),
            )

    await asyncio.gather(pay_and_commit(), pay_and_commit())

    async with committed_sessionmaker() as session:
        paid_to_charge = await session.scalar(
            select(func.sum(Allocation.amount)).where(Allocation.charge_id == owed.id)
        )
        funds = await ledger.available_funds(session, world.lease_id)
        owing = await ledger.balance(session, world.lease_id)
    assert paid_to_charge == 5_000
    assert sum(fund.available for fund in funds) == 3_000
    assert owing == -3_000
