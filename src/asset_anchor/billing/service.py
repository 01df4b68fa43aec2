"""Writing the rent ledger: charges, credits, payments, refunds, reversals.

Every write locks the lease's row first (``ledger.lock``), adds its rows,
re-runs allocation and records an audit event, all in the request's
transaction. Nothing is ever updated or deleted: a mistake is put right by a
reversal naming the row it undoes, with a reason, and both stay on the
statement.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.audit import service as audit
from asset_anchor.billing import ledger, notices, provider
from asset_anchor.billing.errors import (
    AlreadyReversed,
    EntryNotFound,
    HasRefunds,
    LeaseNotInForce,
    NotReversible,
    NotWaivable,
    RefundMethodRequired,
    RefundTooLarge,
)
from asset_anchor.billing.schemas import (
    BalanceOut,
    ChargeIn,
    CreditIn,
    EntryOut,
    PaymentIn,
    RefundIn,
)
from asset_anchor.db import flush_or_conflict
from asset_anchor.kit.pagination import Order, SortColumn, Sorting, cut_page, paginate
from asset_anchor.kit.time import utc_now
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.leases.terms import local_today
from asset_anchor.models import Lease, LedgerEntry
from asset_anchor.organizations.scope import StaffScope, get_owned, owned

ENTRY_SORTING = Sorting(
    columns={"created_at": SortColumn(LedgerEntry.created_at, "datetime")},
    default="created_at",
    id_column=LedgerEntry.id,
)
_REVERSED = {"uq_ledger_entries_reverses_id": AlreadyReversed}


async def lease_for_money(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> tuple[Lease, date]:
    """The caller's lease, locked for a ledger write, and today at its property."""
    lease = await get_owned(session, scope, Lease, lease_id, LeaseNotFound, lock=True)
    if lease.status == "draft":
        raise LeaseNotInForce
    timezone = await provider.timezone_of(session, lease)
    return lease, local_today(timezone, utc_now())


def new_entry(lease: Lease, created_by: uuid.UUID | None, **values: Any) -> LedgerEntry:
    return LedgerEntry(
        id=uuid.uuid4(),
        organization_id=lease.organization_id,
        lease_id=lease.id,
        currency=lease.currency,
        created_by_id=created_by,
        **values,
    )


def audit_entry(
    session: AsyncSession, scope: StaffScope, action: str, entry: LedgerEntry
) -> None:
    """Who did what with how much, and why: one event per ledger row."""
    fields = ("entry_type", "category", "amount", "currency", "effective_on")
    extra = ("method", "reference", "reason", "source_entry_id", "reverses_id")
    changes = audit.created(entry, (*fields, *extra))
    audit.by_staff(
        session, scope, action, entry.id, changes, entity_type="ledger_entry"
    )


async def _record(
    session: AsyncSession,
    scope: StaffScope,
    lease: Lease,
    entry: LedgerEntry,
    action: str,
) -> EntryOut:
    session.add(entry)
    await session.flush()
    await ledger.allocate(session, lease.organization_id, lease.id)
    audit_entry(session, scope, action, entry)
    [shown] = await entries_out(session, lease.id, [entry])
    return shown


async def add_charge(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID, body: ChargeIn
) -> EntryOut:
    """A one-off charge (a repair the tenants caused, a deposit asked for)."""
    lease, _ = await lease_for_money(session, scope, lease_id)
    entry = new_entry(
        lease,
        scope.user_id,
        entry_type="charge",
        category=body.category,
        amount=body.amount,
        effective_on=body.due_on,
        description=body.description,
    )
    return await _record(session, scope, lease, entry, "ledger.charge_added")


async def add_credit(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID, body: CreditIn
) -> EntryOut:
    """A concession: money the tenants no longer owe, applied like a payment."""
    lease, today = await lease_for_money(session, scope, lease_id)
    entry = new_entry(
        lease,
        scope.user_id,
        entry_type="credit",
        category=body.category,
        amount=body.amount,
        effective_on=body.effective_on or today,
        description=body.description,
    )
    return await _record(session, scope, lease, entry, "ledger.credit_added")


async def record_payment(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID, body: PaymentIn
) -> EntryOut:
    """A payment received outside the platform (cash, check, a bank transfer).

    It pays open charges oldest due first; any excess stays as credit for the
    next charge. The tenants get a receipt by email.
    """
    lease, today = await lease_for_money(session, scope, lease_id)
    entry = new_entry(
        lease,
        scope.user_id,
        entry_type="payment",
        category=body.method,
        method=body.method,
        amount=body.amount,
        effective_on=body.received_on or today,
        reference=body.reference,
        description=body.description,
    )
    shown = await _record(session, scope, lease, entry, "ledger.payment_recorded")
    await notices.queue_receipt(session, lease, entry)
    return shown


