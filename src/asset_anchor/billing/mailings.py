"""The scheduled emails about rent: reminders and monthly statements.

One query per window of leases finds what is due to be sent at every lease's
property (its own date and hour); ``notices.send_to_tenants`` then claims each
recipient's ``billing_notices`` row before queueing the email, so a second
run, or a second worker, sends nothing more. A lease already noticed for an
occasion is left out of the query, so each run moves on to what is left.

- A reminder goes ``rent_reminder_days_before`` days before an open rent
  charge's due date (``reminder:<charge id>:before``, not when that is 0) and
  on the day (``reminder:<charge id>:due``).
- A statement goes early in each month for the month before
  (``statement:2026-11``) to every lease, active or over, that had entries in
  that month or a balance at its end.
- Neither goes before ``SEND_FROM_HOUR`` at the property: a rent charge made
  just after midnight is not announced in the night.
"""

# ruff: noqa: S608 - every statement here is put together from this module's
# own fragments and column names; values are always bound parameters.

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import notices
from asset_anchor.billing.schedule import (
    EVERY_LEASE,
    KNOWN_ZONES_SQL,
    LEASE_WINDOW_SQL,
    LeaseWindow,
    not_reversed_sql,
    open_amount_sql,
    without_jit,
)
from asset_anchor.kit.money import format_amount
from asset_anchor.models import Lease

SEND_FROM_HOUR = 8
# A statement not sent on the 1st (the worker was down) still goes out in the
# first days of the month; later than this it would only confuse.
STATEMENT_DAYS = 7

_LOCAL_NOW = "(CAST(:now AS timestamptz) AT TIME ZONE p.timezone)"
# A lease none of whose tenants has an address (the ones ``notices.recipients``
# mails) is left out: nothing would claim its occasion, so every run would
# pick it up again.
_MAILABLE = """EXISTS (
    SELECT 1 FROM lease_tenants AS lt
    LEFT JOIN users AS u ON u.id = lt.user_id
    WHERE lt.lease_id = l.id AND coalesce(u.email, lt.email) <> ''
)"""


def day_text(day: date) -> str:
    """A date as tenants read it: ``1 February 2027``."""
    return f"{day.day} {day:%B %Y}"


def month_text(day: date) -> str:
    return f"{day:%B %Y}"


def balance_text(amount: int, currency: str) -> str:
    """A balance as tenants read it: what is owed, or what is in credit."""
    shown = format_amount(abs(amount), currency)
    return f"{shown} in credit" if amount < 0 else shown


async def _leases(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Lease]:
    found = await session.scalars(select(Lease).where(Lease.id.in_(ids)))
    return {lease.id: lease for lease in found}


# --- reminders ----------------------------------------------------------------

_REMINDERS_SQL = f"""
WITH {KNOWN_ZONES_SQL},
clock AS (
    SELECT l.id AS lease_id, {_LOCAL_NOW} AS local_now,
           o.rent_reminder_days_before AS days_before
    FROM leases AS l
    JOIN properties AS p ON p.id = l.property_id
    JOIN organizations AS o ON o.id = l.organization_id
    WHERE l.status = 'active'
      AND p.timezone IN (SELECT name FROM zones)
      AND {LEASE_WINDOW_SQL}
      AND {_MAILABLE}
),
due AS (
    SELECT c.lease_id, r.id AS charge_id, r.effective_on AS due_on,
           r.rent_period, r.currency, {open_amount_sql("r")} AS open_amount,
           c.local_now::date AS today,
           CASE WHEN r.effective_on = c.local_now::date THEN 'due'
                ELSE 'before' END AS moment
    FROM clock AS c
    JOIN ledger_entries AS r ON r.lease_id = c.lease_id
    WHERE extract(hour FROM c.local_now) >= :from_hour
      AND r.category = 'rent' AND r.entry_type = 'charge'
      AND {not_reversed_sql("r")}
      AND (
          r.effective_on = c.local_now::date
          OR (c.days_before > 0
              AND r.effective_on > c.local_now::date
              AND r.effective_on - c.days_before <= c.local_now::date)
      )
)
SELECT d.* FROM due AS d
WHERE d.open_amount > 0
  AND NOT EXISTS (
      SELECT 1 FROM billing_notices AS n
      WHERE n.lease_id = d.lease_id
        AND n.occasion = 'reminder:' || d.charge_id || ':' || d.moment
  )
ORDER BY d.lease_id, d.due_on
"""


@dataclass(frozen=True)
class Reminder:
    lease_id: uuid.UUID
    charge_id: uuid.UUID
    moment: str
    """``before`` or ``due``."""
    due_on: date
    rent_period: date
    open_amount: int
    currency: str
    today: date

    @property
    def occasion(self) -> str:
        return f"reminder:{self.charge_id}:{self.moment}"


async def due_reminders(
    session: AsyncSession, *, now: datetime, window: LeaseWindow = EVERY_LEASE
) -> list[Reminder]:
    """The reminders not yet sent that are due at ``now``."""
    await without_jit(session)
    rows = await session.execute(
        text(_REMINDERS_SQL),
        {
            "now": now,
            "from_hour": SEND_FROM_HOUR,
            "after": window.after,
            "upto": window.upto,
        },
    )
    return [
        Reminder(
            lease_id=row.lease_id,
            charge_id=row.charge_id,
            moment=row.moment,
            due_on=row.due_on,
            rent_period=row.rent_period,
            open_amount=int(row.open_amount),
            currency=row.currency,
            today=row.today,
        )
        for row in rows
    ]


