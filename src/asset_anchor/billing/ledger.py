"""Balances and allocation: what a lease owes, and which money paid what.

Everything here works on one lease whose row the caller has locked, so the
sums it reads cannot change underneath it: two payments allocated at once
are allocated one after the other, and the second sees the first.

- A charge is *open* for its amount less its net allocations; a reversed
  charge (voided) is closed, its allocations released.
- A payment or credit is *available* for its amount less its net
  allocations and its refunds; a reversed one has nothing left.
- Allocation pays open charges oldest due first from available money oldest
  first; a credit aimed at one charge (a waiver) goes to that charge first.
  What is left of an overpayment stays available and pays the next charge.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Uuid, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from asset_anchor.models import Allocation, Lease, LedgerEntry

FUNDING_TYPES = ("payment", "credit")


@dataclass
class OpenCharge:
    id: uuid.UUID
    open: int
    effective_on: date
    category: str


@dataclass
class Fund:
    id: uuid.UUID
    available: int
    target_id: uuid.UUID | None
    category: str


def not_reversed(entry: Any = LedgerEntry) -> ColumnElement[bool]:
    """The entry is an original row that no reversal names."""
    reversal = aliased(LedgerEntry)
    original: ColumnElement[bool] = entry.reverses_id.is_(None)
    return original & ~exists().where(reversal.reverses_id == entry.id)


async def balance(session: AsyncSession, lease_id: uuid.UUID) -> int:
    """What the tenants owe (negative: what they have in credit)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.balance_effect), 0)).where(
            LedgerEntry.lease_id == lease_id
        )
    )
    return int(total or 0)


# The two questions allocation asks, built once: the lease is a parameter,
# so each call only binds it (building them anew cost more than running them).
_LEASE = bindparam("lease_id", type_=Uuid())


def _open_charges_statement() -> Any:
    allocated = (
        select(
            Allocation.charge_id.label("entry_id"),
            func.sum(Allocation.amount).label("allocated"),
        )
        .where(Allocation.lease_id == _LEASE)
        .group_by(Allocation.charge_id)
        .subquery()
    )
    remaining = LedgerEntry.amount - func.coalesce(allocated.c.allocated, 0)
    return (
        select(
            LedgerEntry.id,
            remaining.label("open"),
            LedgerEntry.effective_on,
            LedgerEntry.category,
        )
        .outerjoin(allocated, allocated.c.entry_id == LedgerEntry.id)
        .where(
            LedgerEntry.lease_id == _LEASE,
            LedgerEntry.entry_type == "charge",
            not_reversed(),
            remaining > 0,
        )
        .order_by(LedgerEntry.effective_on, LedgerEntry.created_at, LedgerEntry.id)
    )


def _available_funds_statement() -> Any:
    allocated = (
        select(
            Allocation.funding_id.label("entry_id"),
            func.sum(Allocation.amount).label("allocated"),
        )
        .where(Allocation.lease_id == _LEASE)
        .group_by(Allocation.funding_id)
        .subquery()
    )
    refund = aliased(LedgerEntry)
    refunded = (
        select(
            refund.source_entry_id.label("entry_id"),
            func.sum(refund.amount).label("refunded"),
        )
        .where(
            refund.lease_id == _LEASE,
            refund.entry_type == "refund",
            not_reversed(refund),
        )
        .group_by(refund.source_entry_id)
        .subquery()
    )
    left = (
        LedgerEntry.amount
        - func.coalesce(allocated.c.allocated, 0)
        - func.coalesce(refunded.c.refunded, 0)
    )
    return (
        select(
            LedgerEntry.id,
            left.label("available"),
            LedgerEntry.source_entry_id,
            LedgerEntry.category,
        )
        .outerjoin(allocated, allocated.c.entry_id == LedgerEntry.id)
        .outerjoin(refunded, refunded.c.entry_id == LedgerEntry.id)
        .where(
            LedgerEntry.lease_id == _LEASE,
            LedgerEntry.entry_type.in_(FUNDING_TYPES),
            not_reversed(),
            left > 0,
        )
        .order_by(LedgerEntry.effective_on, LedgerEntry.created_at, LedgerEntry.id)
    )


_OPEN_CHARGES = _open_charges_statement()
_AVAILABLE_FUNDS = _available_funds_statement()


async def open_charges(session: AsyncSession, lease_id: uuid.UUID) -> list[OpenCharge]:
    """The lease's charges that still owe something, oldest due first."""
    rows = await session.execute(_OPEN_CHARGES, {"lease_id": lease_id})
    return [
        OpenCharge(row.id, int(row.open), row.effective_on, row.category)
        for row in rows
    ]


