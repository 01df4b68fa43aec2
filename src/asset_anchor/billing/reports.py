"""The organization's money reports: a month's rent roll, and the aging.

Each is one document, not a page: every row is answered, and the report is
built by one SQL statement that aggregates the ledger for all its leases at
once (no statement per lease), so 30 leases cost what one does. Past
``MAX_ROWS`` rows a report is refused with a hint to filter by property,
rather than answering something nobody can open.

Leases are found through ``organizations.scope``; the ledger rows and
tenants aggregated for them are reached through those leases.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    Case,
    ColumnElement,
    Date,
    DateTime,
    Select,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import ledger
from asset_anchor.billing.errors import ReportTooLarge
from asset_anchor.billing.report_schemas import (
    AgingOut,
    AgingRow,
    AgingTotal,
    RentRollOut,
    RentRollRow,
    RentRollTotal,
)
from asset_anchor.kit.csv_export import Cell, Money
from asset_anchor.models import (
    Allocation,
    Lease,
    LeaseTenant,
    LedgerEntry,
    Property,
    Unit,
)
from asset_anchor.organizations.scope import StaffScope, owned_columns

MAX_ROWS = 10_000
_OVER = ("ended", "terminated")

Total = TypeVar("Total", bound=BaseModel)


def _tenant_names() -> Any:
    """In the order the lease lists them (``tenants.service`` orders alike)."""
    return (
        select(
            func.array_agg(
                aggregate_order_by(
                    LeaseTenant.full_name,
                    LeaseTenant.created_at,
                    LeaseTenant.full_name,
                    LeaseTenant.id,
                )
            )
        )
        .where(LeaseTenant.lease_id == Lease.id)
        .scalar_subquery()
    )


def _report_columns() -> tuple[Any, ...]:
    return (
        Property.id.label("property_id"),
        Property.name.label("property_name"),
        Unit.id.label("unit_id"),
        Unit.label.label("unit_label"),
        Lease.id.label("lease_id"),
        Lease.status.label("lease_status"),
        Lease.currency,
        _tenant_names().label("tenant_names"),
    )


def _leases(
    scope: StaffScope, property_id: uuid.UUID | None, *columns: Any
) -> Select[Any]:
    statement = (
        owned_columns(scope, Lease, *_report_columns(), *columns)
        .join(Unit, Unit.id == Lease.unit_id)
        .join(Property, Property.id == Lease.property_id)
    )
    if property_id is not None:
        statement = statement.where(Lease.property_id == property_id)
    return statement


async def _rows(session: AsyncSession, statement: Select[Any]) -> list[Any]:
    ordered = statement.order_by(
        Property.name, Property.id, Unit.label, Lease.start_date, Lease.id
    ).limit(MAX_ROWS + 1)
    rows = list(await session.execute(ordered))
    if len(rows) > MAX_ROWS:
        raise ReportTooLarge(
            f"More than {MAX_ROWS} leases: ask for one property at a time.",
            max_rows=MAX_ROWS,
        )
    return rows


def _where(row: Any) -> dict[str, Any]:
    return {
        "property_id": row.property_id,
        "property_name": row.property_name,
        "unit_id": row.unit_id,
        "unit_label": row.unit_label,
        "lease_id": row.lease_id,
        "lease_status": row.lease_status,
        "tenant_names": list(row.tenant_names or []),
        "currency": row.currency,
    }


def _totals(
    rows: Sequence[Any], model: type[Total], fields: Iterable[str]
) -> list[Total]:
    """Per currency: a report never adds dollars to euros."""
    summed: dict[str, dict[str, int]] = {}
    for row in rows:
        into = summed.setdefault(row.currency, {"leases": 0})
        into["leases"] += 1
        for field in fields:
            into[field] = into.get(field, 0) + getattr(row, field)
    return [
        model(currency=currency, **values)
        for currency, values in sorted(summed.items())
    ]


# --- the rent roll ----------------------------------------------------------

RENT_ROLL_SUMS = (
    "rent_amount",
    "opening_balance_amount",
    "charged_amount",
    "paid_amount",
    "balance_amount",
)


def month_bounds(month: str) -> tuple[date, date]:
    """The first and last day of ``YYYY-MM``."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(
        year, number, calendar.monthrange(year, number)[1]
    )


