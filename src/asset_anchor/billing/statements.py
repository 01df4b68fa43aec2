"""Reading one lease's money: its statement, its balance, the rent due next.

The caller finds the lease through its own scope first (staff through
``organizations.scope``, tenants through ``tenants.scope``) and hands it in
as ``LeaseFacts``; everything here then reads that lease's rows only. Each
read costs the same few statements however many entries the lease has: the
running balance is added up in Python over rows fetched at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from asset_anchor.billing import ledger
from asset_anchor.billing.errors import StatementPeriodInvalid
from asset_anchor.billing.report_schemas import (
    DepositDeduction,
    DepositDisposition,
    LinkedEntry,
    NextDueOut,
    StatementDeposit,
    StatementLine,
    StatementOut,
)
from asset_anchor.billing.schemas import BalanceOut
from asset_anchor.kit.csv_export import Cell, Money
from asset_anchor.leases import terms
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.models import Lease, LedgerEntry, Property
from asset_anchor.organizations.scope import StaffScope, owned_columns

LEASE_COLUMNS = (
    Lease.id,
    Lease.currency,
    Lease.status,
    Lease.start_date,
    Lease.end_date,
    Lease.due_day,
    Lease.rent_amount,
    Property.timezone,
)


@dataclass(frozen=True)
class LeaseFacts:
    """What reading a lease's money needs to know of the lease itself."""

    id: uuid.UUID
    currency: str
    status: str
    start_date: date
    end_date: date | None
    due_day: int
    rent_amount: int
    timezone: str

    @classmethod
    def of(cls, row: Any) -> LeaseFacts:
        return cls(
            id=row.id,
            currency=row.currency,
            status=row.status,
            start_date=row.start_date,
            end_date=row.end_date,
            due_day=row.due_day,
            rent_amount=row.rent_amount,
            timezone=row.timezone,
        )


async def staff_lease(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> LeaseFacts:
    """The caller's organization's lease, or 404 for any other."""
    row = (
        await session.execute(
            owned_columns(scope, Lease, *LEASE_COLUMNS)
            .join(Property, Property.id == Lease.property_id)
            .where(Lease.id == lease_id)
        )
    ).first()
    if row is None:
        raise LeaseNotFound
    return LeaseFacts.of(row)


# --- the statement ----------------------------------------------------------


async def _balance_before(session: AsyncSession, lease_id: uuid.UUID, day: date) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.balance_effect), 0)).where(
            LedgerEntry.lease_id == lease_id, LedgerEntry.effective_on < day
        )
    )
    return int(total or 0)


async def _line_rows(
    session: AsyncSession,
    lease_id: uuid.UUID,
    from_date: date | None,
    to_date: date | None,
) -> list[Any]:
    """The period's entries in statement order, each with the other half of
    its reversal (one row at most: a row is reversed once)."""
    original = aliased(LedgerEntry)
    reversal = aliased(LedgerEntry)
    statement = (
        select(
            LedgerEntry.id,
            LedgerEntry.effective_on,
            LedgerEntry.entry_type,
            LedgerEntry.category,
            LedgerEntry.description,
            LedgerEntry.reason,
            LedgerEntry.method,
            LedgerEntry.reference,
            LedgerEntry.period_start,
            LedgerEntry.period_end,
            LedgerEntry.source_entry_id,
            LedgerEntry.amount,
            LedgerEntry.balance_effect,
            original.id.label("original_id"),
            original.entry_type.label("original_type"),
            original.effective_on.label("original_on"),
            original.description.label("original_description"),
            reversal.id.label("reversal_id"),
            reversal.entry_type.label("reversal_type"),
            reversal.effective_on.label("reversal_on"),
            reversal.description.label("reversal_description"),
            reversal.reason.label("reversal_reason"),
        )
        .outerjoin(original, original.id == LedgerEntry.reverses_id)
        .outerjoin(reversal, reversal.reverses_id == LedgerEntry.id)
        .where(LedgerEntry.lease_id == lease_id)
        .order_by(LedgerEntry.effective_on, LedgerEntry.created_at, LedgerEntry.id)
    )
    if from_date is not None:
        statement = statement.where(LedgerEntry.effective_on >= from_date)
    if to_date is not None:
        statement = statement.where(LedgerEntry.effective_on <= to_date)
    return list(await session.execute(statement))


