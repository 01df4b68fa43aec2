"""Ledger rows and leases written straight to the database, dated at will.

Rent and late fees are made by the schedule, never by an endpoint, and the
reports need leases in every state and entries on any day: these write them
as the services would, then allocate as every ledger write does.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import ledger
from asset_anchor.models import Lease, LeaseTenant, LedgerEntry, Property, Unit
from tests.portfolio.conftest import Account


def freeze(monkeypatch: pytest.MonkeyPatch, instant: datetime, *modules: str) -> None:
    """A fixed "now" in the modules given, so that reversals (dated today) and
    "as of today" reports fall on the day the test chose."""
    for module in modules:
        monkeypatch.setattr(f"{module}.utc_now", lambda: instant)


async def place(
    db: AsyncSession,
    owner: Account,
    *,
    name: str = "Maple Court",
    timezone: str = "America/Los_Angeles",
    currency: str = "USD",
    label: str | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A property with one unit; its (property id, unit id)."""
    assert owner.organization_id is not None
    prop = Property(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        name=name,
        kind="apartment_building",
        address_line1="1 Test Street",
        city="Portland",
        country="US",
        timezone=timezone,
    )
    db.add(prop)
    await db.flush()
    unit = Unit(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        property_id=prop.id,
        label=label or f"Apt {secrets.token_hex(2)}",
        currency=currency,
    )
    db.add(unit)
    await db.flush()
    return prop.id, unit.id


async def another_unit(
    db: AsyncSession, owner: Account, property_id: uuid.UUID, label: str
) -> tuple[uuid.UUID, uuid.UUID]:
    assert owner.organization_id is not None
    unit = Unit(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        property_id=property_id,
        label=label,
        currency="USD",
    )
    db.add(unit)
    await db.flush()
    return property_id, unit.id


async def lease_row(
    db: AsyncSession,
    owner: Account,
    unit: tuple[uuid.UUID, uuid.UUID],
    *,
    start: date = date(2026, 1, 1),
    end: date | None = None,
    status: str = "active",
    ended_on: date | None = None,
    rent: int = 150_000,
    currency: str = "USD",
    tenants: tuple[str, ...] = ("Dana Tenant",),
) -> uuid.UUID:
    """A lease in any state, its tenants named."""
    assert owner.organization_id is not None
    property_id, unit_id = unit
    lease = Lease(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        unit_id=unit_id,
        property_id=property_id,
        status=status,
        start_date=start,
        end_date=end,
        ended_on=ended_on,
        rent_amount=rent,
        currency=currency,
        due_day=1,
    )
    db.add(lease)
    await db.flush()
    db.add_all(
        LeaseTenant(
            id=uuid.uuid4(),
            organization_id=owner.organization_id,
            lease_id=lease.id,
            full_name=name,
        )
        for name in tenants
    )
    await db.flush()
    return lease.id


async def write(
    db: AsyncSession,
    lease_id: uuid.UUID | str,
    entry_type: str,
    category: str,
    amount: int,
    on: date,
    **values: Any,
) -> uuid.UUID:
    """One ledger row on ``on``, then allocation, as a ledger write does."""
    lease = await db.get(Lease, uuid.UUID(str(lease_id)))
    assert lease is not None
    if entry_type in ("payment", "refund"):
        values.setdefault("method", "check")
    row = LedgerEntry(
        id=uuid.uuid4(),
        organization_id=lease.organization_id,
        lease_id=lease.id,
        entry_type=entry_type,
        category=category,
        amount=amount,
        currency=lease.currency,
        effective_on=on,
        **values,
    )
    db.add(row)
    await db.flush()
    await ledger.allocate(db, lease.organization_id, lease.id)
    return row.id


async def rent(
    db: AsyncSession, lease_id: uuid.UUID | str, amount: int, due_on: date
) -> uuid.UUID:
    """A month's rent as the schedule writes it: due on its first day here."""
    month_end = (due_on.replace(day=28) + timedelta(days=4)).replace(day=1)
    return await write(
        db,
        lease_id,
        "charge",
        "rent",
        amount,
        due_on,
        rent_period=due_on.replace(day=1),
        period_start=due_on,
        period_end=month_end - timedelta(days=1),
        description=f"Rent for {due_on:%B %Y}",
    )


async def late_fee(
    db: AsyncSession,
    lease_id: uuid.UUID | str,
    rent_id: uuid.UUID,
    amount: int,
    on: date,
) -> uuid.UUID:
    return await write(
        db,
        lease_id,
        "charge",
        "late_fee",
        amount,
        on,
        source_entry_id=rent_id,
        fee_key="once",
        description="Late fee",
    )


async def paid(
    db: AsyncSession, lease_id: uuid.UUID | str, amount: int, on: date
) -> uuid.UUID:
    return await write(db, lease_id, "payment", "check", amount, on)


async def reversal(
    db: AsyncSession, entry_id: uuid.UUID, on: date, reason: str
) -> uuid.UUID:
    """Undo a row on ``on``, as ``billing.service.reverse`` does."""
    original = await db.get(LedgerEntry, entry_id)
    assert original is not None
    await ledger.release(db, original)
    return await write(
        db,
        original.lease_id,
        original.entry_type,
        original.category,
        original.amount,
        on,
        method=original.method,
        reverses_id=original.id,
        reason=reason,
        description=original.description,
    )