def _month_sums(start: date, end: date) -> Any:
    """Per lease, its ledger up to the month's end, split at the month's start;
    reversals count on their own day, against the kind of entry they undo."""
    effect = LedgerEntry.balance_effect
    in_month = LedgerEntry.effective_on >= start
    charge = LedgerEntry.entry_type == "charge"

    def total(value: Any, *where: ColumnElement[bool]) -> Any:
        summed = func.sum(value).filter(*where) if where else func.sum(value)
        return func.coalesce(summed, 0)

    return (
        select(
            total(effect, LedgerEntry.effective_on < start).label("opening"),
            total(effect, in_month, charge).label("charged"),
            total(-effect, in_month, ~charge).label("paid"),
            total(effect).label("closing"),
        )
        .where(LedgerEntry.lease_id == Lease.id, LedgerEntry.effective_on <= end)
        .lateral("month_sums")
    )


def _last_day() -> Case[Any]:
    return case((Lease.status.in_(_OVER), Lease.ended_on), else_=Lease.end_date)


async def rent_roll(
    session: AsyncSession,
    scope: StaffScope,
    *,
    month: str,
    property_id: uuid.UUID | None,
) -> RentRollOut:
    """Each lease in force some day of the month: active and started by its
    end, or ended or terminated on or after its first day."""
    start, end = month_bounds(month)
    sums = _month_sums(start, end)
    statement = (
        _leases(
            scope,
            property_id,
            Lease.start_date,
            _last_day().label("last_day"),
            Lease.rent_amount,
            sums.c.opening,
            sums.c.charged,
            sums.c.paid,
            sums.c.closing,
        )
        .join(sums, true())
        .where(
            Lease.status != "draft",
            Lease.start_date <= end,
            or_(Lease.ended_on.is_(None), Lease.ended_on >= start),
        )
    )
    rows = [
        RentRollRow(
            **_where(row),
            start_date=row.start_date,
            end_date=row.last_day,
            rent_amount=row.rent_amount,
            opening_balance_amount=row.opening,
            charged_amount=row.charged,
            paid_amount=row.paid,
            balance_amount=row.closing,
        )
        for row in await _rows(session, statement)
    ]
    return RentRollOut(
        month=month, rows=rows, totals=_totals(rows, RentRollTotal, RENT_ROLL_SUMS)
    )


# --- the aging --------------------------------------------------------------

AGING_SUMS = (
    "current_amount",
    "days_1_30_amount",
    "days_31_60_amount",
    "days_61_90_amount",
    "over_90_amount",
    "open_amount",
    "unapplied_amount",
)


def _open_charges(scope: StaffScope) -> Any:
    """Every charge of the organization that still owes something, as in
    ``ledger.open_charges``: its amount less what was allocated to it."""
    allocated = (
        owned_columns(
            scope,
            Allocation,
            Allocation.charge_id,
            func.sum(Allocation.amount).label("allocated"),
        )
        .group_by(Allocation.charge_id)
        .subquery()
    )
    remaining = LedgerEntry.amount - func.coalesce(allocated.c.allocated, 0)
    return (
        owned_columns(
            scope,
            LedgerEntry,
            LedgerEntry.lease_id,
            LedgerEntry.effective_on,
            remaining.label("open"),
        )
        .outerjoin(allocated, allocated.c.charge_id == LedgerEntry.id)
        .where(LedgerEntry.entry_type == "charge", ledger.not_reversed(), remaining > 0)
        .subquery()
    )


def _unapplied(scope: StaffScope) -> Any:
    """Per lease, what its payments and credits have left to apply, as in
    ``ledger.available_funds``: amount less allocations and refunds."""
    allocated = (
        owned_columns(
            scope,
            Allocation,
            Allocation.funding_id,
            func.sum(Allocation.amount).label("allocated"),
        )
        .group_by(Allocation.funding_id)
        .subquery()
    )
    refunded = (
        owned_columns(
            scope,
            LedgerEntry,
            LedgerEntry.source_entry_id,
            func.sum(LedgerEntry.amount).label("refunded"),
        )
        .where(LedgerEntry.entry_type == "refund", ledger.not_reversed())
        .group_by(LedgerEntry.source_entry_id)
        .subquery()
    )
    left = (
        LedgerEntry.amount
        - func.coalesce(allocated.c.allocated, 0)
        - func.coalesce(refunded.c.refunded, 0)
    )
    funds = (
        owned_columns(scope, LedgerEntry, LedgerEntry.lease_id, left.label("left"))
        .outerjoin(allocated, allocated.c.funding_id == LedgerEntry.id)
        .outerjoin(refunded, refunded.c.source_entry_id == LedgerEntry.id)
        .where(
            LedgerEntry.entry_type.in_(ledger.FUNDING_TYPES),
            ledger.not_reversed(),
            left > 0,
        )
        .subquery()
    )
    return (
        select(funds.c.lease_id, func.sum(funds.c.left).label("unapplied"))
        .group_by(funds.c.lease_id)
        .subquery()
    )