def _line(row: Any, running: int) -> StatementLine:
    reverses = (
        LinkedEntry(
            id=row.original_id,
            entry_type=row.original_type,
            effective_on=row.original_on,
            description=row.original_description,
            reason=None,
        )
        if row.original_id is not None
        else None
    )
    reversed_by = (
        LinkedEntry(
            id=row.reversal_id,
            entry_type=row.reversal_type,
            effective_on=row.reversal_on,
            description=row.reversal_description,
            reason=row.reversal_reason,
        )
        if row.reversal_id is not None
        else None
    )
    return StatementLine(
        id=row.id,
        effective_on=row.effective_on,
        entry_type=row.entry_type,
        category=row.category,
        description=row.description,
        reason=row.reason,
        method=row.method,
        reference=row.reference,
        period_start=row.period_start,
        period_end=row.period_end,
        source_entry_id=row.source_entry_id,
        amount=row.amount,
        balance_effect_amount=row.balance_effect,
        running_balance_amount=running,
        reverses=reverses,
        reversed_by=reversed_by,
    )


async def statement(
    session: AsyncSession,
    lease: LeaseFacts,
    *,
    from_date: date | None,
    to_date: date | None,
    today: date,
) -> StatementOut:
    """The lease's entries effective from ``from_date`` to ``to_date``, both
    included, between an opening and a closing balance.

    Without ``from_date`` the statement starts at the beginning (opening at
    zero); without ``to_date`` it runs to today at the property, or to the
    last entry if one is dated later (rent charged ahead of its due date).
    """
    if from_date is not None and to_date is not None and from_date > to_date:
        raise StatementPeriodInvalid(
            f"from ({from_date.isoformat()}) is after to ({to_date.isoformat()})."
        )
    opening = (
        0 if from_date is None else await _balance_before(session, lease.id, from_date)
    )
    rows = await _line_rows(session, lease.id, from_date, to_date)
    lines = []
    running = opening
    for row in rows:
        running += row.balance_effect
        lines.append(_line(row, running))
    end = to_date or max([today, *(row.effective_on for row in rows[-1:])])
    start = from_date or min(
        [lease.start_date, end, *(r.effective_on for r in rows[:1])]
    )
    return StatementOut(
        lease_id=lease.id,
        currency=lease.currency,
        from_date=start,
        to_date=max(start, end),
        opening_balance_amount=opening,
        closing_balance_amount=running,
        lines=lines,
        deposit=await deposit_section(session, lease.id),
    )


# --- the deposit ------------------------------------------------------------


async def deposit_section(
    session: AsyncSession, lease_id: uuid.UUID
) -> StatementDeposit:
    """What is held now, and how each settlement at move-out went."""
    held = await ledger.held_deposit(session, lease_id)
    release = aliased(LedgerEntry)
    rows = await session.execute(
        select(
            LedgerEntry.id,
            LedgerEntry.entry_type,
            LedgerEntry.category,
            LedgerEntry.amount,
            LedgerEntry.effective_on,
            LedgerEntry.description,
            LedgerEntry.source_entry_id,
        )
        .outerjoin(release, release.id == LedgerEntry.source_entry_id)
        .where(
            LedgerEntry.lease_id == lease_id,
            ledger.not_reversed(),
            or_(
                and_(
                    LedgerEntry.entry_type == "credit",
                    LedgerEntry.category == "deposit_release",
                ),
                release.category == "deposit_release",
            ),
        )
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    )
    return StatementDeposit(held_amount=held, dispositions=_dispositions(list(rows)))


def _dispositions(rows: Sequence[Any]) -> list[DepositDisposition]:
    released = {
        row.id: row
        for row in rows
        if row.entry_type == "credit" and row.category == "deposit_release"
    }
    deductions: dict[uuid.UUID, list[DepositDeduction]] = {key: [] for key in released}
    refunded: dict[uuid.UUID, int] = dict.fromkeys(released, 0)
    for row in rows:
        if row.source_entry_id not in released:
            continue
        if row.entry_type == "charge":
            deductions[row.source_entry_id].append(
                DepositDeduction(description=row.description, amount=row.amount)
            )
        elif row.entry_type == "refund":
            refunded[row.source_entry_id] += row.amount
    settled = []
    for key, row in released.items():
        deducted = sum(item.amount for item in deductions[key])
        settled.append(
            DepositDisposition(
                disposed_on=row.effective_on,
                released_amount=row.amount,
                deducted_amount=deducted,
                deductions=deductions[key],
                applied_amount=row.amount - deducted - refunded[key],
                refunded_amount=refunded[key],
            )
        )
    return settled