async def _owned_entry(
    session: AsyncSession, scope: StaffScope, entry_id: uuid.UUID
) -> tuple[LedgerEntry, Lease, date]:
    """An entry of the caller's organization, its lease locked for the change."""
    found = await session.scalar(
        owned(scope, LedgerEntry).where(LedgerEntry.id == entry_id)
    )
    if found is None:
        raise EntryNotFound
    lease, today = await lease_for_money(session, scope, found.lease_id)
    return found, lease, today


async def _is_reversed(session: AsyncSession, entry: LedgerEntry) -> bool:
    return bool(
        await session.scalar(
            select(func.count()).where(LedgerEntry.reverses_id == entry.id)
        )
    )


async def _refunds_of(session: AsyncSession, entry: LedgerEntry) -> int:
    found = await session.scalar(
        select(func.count()).where(
            LedgerEntry.source_entry_id == entry.id,
            LedgerEntry.entry_type == "refund",
            ledger.not_reversed(),
        )
    )
    return int(found or 0)


async def reverse(
    session: AsyncSession, scope: StaffScope, entry_id: uuid.UUID, reason: str
) -> EntryOut:
    """Undo an entry by a new one: void a charge, reverse a payment or credit.

    A voided charge's payments are freed and pay the next open charges; a
    reversed payment's charges are open again.
    """
    entry, lease, today = await _owned_entry(session, scope, entry_id)
    if entry.reverses_id is not None:
        raise NotReversible("A reversal is not itself reversed; record anew.")
    if entry.external_id is not None:
        # Stripe holds this money: undone here, the ledger and Stripe would
        # disagree for good. Refunds go through Stripe; failures and disputes
        # reach the ledger by themselves.
        raise NotReversible(
            "An entry Stripe wrote is not reversed by hand: refund a payment"
            " made online through its refunds."
        )
    if await _is_reversed(session, entry):
        raise AlreadyReversed
    if entry.entry_type in ledger.FUNDING_TYPES and await _refunds_of(session, entry):
        raise HasRefunds
    await ledger.release(session, entry)
    reversal = new_entry(
        lease,
        scope.user_id,
        entry_type=entry.entry_type,
        category=entry.category,
        method=entry.method,
        amount=entry.amount,
        effective_on=today,
        source_entry_id=entry.source_entry_id,
        reverses_id=entry.id,
        reason=reason,
        description=entry.description,
        # The void of a rent charge names its period too, as every rent
        # charge row must; the unique key counts originals only, so it does
        # not clash with the charge it voids, which keeps the period taken.
        period_start=entry.period_start,
        period_end=entry.period_end,
        rent_period=entry.rent_period,
    )
    session.add(reversal)
    await flush_or_conflict(session, _REVERSED)
    await ledger.allocate(session, lease.organization_id, lease.id)
    audit_entry(session, scope, f"ledger.{entry.entry_type}_reversed", reversal)
    [shown] = await entries_out(session, lease.id, [reversal])
    return shown


async def waive(
    session: AsyncSession, scope: StaffScope, charge_id: uuid.UUID, reason: str
) -> EntryOut:
    """Forgive what is left of a late fee; no further fee follows for its rent."""
    charge, lease, today = await _owned_entry(session, scope, charge_id)
    if (
        charge.entry_type != "charge"
        or charge.category != "late_fee"
        or charge.reverses_id is not None
        or await _is_reversed(session, charge)
    ):
        raise NotWaivable
    remaining = next(
        (
            c.open
            for c in await ledger.open_charges(session, lease.id)
            if c.id == charge.id
        ),
        0,
    )
    if remaining <= 0:
        raise NotWaivable("The fee is paid already; refund or credit instead.")
    waiver = new_entry(
        lease,
        scope.user_id,
        entry_type="credit",
        category="waiver",
        amount=remaining,
        effective_on=today,
        source_entry_id=charge.id,
        reason=reason,
        description=charge.description,
    )
    return await _record(session, scope, lease, waiver, "ledger.late_fee_waived")


