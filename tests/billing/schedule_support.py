"""Leases for the schedule's tests, written straight to the database.

The scheduled jobs read leases, properties and organizations with SQL of
their own, so these tests make exactly the rows they need (no API round
trip per lease) and choose the instant the job runs at.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing.schemas import PaymentIn
from asset_anchor.billing.service import record_payment
from asset_anchor.models import (
    AuditEvent,
    Lease,
    LeaseTenant,
    LedgerEntry,
    Organization,
    Property,
    Unit,
    User,
)
from asset_anchor.organizations.scope import StaffScope


def at(year: int, month: int, day: int, hour: int = 12, zone: str = "UTC") -> datetime:
    """An aware instant: ``hour`` o'clock on that day in ``zone``."""
    return datetime(year, month, day, hour, tzinfo=ZoneInfo(zone)).astimezone(UTC)


@dataclass
class Place:
    organization: Organization
    owner: StaffScope


async def make_organization(
    db: AsyncSession,
    *,
    days_ahead: int = 7,
    reminder_days: int = 3,
    name: str = "Riley Homes",
) -> Place:
    owner = User(
        id=uuid.uuid4(),
        email=f"owner.{uuid.uuid4().hex[:10]}@example.test",
        full_name="Olive Owner",
    )
    owner.email_normalized = owner.email
    organization = Organization(
        id=uuid.uuid4(),
        name=name,
        rent_charge_days_ahead=days_ahead,
        rent_reminder_days_before=reminder_days,
    )
    db.add_all([owner, organization])
    await db.flush()
    return Place(organization, StaffScope(owner.id, organization.id, "owner"))


async def make_lease(
    db: AsyncSession,
    place: Place,
    *,
    start: date,
    end: date | None = None,
    rent: int = 100_000,
    due_day: int = 1,
    activated_at: datetime | None = None,
    timezone: str = "America/New_York",
    tenants: tuple[tuple[str, str | None], ...] = (
        ("Dana Tenant", "dana@example.test"),
    ),
    status: str = "active",
    **terms: Any,
) -> Lease:
    """An active lease of a unit of its own; activated when it starts unless
    told otherwise. ``terms`` are further lease columns (late fee terms)."""
    organization_id = place.organization.id
    prop = Property(
        id=uuid.uuid4(),
        organization_id=organization_id,
        name="Birch House",
        kind="apartment_building",
        address_line1="1 Birch Road",
        city="Springfield",
        country="US",
        timezone=timezone,
    )
    db.add(prop)
    await db.flush()
    unit = Unit(
        id=uuid.uuid4(),
        organization_id=organization_id,
        property_id=prop.id,
        label=f"Apt {uuid.uuid4().hex[:4]}",
        currency="USD",
    )
    db.add(unit)
    await db.flush()
    lease = Lease(
        id=uuid.uuid4(),
        organization_id=organization_id,
        unit_id=unit.id,
        property_id=prop.id,
        status=status,
        start_date=start,
        end_date=end,
        rent_amount=rent,
        currency="USD",
        due_day=due_day,
        activated_at=activated_at
        or datetime(start.year, start.month, start.day, 9, tzinfo=ZoneInfo(timezone)),
        **terms,
    )
    db.add(lease)
    await db.flush()
    db.add_all(
        LeaseTenant(
            id=uuid.uuid4(),
            organization_id=organization_id,
            lease_id=lease.id,
            full_name=name,
            email=address,
        )
        for name, address in tenants
    )
    await db.flush()
    return lease


async def entries_of(
    db: AsyncSession, lease: Lease, category: str = "rent"
) -> list[LedgerEntry]:
    """The lease's original charges of a category, oldest due first."""
    found = await db.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.lease_id == lease.id,
            LedgerEntry.category == category,
            LedgerEntry.entry_type == "charge",
            LedgerEntry.reverses_id.is_(None),
        )
        .order_by(LedgerEntry.effective_on, LedgerEntry.fee_key)
    )
    return list(found)


async def rent_charges(db: AsyncSession, lease: Lease) -> list[LedgerEntry]:
    return await entries_of(db, lease, "rent")


async def late_fees(db: AsyncSession, lease: Lease) -> list[LedgerEntry]:
    return await entries_of(db, lease, "late_fee")


def periods(charges: list[LedgerEntry]) -> list[tuple[Any, ...]]:
    """Each charge as (rent period, start, end, due, amount)."""
    return [
        (c.rent_period, c.period_start, c.period_end, c.effective_on, c.amount)
        for c in charges
    ]


async def pay(
    db: AsyncSession, place: Place, lease: Lease, amount: int, on: date
) -> LedgerEntry:
    """An offline payment through the ledger's own service."""
    shown = await record_payment(
        db,
        place.owner,
        lease.id,
        PaymentIn(amount=amount, method="cash", received_on=on),
    )
    found = await db.get(LedgerEntry, shown.id)
    assert found is not None
    return found


async def audit_of(db: AsyncSession, entry_id: uuid.UUID) -> list[AuditEvent]:
    found = await db.scalars(select(AuditEvent).where(AuditEvent.entity_id == entry_id))
    return list(found)