# --- the balance and what is due next ---------------------------------------


async def balance_and_next_due(
    session: AsyncSession, lease: LeaseFacts, today: date
) -> tuple[BalanceOut, NextDueOut | None]:
    """The lease's money at a glance, and the rent to pay next."""
    charges = await ledger.open_charges(session, lease.id)
    funds = await ledger.available_funds(session, lease.id)
    balance = BalanceOut(
        lease_id=lease.id,
        currency=lease.currency,
        balance_amount=await ledger.balance(session, lease.id),
        open_charges_amount=sum(charge.open for charge in charges),
        unapplied_amount=sum(fund.available for fund in funds),
        deposit_held_amount=await ledger.held_deposit(session, lease.id),
    )
    return balance, await _next_due(session, lease, charges, today)


async def _next_due(
    session: AsyncSession,
    lease: LeaseFacts,
    charges: Sequence[ledger.OpenCharge],
    today: date,
) -> NextDueOut | None:
    """The oldest rent still open (``charges`` are oldest due first); else the
    first due date, by the lease's terms, after the last rent charged."""
    for charge in charges:
        if charge.category == "rent":
            return NextDueOut(
                due_on=charge.effective_on,
                amount=charge.open,
                currency=lease.currency,
                charge_id=charge.id,
                past_due=charge.effective_on < today,
            )
    last_charged = await session.scalar(
        select(func.max(LedgerEntry.effective_on)).where(
            LedgerEntry.lease_id == lease.id,
            LedgerEntry.entry_type == "charge",
            LedgerEntry.category == "rent",
            ledger.not_reversed(),
        )
    )
    # Rent charged ahead of its due date and paid already is not due next.
    after = today if last_charged is None else max(today, last_charged + timedelta(1))
    due_on = terms.next_rent_due_on(
        status=lease.status,
        start_date=lease.start_date,
        end_date=lease.end_date,
        due_day=lease.due_day,
        today=after,
    )
    if due_on is None:
        return None
    return NextDueOut(
        due_on=due_on,
        amount=lease.rent_amount,
        currency=lease.currency,
        charge_id=None,
        past_due=False,
    )


# --- the statement as CSV ---------------------------------------------------

STATEMENT_HEADER = (
    "row_type",
    "date",
    "entry_type",
    "category",
    "description",
    "reason",
    "method",
    "reference",
    "amount",
    "balance_effect",
    "running_balance",
    "currency",
    "entry_id",
    "reverses_entry_id",
    "reversed_by_entry_id",
)


def csv_filename(shown: StatementOut) -> str:
    return f"statement-{shown.lease_id}-{shown.from_date}-{shown.to_date}.csv"


def statement_rows(shown: StatementOut) -> list[list[Cell]]:
    """One row per line between the opening and closing balances, then the
    deposit: held now, and each settlement's parts."""
    currency = shown.currency

    def money(amount: int | None) -> Money | None:
        return None if amount is None else Money(amount, currency)

    def summary(
        kind: str,
        day: date | None,
        *,
        amount: int | None = None,
        running: int | None = None,
        description: str | None = None,
    ) -> list[Cell]:
        text: list[Cell] = [kind, day, None, None, description, None, None, None]
        return [*text, money(amount), None, money(running), currency, None, None, None]

    rows = [
        summary(
            "opening_balance", shown.from_date, running=shown.opening_balance_amount
        )
    ]
    for line in shown.lines:
        rows.append(
            [
                "entry",
                line.effective_on,
                line.entry_type,
                line.category,
                line.description,
                line.reason,
                line.method,
                line.reference,
                money(line.amount),
                money(line.balance_effect_amount),
                money(line.running_balance_amount),
                currency,
                line.id,
                line.reverses.id if line.reverses else None,
                line.reversed_by.id if line.reversed_by else None,
            ]
        )
    rows.append(
        summary("closing_balance", shown.to_date, running=shown.closing_balance_amount)
    )
    rows.append(summary("deposit_held", None, amount=shown.deposit.held_amount))
    for settled in shown.deposit.dispositions:
        on = settled.disposed_on
        rows.append(summary("deposit_released", on, amount=settled.released_amount))
        rows.extend(
            summary(
                "deposit_deducted",
                on,
                amount=item.amount,
                description=item.description,
            )
            for item in settled.deductions
        )
        rows.append(summary("deposit_applied", on, amount=settled.applied_amount))
        rows.append(summary("deposit_refunded", on, amount=settled.refunded_amount))
    return rows
