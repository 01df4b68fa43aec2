"""Security deposits: held money, not income, until the tenants move out.

What a lease holds is what was paid into its deposit charges, less what a
disposition released. At move-out the disposition itemizes what is kept:
the held amount comes back to the lease's account as a ``deposit_release``
credit, each deduction is a ``deposit_deduction`` charge that credit pays
first, what is left pays what the tenants still owe (when asked to) and the
rest is refunded. Afterwards nothing is held: held = deducted + applied +
refunded, to the unit.
"""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from asset_anchor.billing import ledger
from asset_anchor.billing.errors import (
    DeductionsExceedDeposit,
    LeaseStillActive,
    NothingHeld,
)
from asset_anchor.billing.schemas import DispositionIn, DispositionOut, EntryOut
from asset_anchor.billing.service import (
    audit_entry,
    entries_out,
    lease_for_money,
    new_entry,
)
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.models import Lease, LedgerEntry
from asset_anchor.organizations.scope import StaffScope, get_owned

DEPOSIT_CATEGORIES = ("deposit", "deposit_release", "deposit_deduction")


async def dispose(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID, body: DispositionIn
) -> DispositionOut:
    """Settle the deposit of a lease that has ended, once."""
    lease, today = await lease_for_money(session, scope, lease_id)
    if lease.status not in ("ended", "terminated"):
        raise LeaseStillActive
    held = await ledger.held_deposit(session, lease.id)
    if held <= 0:
        raise NothingHeld
    deducted = sum(item.amount for item in body.deductions)
    if deducted > held:
        raise DeductionsExceedDeposit(held_amount=held)
    on = body.refunded_on or today

    release = new_entry(
        lease,
        scope.user_id,
        entry_type="credit",
        category="deposit_release",
        amount=held,
        effective_on=on,
        description="Security deposit, released at move-out",
    )
    deductions = [
        new_entry(
            lease,
            scope.user_id,
            entry_type="charge",
            category="deposit_deduction",
            amount=item.amount,
            effective_on=on,
            description=item.description,
            source_entry_id=release.id,
        )
        for item in body.deductions
    ]
    session.add(release)
    await session.flush()
    session.add_all(deductions)
    await session.flush()
    fund = ledger.Fund(release.id, held, None, release.category)
    await ledger.apply(
        session,
        lease,
        fund,
        [
            ledger.OpenCharge(d.id, d.amount, d.effective_on, d.category)
            for d in deductions
        ],
    )
    if body.apply_to_balance:
        await ledger.allocate(session, lease.organization_id, lease.id)
    remaining = await ledger.available_of(session, release)
    written = [release, *deductions]
    if remaining > 0:
        refund = new_entry(
            lease,
            scope.user_id,
            entry_type="refund",
            category=body.refund_method,
            method=body.refund_method,
            amount=remaining,
            effective_on=on,
            source_entry_id=release.id,
            reference=body.reference,
            description="Security deposit refunded",
        )
        session.add(refund)
        await session.flush()
        written.append(refund)
    await ledger.allocate(session, lease.organization_id, lease.id)
    for entry in written:
        audit_entry(session, scope, "ledger.deposit_disposed", entry)
    return DispositionOut(
        lease_id=lease.id,
        currency=lease.currency,
        held_amount=held,
        deducted_amount=deducted,
        applied_amount=held - deducted - remaining,
        refunded_amount=remaining,
        entries=await entries_out(session, lease.id, written),
    )


async def deposit_entries(session: AsyncSession, lease: Lease) -> list[EntryOut]:
    """The rows that make up the deposit's story, in the order written: what was
    asked, released and deducted, and the refund of what was left."""
    release = aliased(LedgerEntry)
    rows = await session.scalars(
        select(LedgerEntry)
        .outerjoin(release, release.id == LedgerEntry.source_entry_id)
        .where(
            LedgerEntry.lease_id == lease.id,
            or_(
                LedgerEntry.category.in_(DEPOSIT_CATEGORIES),
                release.category == "deposit_release",
            ),
        )
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    )
    return await entries_out(session, lease.id, list(rows))


async def read_deposit(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> tuple[Lease, int, list[EntryOut]]:
    lease = await get_owned(session, scope, Lease, lease_id, LeaseNotFound)
    return (
        lease,
        await ledger.held_deposit(session, lease.id),
        await deposit_entries(session, lease),
    )