async def send_reminders(
    session: AsyncSession, *, now: datetime, window: LeaseWindow = EVERY_LEASE
) -> int:
    """Queue the rent reminders due at ``now``; return how many emails."""
    reminders = await due_reminders(session, now=now, window=window)
    leases = await _leases(session, {reminder.lease_id for reminder in reminders})
    sent = 0
    for reminder in reminders:
        sent += await notices.send_to_tenants(
            session,
            leases[reminder.lease_id],
            kind="rent_reminder",
            occasion=reminder.occasion,
            context={
                "lease_id": str(reminder.lease_id),
                "amount": format_amount(reminder.open_amount, reminder.currency),
                "due_on": day_text(reminder.due_on),
                "period": month_text(reminder.rent_period),
                "due_today": reminder.moment == "due",
                "days_left": (reminder.due_on - reminder.today).days,
            },
        )
    return sent


# --- monthly statements -------------------------------------------------------

_STATEMENTS_SQL = f"""
WITH {KNOWN_ZONES_SQL},
clock AS (
    SELECT l.id AS lease_id, l.currency,
           (date_trunc('month', {_LOCAL_NOW}) - interval '1 month')::date
               AS month_start,
           date_trunc('month', {_LOCAL_NOW})::date - 1 AS month_end
    FROM leases AS l
    JOIN properties AS p ON p.id = l.property_id
    WHERE l.status <> 'draft'
      AND p.timezone IN (SELECT name FROM zones)
      AND extract(day FROM {_LOCAL_NOW}) <= :statement_days
      AND extract(hour FROM {_LOCAL_NOW}) >= :from_hour
      AND {LEASE_WINDOW_SQL}
      AND {_MAILABLE}
),
pending AS (
    SELECT c.* FROM clock AS c
    WHERE NOT EXISTS (
        SELECT 1 FROM billing_notices AS n
        WHERE n.lease_id = c.lease_id
          AND n.occasion = 'statement:' || to_char(c.month_start, 'YYYY-MM')
    )
),
sums AS (
    SELECT pe.lease_id, pe.currency, pe.month_start, pe.month_end,
           coalesce(sum(e.balance_effect)
                    FILTER (WHERE e.effective_on < pe.month_start), 0) AS opening,
           coalesce(sum(e.balance_effect)
                    FILTER (WHERE e.effective_on >= pe.month_start
                              AND e.entry_type = 'charge'), 0) AS charges,
           coalesce(-sum(e.balance_effect)
                    FILTER (WHERE e.effective_on >= pe.month_start
                              AND e.entry_type <> 'charge'), 0) AS paid,
           count(e.id) FILTER (WHERE e.effective_on >= pe.month_start) AS entries
    FROM pending AS pe
    LEFT JOIN ledger_entries AS e
      ON e.lease_id = pe.lease_id AND e.effective_on <= pe.month_end
    GROUP BY pe.lease_id, pe.currency, pe.month_start, pe.month_end
)
SELECT s.*, s.opening + s.charges - s.paid AS closing
FROM sums AS s
WHERE s.entries > 0 OR s.opening + s.charges - s.paid <> 0
ORDER BY s.lease_id
"""


@dataclass(frozen=True)
class Statement:
    """A lease's month: opening + charges - payments and credits = closing.

    Charges are net of voids; payments and credits are net of reversals and
    refunds (a refund gives money back, so it counts against them).
    """

    lease_id: uuid.UUID
    month_start: date
    month_end: date
    currency: str
    opening: int
    charges: int
    paid: int
    closing: int

    @property
    def occasion(self) -> str:
        return f"statement:{self.month_start:%Y-%m}"


async def due_statements(
    session: AsyncSession, *, now: datetime, window: LeaseWindow = EVERY_LEASE
) -> list[Statement]:
    """The statements not yet sent that are due at ``now``."""
    await without_jit(session)
    rows = await session.execute(
        text(_STATEMENTS_SQL),
        {
            "now": now,
            "from_hour": SEND_FROM_HOUR,
            "statement_days": STATEMENT_DAYS,
            "after": window.after,
            "upto": window.upto,
        },
    )
    return [
        Statement(
            lease_id=row.lease_id,
            month_start=row.month_start,
            month_end=row.month_end,
            currency=row.currency,
            opening=int(row.opening),
            charges=int(row.charges),
            paid=int(row.paid),
            closing=int(row.closing),
        )
        for row in rows
    ]


async def send_statements(
    session: AsyncSession, *, now: datetime, window: LeaseWindow = EVERY_LEASE
) -> int:
    """Queue the monthly statements due at ``now``; return how many emails."""
    statements = await due_statements(session, now=now, window=window)
    leases = await _leases(session, {statement.lease_id for statement in statements})
    sent = 0
    for statement in statements:
        currency = statement.currency
        sent += await notices.send_to_tenants(
            session,
            leases[statement.lease_id],
            kind="monthly_statement",
            occasion=statement.occasion,
            context={
                "lease_id": str(statement.lease_id),
                "month": month_text(statement.month_start),
                "opening_balance": balance_text(statement.opening, currency),
                "charges": format_amount(statement.charges, currency),
                "payments": format_amount(statement.paid, currency),
                "closing_balance": balance_text(statement.closing, currency),
                "in_credit": statement.closing < 0,
                "settled": statement.closing == 0,
            },
        )
    return sent