async def available_funds(session: AsyncSession, lease_id: uuid.UUID) -> list[Fund]:
    """The lease's payments and credits with money left to apply, oldest first."""
    rows = await session.execute(_AVAILABLE_FUNDS, {"lease_id": lease_id})
    return [
        Fund(row.id, int(row.available), row.source_entry_id, row.category)
        for row in rows
    ]


def _pay(
    organization_id: uuid.UUID,
    lease_id: uuid.UUID,
    fund: Fund,
    charge: OpenCharge,
) -> Allocation | None:
    amount = min(fund.available, charge.open)
    if amount <= 0:
        return None
    fund.available -= amount
    charge.open -= amount
    return Allocation(
        id=uuid.uuid4(),
        organization_id=organization_id,
        lease_id=lease_id,
        funding_id=fund.id,
        charge_id=charge.id,
        amount=amount,
    )


async def allocate(
    session: AsyncSession, organization_id: uuid.UUID, lease_id: uuid.UUID
) -> list[Allocation]:
    """Apply the lease's available money to its open charges; return what was
    applied. Run it after every change to the lease's ledger."""
    charges = await open_charges(session, lease_id)
    funds = await available_funds(session, lease_id)
    made: list[Allocation] = []
    by_id = {charge.id: charge for charge in charges}
    for fund in funds:
        target = by_id.get(fund.target_id) if fund.target_id else None
        if target is not None:
            made += [a for a in [_pay(organization_id, lease_id, fund, target)] if a]
    for fund in funds:
        for charge in charges:
            if fund.available <= 0:
                break
            if fund.category == "deposit_release" and charge.category == "deposit":
                # The deposit given back never pays the deposit itself.
                continue
            allocation = _pay(organization_id, lease_id, fund, charge)
            if allocation is not None:
                made.append(allocation)
    session.add_all(made)
    await session.flush()
    return made


async def apply(
    session: AsyncSession, lease: Lease, fund: Fund, charges: list[OpenCharge]
) -> list[Allocation]:
    """Apply one fund to the given charges, in that order, and to nothing else."""
    made = [
        allocation
        for charge in charges
        if (allocation := _pay(lease.organization_id, lease.id, fund, charge))
    ]
    session.add_all(made)
    await session.flush()
    return made


async def _net_allocations(
    session: AsyncSession, condition: ColumnElement[bool]
) -> list[Any]:
    rows = await session.execute(
        select(
            Allocation.funding_id,
            Allocation.charge_id,
            func.sum(Allocation.amount).label("net"),
            func.max(Allocation.created_at).label("last_at"),
        )
        .where(condition)
        .group_by(Allocation.funding_id, Allocation.charge_id)
        .having(func.sum(Allocation.amount) > 0)
        .order_by(func.max(Allocation.created_at).desc())
    )
    return list(rows)


async def release(
    session: AsyncSession,
    entry: LedgerEntry,
    *,
    up_to: int | None = None,
) -> int:
    """Undo allocations to a charge, or from a payment or credit (newest first,
    at most ``up_to``); return how much was released."""
    side = (
        Allocation.charge_id if entry.entry_type == "charge" else Allocation.funding_id
    )
    released = 0
    for row in await _net_allocations(session, side == entry.id):
        amount = row.net if up_to is None else min(row.net, up_to - released)
        if amount <= 0:
            break
        session.add(
            Allocation(
                id=uuid.uuid4(),
                organization_id=entry.organization_id,
                lease_id=entry.lease_id,
                funding_id=row.funding_id,
                charge_id=row.charge_id,
                amount=-amount,
            )
        )
        released += amount
    await session.flush()
    return released


async def refunded_amount(session: AsyncSession, payment: LedgerEntry) -> int:
    """What of a payment has been refunded and stands (refunds reversed, as a
    refund that failed afterwards is, do not count)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.source_entry_id == payment.id,
            LedgerEntry.entry_type == "refund",
            not_reversed(),
        )
    )
    return int(total or 0)


async def available_of(session: AsyncSession, entry: LedgerEntry) -> int:
    """What is left of one payment or credit to apply or refund."""
    for fund in await available_funds(session, entry.lease_id):
        if fund.id == entry.id:
            return fund.available
    return 0


async def held_deposit(session: AsyncSession, lease_id: uuid.UUID) -> int:
    """The security deposit held for the lease: paid into deposit charges, less
    what a disposition has released."""
    charge = aliased(LedgerEntry)
    paid = await session.scalar(
        select(func.coalesce(func.sum(Allocation.amount), 0))
        .join(charge, charge.id == Allocation.charge_id)
        .where(Allocation.lease_id == lease_id, charge.category == "deposit")
    )
    released = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.balance_effect), 0)).where(
            LedgerEntry.lease_id == lease_id,
            LedgerEntry.entry_type == "credit",
            LedgerEntry.category == "deposit_release",
        )
    )
    # A release is a credit: its effect is negative while it stands.
    return int(paid or 0) + int(released or 0)
