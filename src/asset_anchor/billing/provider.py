"""Ledger writes made for the payment provider, not by a member of staff.

When Stripe says money moved (a payment succeeded, a refund went through, a
dispute took a payment back), the worker writes it here, with no actor in the
audit log. The caller holds the lease's lock (``locked_lease``), so a check
made here for an existing row stays true until the commit. Each row carries
Stripe's id of the money in ``external_id``, which is unique: an event handled
twice, or two events about the same money handled at once, write one row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.audit import service as audit
from asset_anchor.billing import ledger, notices
from asset_anchor.kit.time import utc_now
from asset_anchor.leases.terms import local_today
from asset_anchor.models import Lease, LedgerEntry, Property

_AUDITED = (
    "entry_type",
    "category",
    "amount",
    "currency",
    "effective_on",
    "method",
    "reason",
    "source_entry_id",
    "reverses_id",
    "external_id",
)


async def locked_lease(session: AsyncSession, lease_id: uuid.UUID) -> Lease:
    lease = await session.scalar(
        select(Lease).where(Lease.id == lease_id).with_for_update()
    )
    assert lease is not None
    return lease


async def timezone_of(session: AsyncSession, lease: Lease) -> str:
    """The lease's property's timezone, in which the provider's dates fall."""
    timezone = await session.scalar(
        select(Property.timezone).where(Property.id == lease.property_id)
    )
    assert timezone is not None
    return timezone


def day_of(timezone: str, stamp: object = None) -> date:
    """The day at the property of one of the provider's timestamps (Unix
    seconds); of now when there is none."""
    moment = (
        datetime.fromtimestamp(stamp, tz=UTC) if isinstance(stamp, int) else utc_now()
    )
    return local_today(timezone, moment)


async def entry_by_external_id(
    session: AsyncSession, external_id: str
) -> LedgerEntry | None:
    found: LedgerEntry | None = await session.scalar(
        select(LedgerEntry).where(LedgerEntry.external_id == external_id)
    )
    return found


async def _write(
    session: AsyncSession, lease: Lease, action: str, **values: object
) -> LedgerEntry | None:
    """Insert one row keyed by its external id; None if it was there already."""
    entry_id = uuid.uuid4()
    written = await session.scalar(
        insert(LedgerEntry)
        .values(
            id=entry_id,
            organization_id=lease.organization_id,
            lease_id=lease.id,
            currency=lease.currency,
            **values,
        )
        .on_conflict_do_nothing(
            index_elements=[LedgerEntry.external_id],
            index_where=LedgerEntry.external_id.is_not(None),
        )
        .returning(LedgerEntry.id)
    )
    if written is None:
        return None
    entry = await session.get(LedgerEntry, entry_id)
    assert entry is not None
    await ledger.allocate(session, lease.organization_id, lease.id)
    audit.record(
        session,
        organization_id=lease.organization_id,
        actor_id=None,
        action=action,
        entity_type="ledger_entry",
        entity_id=entry.id,
        changes=audit.created(entry, _AUDITED),
    )
    return entry


async def record_payment(
    session: AsyncSession,
    lease: Lease,
    *,
    amount: int,
    method: str,
    received_on: date,
    external_id: str,
    description: str | None = None,
) -> LedgerEntry | None:
    """A payment the provider collected; the tenants get a receipt, once."""
    entry = await _write(
        session,
        lease,
        "ledger.online_payment_recorded",
        entry_type="payment",
        category=method,
        method=method,
        amount=amount,
        effective_on=received_on,
        external_id=external_id,
        description=description,
    )
    if entry is not None:
        await notices.queue_receipt(session, lease, entry)
    return entry


async def reverse(
    session: AsyncSession,
    lease: Lease,
    entry: LedgerEntry,
    *,
    on: date,
    reason: str,
    external_id: str,
) -> LedgerEntry | None:
    """Undo a row the provider took back (a failed bank debit, a dispute):
    what it paid is open again."""
    if entry.reverses_id is not None:
        return None
    already = await session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry.id)
    )
    if already is not None or await entry_by_external_id(session, external_id):
        return None
    await ledger.release(session, entry)
    return await _write(
        session,
        lease,
        f"ledger.{entry.entry_type}_reversed",
        entry_type=entry.entry_type,
        category=entry.category,
        method=entry.method,
        amount=entry.amount,
        effective_on=on,
        source_entry_id=entry.source_entry_id,
        reverses_id=entry.id,
        reason=reason,
        description=entry.description,
        external_id=external_id,
    )


async def record_refund(
    session: AsyncSession,
    lease: Lease,
    payment: LedgerEntry,
    *,
    amount: int,
    on: date,
    reason: str,
    external_id: str,
) -> LedgerEntry | None:
    """A refund the provider made of a payment: what it had paid is open again,
    newest allocations first."""
    if await entry_by_external_id(session, external_id):
        return None
    available = await ledger.available_of(session, payment)
    if amount > available:
        await ledger.release(session, payment, up_to=amount - available)
    return await _write(
        session,
        lease,
        "ledger.online_refund_recorded",
        entry_type="refund",
        category=payment.method or "card",
        method=payment.method or "card",
        amount=amount,
        effective_on=on,
        source_entry_id=payment.id,
        reason=reason,
        external_id=external_id,
    )