async def refund(
    session: AsyncSession, scope: StaffScope, payment_id: uuid.UUID, body: RefundIn
) -> EntryOut:
    """Give back (part of) a payment outside the platform.

    What the refunded money had paid is open again, newest allocations first.
    A payment the provider collected is refunded through it, not here.
    """
    payment, lease, today = await _owned_entry(session, scope, payment_id)
    if (
        payment.entry_type != "payment"
        or payment.reverses_id is not None
        or await _is_reversed(session, payment)
    ):
        raise NotReversible("Only a payment that stands can be refunded.")
    if payment.external_id is not None:
        raise NotReversible("A payment made online is refunded through Stripe.")
    if body.method is None:
        raise RefundMethodRequired
    refundable = payment.amount - await ledger.refunded_amount(session, payment)
    if body.amount > refundable:
        raise RefundTooLarge(refundable_amount=refundable)
    available = await ledger.available_of(session, payment)
    if body.amount > available:
        await ledger.release(session, payment, up_to=body.amount - available)
    entry = new_entry(
        lease,
        scope.user_id,
        entry_type="refund",
        category=body.method,
        method=body.method,
        amount=body.amount,
        effective_on=body.refunded_on or today,
        source_entry_id=payment.id,
        reference=body.reference,
        reason=body.reason,
    )
    return await _record(session, scope, lease, entry, "ledger.refund_recorded")


# --- reading ----------------------------------------------------------------


async def entries_out(
    session: AsyncSession, lease_id: uuid.UUID, entries: list[LedgerEntry]
) -> list[EntryOut]:
    """Entries as the API shows them, with what is open or unapplied of each."""
    open_by_id = {c.id: c.open for c in await ledger.open_charges(session, lease_id)}
    funds = {f.id: f.available for f in await ledger.available_funds(session, lease_id)}
    ids = [entry.id for entry in entries]
    reversed_by = dict(
        (
            await session.execute(
                select(LedgerEntry.reverses_id, LedgerEntry.id).where(
                    LedgerEntry.reverses_id.in_(ids)
                )
            )
        ).all()
    )
    shown = []
    for entry in entries:
        is_original = entry.reverses_id is None
        shown.append(
            EntryOut(
                id=entry.id,
                lease_id=entry.lease_id,
                entry_type=entry.entry_type,
                category=entry.category,
                amount=entry.amount,
                currency=entry.currency,
                balance_effect=entry.balance_effect,
                effective_on=entry.effective_on,
                period_start=entry.period_start,
                period_end=entry.period_end,
                source_entry_id=entry.source_entry_id,
                reverses_id=entry.reverses_id,
                reversed_by_id=reversed_by.get(entry.id),
                method=entry.method,
                reference=entry.reference,
                description=entry.description,
                reason=entry.reason,
                open_amount=open_by_id.get(entry.id, 0)
                if entry.entry_type == "charge" and is_original
                else None,
                unapplied_amount=funds.get(entry.id, 0)
                if entry.entry_type in ledger.FUNDING_TYPES and is_original
                else None,
                created_by_id=entry.created_by_id,
                created_at=entry.created_at,
            )
        )
    return shown


async def list_entries(
    session: AsyncSession,
    scope: StaffScope,
    lease_id: uuid.UUID,
    *,
    order: Order,
    cursor: str | None,
    limit: int,
) -> tuple[list[EntryOut], str | None]:
    """One page of a lease's ledger, in the order it was written."""
    await get_owned(session, scope, Lease, lease_id, LeaseNotFound)
    statement = owned(scope, LedgerEntry).where(LedgerEntry.lease_id == lease_id)
    rows = list(await session.scalars(paginate(statement, order, cursor, limit)))
    page, next_cursor = cut_page(
        rows, order, limit, lambda row: (row.created_at, row.id)
    )
    return await entries_out(session, lease_id, page), next_cursor


async def read_entry(
    session: AsyncSession, scope: StaffScope, entry_id: uuid.UUID
) -> EntryOut:
    found = await session.scalar(
        owned(scope, LedgerEntry).where(LedgerEntry.id == entry_id)
    )
    if found is None:
        raise EntryNotFound
    [shown] = await entries_out(session, found.lease_id, [found])
    return shown


async def read_balance(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> BalanceOut:
    lease = await get_owned(session, scope, Lease, lease_id, LeaseNotFound)
    return await balance_of(session, lease)


async def balance_of(session: AsyncSession, lease: Lease) -> BalanceOut:
    """The lease's money at a glance; every figure is a sum of its rows."""
    charges = await ledger.open_charges(session, lease.id)
    funds = await ledger.available_funds(session, lease.id)
    return BalanceOut(
        lease_id=lease.id,
        currency=lease.currency,
        balance_amount=await ledger.balance(session, lease.id),
        open_charges_amount=sum(charge.open for charge in charges),
        unapplied_amount=sum(fund.available for fund in funds),
        deposit_held_amount=await ledger.held_deposit(session, lease.id),
    )