def _local_today(now: datetime) -> Any:
    """Today at the property of the row, at the instant ``now``."""
    return cast(
        func.timezone(Property.timezone, literal(now, DateTime(timezone=True))), Date
    )


def _buckets(scope: StaffScope, now: datetime) -> Any:
    """Per lease, its open charges summed by how many days past due each is."""
    charges = _open_charges(scope)
    dated = (
        select(
            charges.c.lease_id,
            charges.c.open,
            (_local_today(now) - charges.c.effective_on).label("late"),
        )
        .select_from(charges)
        .join(Lease, Lease.id == charges.c.lease_id)
        .join(Property, Property.id == Lease.property_id)
        .subquery()
    )

    def bucket(where: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(dated.c.open).filter(where), 0)

    return (
        select(
            dated.c.lease_id,
            bucket(dated.c.late <= 0).label("current"),
            bucket(dated.c.late.between(1, 30)).label("days_1_30"),
            bucket(dated.c.late.between(31, 60)).label("days_31_60"),
            bucket(dated.c.late.between(61, 90)).label("days_61_90"),
            bucket(dated.c.late > 90).label("over_90"),
            func.sum(dated.c.open).label("open"),
        )
        .group_by(dated.c.lease_id)
        .subquery()
    )


async def aging(
    session: AsyncSession,
    scope: StaffScope,
    *,
    now: datetime,
    property_id: uuid.UUID | None,
) -> AgingOut:
    """What each lease owes, by days past due at ``now`` in its property's
    timezone, and its unapplied credit; leases with neither are left out."""
    buckets = _buckets(scope, now)
    unapplied = _unapplied(scope)
    statement = (
        _leases(
            scope,
            property_id,
            _local_today(now).label("as_of"),
            buckets.c.current,
            buckets.c.days_1_30,
            buckets.c.days_31_60,
            buckets.c.days_61_90,
            buckets.c.over_90,
            buckets.c.open,
            unapplied.c.unapplied,
        )
        .outerjoin(buckets, buckets.c.lease_id == Lease.id)
        .outerjoin(unapplied, unapplied.c.lease_id == Lease.id)
        .where(or_(buckets.c.lease_id.is_not(None), unapplied.c.lease_id.is_not(None)))
    )
    rows = [
        AgingRow(
            **_where(row),
            as_of=row.as_of,
            current_amount=row.current or 0,
            days_1_30_amount=row.days_1_30 or 0,
            days_31_60_amount=row.days_31_60 or 0,
            days_61_90_amount=row.days_61_90 or 0,
            over_90_amount=row.over_90 or 0,
            open_amount=row.open or 0,
            unapplied_amount=row.unapplied or 0,
        )
        for row in await _rows(session, statement)
    ]
    return AgingOut(rows=rows, totals=_totals(rows, AgingTotal, AGING_SUMS))


# --- as CSV -----------------------------------------------------------------

_PLACE_HEADER = (
    "row_type",
    "property",
    "unit",
    "tenants",
    "lease_id",
    "lease_status",
    "currency",
)
RENT_ROLL_HEADER = (
    *_PLACE_HEADER,
    "start_date",
    "end_date",
    "rent",
    "opening_balance",
    "charged",
    "paid",
    "balance",
)
AGING_HEADER = (
    *_PLACE_HEADER,
    "as_of",
    "current",
    "days_1_30",
    "days_31_60",
    "days_61_90",
    "over_90",
    "open",
    "unapplied",
)


def _table(
    rows: Sequence[Any],
    totals: Sequence[Any],
    dates: Callable[[Any], list[Cell]],
    date_columns: int,
    sums: Sequence[str],
) -> list[list[Cell]]:
    """A row per lease, then a total row per currency (its place left blank)."""

    def money(source: Any) -> list[Cell]:
        return [Money(getattr(source, field), source.currency) for field in sums]

    table: list[list[Cell]] = [
        [
            "lease",
            row.property_name,
            row.unit_label,
            "; ".join(row.tenant_names),
            row.lease_id,
            row.lease_status,
            row.currency,
            *dates(row),
            *money(row),
        ]
        for row in rows
    ]
    table.extend(
        [
            "total",
            None,
            None,
            None,
            None,
            None,
            total.currency,
            *([None] * date_columns),
            *money(total),
        ]
        for total in totals
    )
    return table


def rent_roll_rows(report: RentRollOut) -> list[list[Cell]]:
    return _table(
        report.rows,
        report.totals,
        lambda row: [row.start_date, row.end_date],
        2,
        RENT_ROLL_SUMS,
    )


def aging_rows(report: AgingOut) -> list[list[Cell]]:
    return _table(report.rows, report.totals, lambda row: [row.as_of], 1, AGING_SUMS)
