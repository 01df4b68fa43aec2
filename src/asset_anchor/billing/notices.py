"""Emails about money, each sent at most once per recipient and occasion.

A notice is claimed by inserting its ``billing_notices`` row (lease,
recipient, occasion) before the email is queued; the unique key turns a second
attempt (a job run twice, two workers at once) into nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.email.service import queue_email
from asset_anchor.kit.email_address import normalize_address
from asset_anchor.kit.money import format_amount
from asset_anchor.models import (
    BillingNotice,
    Lease,
    LeaseTenant,
    LedgerEntry,
    Organization,
    OrganizationMembership,
    Property,
    Unit,
    User,
)


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str


async def recipients(session: AsyncSession, lease_id: uuid.UUID) -> list[Recipient]:
    """The lease's tenants who can be mailed: their account's address, or the
    one the landlord gave; each address once."""
    rows = await session.execute(
        select(
            LeaseTenant.full_name,
            func.coalesce(User.email, LeaseTenant.email).label("address"),
        )
        .outerjoin(User, User.id == LeaseTenant.user_id)
        .where(LeaseTenant.lease_id == lease_id)
        .order_by(LeaseTenant.created_at, LeaseTenant.id)
    )
    seen: dict[str, Recipient] = {}
    for row in rows:
        if row.address:
            seen.setdefault(
                normalize_address(row.address), Recipient(row.address, row.full_name)
            )
    return list(seen.values())


async def claim(
    session: AsyncSession, lease: Lease, recipient: Recipient, occasion: str
) -> bool:
    """Whether this recipient's notice for the occasion is ours to send."""
    claimed = await session.scalar(
        insert(BillingNotice)
        .values(
            id=uuid.uuid4(),
            organization_id=lease.organization_id,
            lease_id=lease.id,
            recipient=normalize_address(recipient.address),
            occasion=occasion,
        )
        .on_conflict_do_nothing(index_elements=["lease_id", "recipient", "occasion"])
        .returning(BillingNotice.id)
    )
    return claimed is not None


async def place_of(session: AsyncSession, lease: Lease) -> dict[str, Any]:
    """What every notice names: the landlord, the property and the unit."""
    row = (
        await session.execute(
            select(
                Organization.name.label("organization_name"),
                Property.name.label("property_name"),
                Unit.label.label("unit_label"),
            )
            .select_from(Unit)
            .join(Property, Property.id == Unit.property_id)
            .join(Organization, Organization.id == Unit.organization_id)
            .where(Unit.id == lease.unit_id)
        )
    ).one()
    return dict(row._mapping)


async def send_to_tenants(
    session: AsyncSession,
    lease: Lease,
    *,
    kind: str,
    occasion: str,
    context: dict[str, Any],
) -> int:
    """Queue one email of ``kind`` to each tenant not yet sent this occasion's."""
    sent = 0
    place = await place_of(session, lease)
    for recipient in await recipients(session, lease.id):
        if await claim(session, lease, recipient, occasion):
            queue_email(
                session,
                kind=kind,
                to_address=recipient.address,
                to_name=recipient.name,
                context={**place, **context},
            )
            sent += 1
    return sent


async def send_to_staff(
    session: AsyncSession,
    lease: Lease,
    *,
    kind: str,
    occasion: str,
    context: dict[str, Any],
) -> int:
    """Queue one email of ``kind`` to each member of the lease's organization
    not yet sent this occasion's."""
    sent = 0
    place = await place_of(session, lease)
    staff = await session.execute(
        select(User.email, User.full_name)
        .join(OrganizationMembership, OrganizationMembership.user_id == User.id)
        .where(OrganizationMembership.organization_id == lease.organization_id)
    )
    for email, name in staff:
        if await claim(session, lease, Recipient(email, name), occasion):
            queue_email(
                session,
                kind=kind,
                to_address=email,
                to_name=name,
                context={**place, **context},
            )
            sent += 1
    return sent


async def queue_receipt(
    session: AsyncSession, lease: Lease, payment: LedgerEntry
) -> int:
    """A receipt for a payment, to each of the lease's tenants, once."""
    balance = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.balance_effect), 0)).where(
            LedgerEntry.lease_id == lease.id
        )
    )
    return await send_to_tenants(
        session,
        lease,
        kind="payment_receipt",
        occasion=f"receipt:{payment.id}",
        context={
            "payment_id": str(payment.id),
            "amount": format_amount(payment.amount, payment.currency),
            "received_on": payment.effective_on.isoformat(),
            "method": payment.method or "",
            "reference": payment.reference or "",
            "balance": format_amount(abs(int(balance or 0)), payment.currency),
            "in_credit": int(balance or 0) < 0,
            "settled": int(balance or 0) == 0,
        },
    )
