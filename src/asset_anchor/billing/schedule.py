"""The scheduled ledger writes: rent charges and late fees, set-based.

Each run works on a window of leases (``LeaseWindow``, by id) in one
statement: it works out, at every lease's property, today's date, which rent
periods or late fees are due, and inserts them with ``ON CONFLICT DO
NOTHING`` on the ledger's unique keys (``uq_ledger_entries_rent_period``,
``uq_ledger_entries_late_fee``). Those keys, not a check made beforehand,
are what make a second run, or two workers at once, add nothing. The same
statement audits every row it inserted and names the leases that have money
waiting, whose allocation then runs under the lease's row lock.

The rules (docs/DECISIONS.md, "The rent schedule"):

- A rent period is a calendar month, clipped to the lease's start and end
  dates; a partial month is prorated by day, ``prorate`` below, rounded half
  up to the minor unit (SQL's ``round()`` on numeric rounds half away from
  zero, the same for amounts that are never negative).
- It is due on the lease's due day in that month (the last day of a shorter
  month), never before the lease starts nor after it ends, and is charged
  ``rent_charge_days_ahead`` days before that, or later if the job was late;
  each run starts after the last period the lease was charged for.
- Nothing is charged for a period that ended before the lease was activated:
  older arrears are a one-off charge the landlord records.
- A late fee falls on the day after the grace period, which runs from the
  due date, or from the day the charge was made if that was later.
"""

# ruff: noqa: S608 - every statement here is put together from this module's
# own fragments and column names; values are always bound parameters.

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import ledger
from asset_anchor.logging import current_context
from asset_anchor.models import Lease

# --- the one rounding rule ---------------------------------------------------


def share(amount: int, numerator: int, denominator: int) -> int:
    """``amount x numerator / denominator`` in minor units, rounded half up.

    The Python side of the one rounding rule; ``share_sql`` is the SQL side
    and a test holds the two to the same answers.
    """
    exact = Decimal(amount) * numerator / denominator
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def prorate(rent_amount: int, days_covered: int, days_in_month: int) -> int:
    """The rent of a partial month: by day, rounded half up to the minor unit."""
    return share(rent_amount, days_covered, days_in_month)


def percent_of(amount: int, basis_points: int) -> int:
    """``basis_points`` hundredths of a percent of an amount, rounded half up."""
    return share(amount, basis_points, 10_000)


def share_sql(amount: str, numerator: str, denominator: str) -> str:
    # PostgreSQL divides numerics to at least 16 significant digits. A day
    # share (a denominator of 28 to 31) is never within 1/62 of a half without
    # being one, and a percentage (10,000) ends within four decimals, so for
    # amounts under 10^12 minor units round() sees the exact side of the half.
    return f"round(({amount})::numeric * ({numerator}) / ({denominator}))::bigint"


# --- windows of leases ---------------------------------------------------------


@dataclass(frozen=True)
class LeaseWindow:
    """Leases whose id is above ``after`` and at most ``upto`` (None: no bound)."""

    after: uuid.UUID | None = None
    upto: uuid.UUID | None = None


EVERY_LEASE = LeaseWindow()

# The bounds are written so that an index on the id can serve them: no bound
# is the lowest or the highest UUID.
_LOWEST = "'00000000-0000-0000-0000-000000000000'"
_HIGHEST = "'ffffffff-ffff-ffff-ffff-ffffffffffff'"
LEASE_WINDOW_SQL = f"""
    l.id > coalesce(CAST(:after AS uuid), {_LOWEST})
    AND l.id <= coalesce(CAST(:upto AS uuid), {_HIGHEST})
"""
_NEXT_WINDOW = text(
    f"""
    SELECT window_.id FROM (
        SELECT l.id FROM leases AS l
        WHERE l.status = ANY(CAST(:statuses AS varchar[]))
          AND l.id > coalesce(CAST(:after AS uuid), {_LOWEST})
        ORDER BY l.id
        LIMIT :size
    ) AS window_
    ORDER BY window_.id DESC
    LIMIT 1
    """
)


async def next_window(
    session: AsyncSession,
    after: uuid.UUID | None,
    *,
    size: int,
    statuses: Sequence[str] = ("active",),
) -> LeaseWindow | None:
    """The next ``size`` leases in these statuses after ``after``; None at the end."""
    upto = await session.scalar(
        _NEXT_WINDOW, {"after": after, "size": size, "statuses": list(statuses)}
    )
    return None if upto is None else LeaseWindow(after, upto)


async def without_jit(session: AsyncSession) -> None:
    """Turn JIT compilation off for the rest of this transaction.

    These statements are estimated dear (the planner cannot see how few rows
    the data-modifying parts return), so PostgreSQL would JIT-compile them: a
    second of compiling for a statement that then runs in a tenth of that.
    """
    await session.execute(text("SET LOCAL jit = off"))


def _window_params(window: LeaseWindow) -> dict[str, uuid.UUID | None]:
    return {"after": window.after, "upto": window.upto}


# --- fragments shared by the statements ---------------------------------------

# A property whose timezone PostgreSQL does not know (its tz database older
# than the one the API validated against) is left out rather than failing
# the statement, and so every other lease, with it.
KNOWN_ZONES_SQL = "zones AS MATERIALIZED (SELECT name FROM pg_timezone_names)"
_LOCAL_TODAY = (
    "coalesce(CAST(:on AS date),"
    " (CAST(:now AS timestamptz) AT TIME ZONE p.timezone)::date)"
)


def not_reversed_sql(alias: str) -> str:
    return (
        f"{alias}.reverses_id IS NULL AND NOT EXISTS ("
        f"SELECT 1 FROM ledger_entries AS {alias}_rev"
        f" WHERE {alias}_rev.reverses_id = {alias}.id)"
    )


def open_amount_sql(alias: str) -> str:
    """What a charge still owes: its amount less its net allocations."""
    return (
        f"{alias}.amount - coalesce((SELECT sum(a.amount) FROM allocations AS a"
        f" WHERE a.charge_id = {alias}.id), 0)"
    )


def _has_money(lease_id: str) -> str:
    """The lease has a payment or credit with something left to apply (the
    same sums as ``ledger.available_funds``)."""
    return f"""EXISTS (
        SELECT 1 FROM ledger_entries AS f
        WHERE f.lease_id = {lease_id}
          AND f.entry_type IN ('payment', 'credit')
          AND {not_reversed_sql("f")}
          AND f.amount
            - coalesce((SELECT sum(a.amount) FROM allocations AS a
                        WHERE a.funding_id = f.id), 0)
            - coalesce((SELECT sum(rf.amount) FROM ledger_entries AS rf
                        WHERE rf.source_entry_id = f.id
                          AND rf.entry_type = 'refund'
                          AND {not_reversed_sql("rf")}), 0)
            > 0
    )"""


def _audit_changes(columns: Sequence[str]) -> str:
    """The audit log's ``{field: {"from": null, "to": value}}`` of a new row,
    as ``audit.created`` writes it (every column named here is set)."""
    pairs = ", ".join(
        f"'{column}', jsonb_build_object('from', NULL, 'to', {column})"
        for column in columns
    )
    return f"jsonb_build_object({pairs})"


def _audited_and_funded(action: str, columns: Sequence[str]) -> str:
    """The tail of an inserting statement: one audit event per inserted row
    (actor none: the system), then a count and the leases with money left."""
    return f"""
    audited AS (
        INSERT INTO audit_events (id, organization_id, created_at, actor_id,
                                  action, entity_type, entity_id, changes,
                                  request_id)
        SELECT gen_random_uuid(), organization_id, CAST(:now AS timestamptz),
               NULL, '{action}', 'ledger_entry', id,
               {_audit_changes(columns)}, CAST(:request_id AS varchar)
        FROM inserted
    ),
    touched AS (SELECT DISTINCT lease_id, organization_id FROM inserted)
    SELECT
        (SELECT count(*) FROM inserted) AS entries,
        (SELECT count(*) FROM touched) AS leases,
        coalesce(
            (SELECT array_agg(t.lease_id ORDER BY t.lease_id) FROM touched AS t
             WHERE {_has_money("t.lease_id")}),
            CAST('{{}}' AS uuid[])
        ) AS funded
    """


# --- rent ---------------------------------------------------------------------

_RENT_AUDITED = (
    "entry_type",
    "category",
    "amount",
    "currency",
    "effective_on",
    "period_start",
    "period_end",
    "rent_period",
)

# The rent for the days of the month the period covers.
_PRORATED = share_sql(
    "pe.rent_amount",
    "pe.period_end - pe.period_start + 1",
    "pe.month_end - pe.month_start + 1",
)

_RENT_SQL = f"""
WITH {KNOWN_ZONES_SQL},
leases_today AS (
    SELECT l.id AS lease_id, l.organization_id, l.start_date, l.end_date,
           l.rent_amount, l.currency, l.due_day,
           {_LOCAL_TODAY} AS today,
           (l.activated_at AT TIME ZONE p.timezone)::date AS activated_on,
           o.rent_charge_days_ahead AS days_ahead,
           -- Work starts after the last period charged, so that an hourly
           -- run over a lease of many years looks at a month or two, not all
           -- of them (the rent-period index answers this backwards, at once).
           (SELECT max(e.rent_period) FROM ledger_entries AS e
            WHERE e.lease_id = l.id
              AND e.rent_period IS NOT NULL AND e.reverses_id IS NULL
           ) AS last_period
    FROM leases AS l
    JOIN properties AS p ON p.id = l.property_id
    JOIN organizations AS o ON o.id = l.organization_id
    WHERE l.status = 'active'
      AND l.rent_amount > 0
      AND p.timezone IN (SELECT name FROM zones)
      AND {LEASE_WINDOW_SQL}
),
terms AS (
    -- A lease made active without an activation time (imported by hand) is
    -- taken as activated today: the schedule never backdates rent.
    SELECT lt.*, coalesce(lt.activated_on, lt.today) AS charged_from,
           lt.today + lt.days_ahead AS horizon
    FROM leases_today AS lt
),
months AS (
    SELECT t.*, m.month::date AS month_start,
           (m.month + interval '1 month')::date - 1 AS month_end
    FROM terms AS t
    CROSS JOIN LATERAL generate_series(
        -- greatest() passes over the NULL of a lease never charged yet.
        greatest(
            date_trunc('month', greatest(t.start_date, t.charged_from)::timestamp),
            t.last_period + interval '1 month'
        ),
        date_trunc('month', least(coalesce(t.end_date, t.horizon), t.horizon)
                            ::timestamp),
        interval '1 month'
    ) AS m(month)
),
periods AS (
    SELECT mo.*,
           greatest(mo.month_start, mo.start_date) AS period_start,
           least(mo.month_end, coalesce(mo.end_date, mo.month_end)) AS period_end,
           least(
               greatest(
                   mo.month_start
                     + (least(mo.due_day, mo.month_end - mo.month_start + 1) - 1),
                   mo.start_date
               ),
               coalesce(mo.end_date, mo.month_end)
           ) AS due_on
    FROM months AS mo
),
charges AS (
    SELECT pe.*,
           {_PRORATED} AS amount
    FROM periods AS pe
    WHERE pe.due_on <= pe.horizon
      AND pe.period_end >= pe.charged_from
),
inserted AS (
    INSERT INTO ledger_entries (id, organization_id, created_at, lease_id,
                                entry_type, category, amount, currency,
                                effective_on, period_start, period_end,
                                rent_period, description)
    SELECT gen_random_uuid(), c.organization_id, CAST(:now AS timestamptz),
           c.lease_id, 'charge', 'rent', c.amount, c.currency, c.due_on,
           c.period_start, c.period_end, c.month_start,
           'Rent for ' || to_char(c.month_start, 'FMMonth YYYY')
    FROM charges AS c
    WHERE c.amount > 0
    -- One order for every run, so that two runs at once wait on each other's
    -- keys in the same order instead of deadlocking.
    ORDER BY c.lease_id, c.month_start
    ON CONFLICT (lease_id, rent_period)
        WHERE rent_period IS NOT NULL AND reverses_id IS NULL
        DO NOTHING
    RETURNING id, organization_id, lease_id, entry_type, category, amount,
              currency, effective_on, period_start, period_end, rent_period
),
{_audited_and_funded("ledger.rent_charged", _RENT_AUDITED)}
"""


@dataclass(frozen=True)
class Written:
    """What one run added: ledger rows, on how many leases, and the leases
    whose waiting money it then allocated."""

    entries: int = 0
    leases: int = 0
    allocated_leases: int = 0

    def __add__(self, other: Written) -> Written:
        return Written(
            self.entries + other.entries,
            self.leases + other.leases,
            self.allocated_leases + other.allocated_leases,
        )


def _bindings(now: datetime, on: date | None, window: LeaseWindow) -> dict[str, object]:
    request_id = current_context().get("request_id")
    return {
        "now": now,
        "on": on,
        "request_id": None if request_id is None else str(request_id),
        **_window_params(window),
    }


async def charge_rent(
    session: AsyncSession,
    *,
    now: datetime,
    on: date | None = None,
    window: LeaseWindow = EVERY_LEASE,
) -> Written:
    """Create the rent charges that are due to be made at ``now``.

    ``on`` takes that date as today at every property instead of ``now``'s
    local date (an operator charging a given day by hand).
    """
    await without_jit(session)
    row = (await session.execute(text(_RENT_SQL), _bindings(now, on, window))).one()
    allocated = await allocate_waiting(session, row.funded)
    return Written(row.entries, row.leases, allocated)


# --- late fees ----------------------------------------------------------------

_FEE_AUDITED = (
    "entry_type",
    "category",
    "amount",
    "currency",
    "effective_on",
    "source_entry_id",
    "fee_key",
)

_LATE_FEE_SQL = f"""
WITH {KNOWN_ZONES_SQL},
terms AS (
    SELECT l.id AS lease_id, l.organization_id, p.timezone,
           l.late_fee_kind AS kind, l.late_fee_flat_amount AS flat_amount,
           l.late_fee_percent_bps AS percent_bps,
           l.late_fee_frequency AS frequency, l.late_fee_cap_amount AS cap,
           l.late_fee_grace_days AS grace_days,
           {_LOCAL_TODAY} AS today
    FROM leases AS l
    JOIN properties AS p ON p.id = l.property_id
    WHERE l.status = 'active'
      AND l.late_fee_kind <> 'none'
      AND p.timezone IN (SELECT name FROM zones)
      AND {LEASE_WINDOW_SQL}
),
-- The checks on each rent charge are written as subqueries of a
-- materialized step, so that they run once per open charge by index however
-- the planner misjudges a table just filled (a month's first late fees).
open_rent AS MATERIALIZED (
    SELECT t.*, r.id AS charge_id, r.amount AS rent_amount, r.currency,
           r.rent_period,
           greatest(r.effective_on, (r.created_at AT TIME ZONE t.timezone)::date)
             + t.grace_days + 1 AS first_day
    FROM terms AS t
    JOIN ledger_entries AS r ON r.lease_id = t.lease_id
    WHERE r.category = 'rent' AND r.entry_type = 'charge'
      AND r.reverses_id IS NULL
      AND {open_amount_sql("r")} > 0
),
checked AS MATERIALIZED (
    SELECT o.*,
           EXISTS (
               SELECT 1 FROM ledger_entries AS v WHERE v.reverses_id = o.charge_id
           ) AS voided,
           -- Once any fee of this rent has been waived, it gets no further fee.
           EXISTS (
               SELECT 1 FROM ledger_entries AS wf
               JOIN ledger_entries AS w ON w.source_entry_id = wf.id
               WHERE wf.source_entry_id = o.charge_id
                 AND wf.category = 'late_fee'
                 AND w.entry_type = 'credit' AND w.category = 'waiver'
                 AND {not_reversed_sql("w")}
           ) AS waived,
           coalesce((
               SELECT sum(lf.amount) FROM ledger_entries AS lf
               WHERE lf.source_entry_id = o.charge_id
                 AND lf.category = 'late_fee' AND lf.entry_type = 'charge'
                 AND {not_reversed_sql("lf")}
           ), 0) AS charged
    FROM open_rent AS o
    WHERE o.first_day <= o.today
),
late AS (
    SELECT c.*,
           CASE c.kind
               WHEN 'flat' THEN c.flat_amount
               ELSE {share_sql("c.rent_amount", "c.percent_bps", "10000")}
           END AS fee
    FROM checked AS c
    WHERE NOT c.voided AND NOT c.waived
      -- A rent charge whose fees reached the cap gets no more: no need to
      -- lay out its days again.
      AND (c.cap IS NULL OR c.charged < c.cap)
),
days AS (
    SELECT c.*, d.day::date AS fee_day,
           CASE WHEN c.frequency = 'once' THEN 'once'
                ELSE to_char(d.day, 'YYYY-MM-DD') END AS fee_key
    FROM late AS c
    CROSS JOIN LATERAL generate_series(
        (CASE WHEN c.frequency = 'once' THEN c.today ELSE c.first_day END)
            ::timestamp,
        c.today::timestamp,
        interval '1 day'
    ) AS d(day)
),
fresh AS (
    -- A key charged before stays charged, even if that fee was voided.
    SELECT d.* FROM days AS d
    WHERE NOT EXISTS (
        SELECT 1 FROM ledger_entries AS k
        WHERE k.source_entry_id = d.charge_id AND k.fee_key = d.fee_key
          AND k.category = 'late_fee' AND k.entry_type = 'charge'
          AND k.reverses_id IS NULL
    )
),
capped AS (
    -- Each new fee after the first of this run counts the ones before it,
    -- so the cap holds when several days are caught up at once.
    SELECT fr.*,
           CASE WHEN fr.cap IS NULL THEN fr.fee
                ELSE least(fr.fee, fr.cap - fr.charged - fr.fee * (
                    row_number() OVER (PARTITION BY fr.charge_id
                                       ORDER BY fr.fee_day) - 1))
           END AS amount
    FROM fresh AS fr
),
inserted AS (
    INSERT INTO ledger_entries (id, organization_id, created_at, lease_id,
                                entry_type, category, amount, currency,
                                effective_on, source_entry_id, fee_key,
                                description)
    SELECT gen_random_uuid(), c.organization_id, CAST(:now AS timestamptz),
           c.lease_id, 'charge', 'late_fee', c.amount, c.currency, c.fee_day,
           c.charge_id, c.fee_key,
           CASE WHEN c.fee_key = 'once' THEN 'Late fee'
                ELSE 'Late fee for ' || to_char(c.fee_day, 'FMDD Mon YYYY') END
             || ' on rent for ' || to_char(c.rent_period, 'FMMonth YYYY')
    FROM capped AS c
    WHERE c.amount > 0
    ORDER BY c.lease_id, c.charge_id, c.fee_day
    ON CONFLICT (source_entry_id, fee_key)
        WHERE category = 'late_fee' AND entry_type = 'charge'
          AND reverses_id IS NULL
        DO NOTHING
    RETURNING id, organization_id, lease_id, entry_type, category, amount,
              currency, effective_on, source_entry_id, fee_key
),
{_audited_and_funded("ledger.late_fee_charged", _FEE_AUDITED)}
"""


async def charge_late_fees(
    session: AsyncSession,
    *,
    now: datetime,
    on: date | None = None,
    window: LeaseWindow = EVERY_LEASE,
) -> Written:
    """Charge the late fees due at ``now`` on rent still unpaid after grace."""
    await without_jit(session)
    row = (await session.execute(text(_LATE_FEE_SQL), _bindings(now, on, window))).one()
    allocated = await allocate_waiting(session, row.funded)
    return Written(row.entries, row.leases, allocated)


# --- allocation ---------------------------------------------------------------


async def allocate_waiting(
    session: AsyncSession, lease_ids: Sequence[uuid.UUID]
) -> int:
    """Apply the waiting money of these leases to their new charges.

    The leases' rows are locked in id order (the order every run takes them
    in), so allocation here and a payment at the same moment take turns.
    """
    if not lease_ids:
        return 0
    locked = await session.execute(
        select(Lease.id, Lease.organization_id)
        .where(Lease.id.in_(lease_ids))
        .order_by(Lease.id)
        .with_for_update()
    )
    count = 0
    for lease_id, organization_id in locked.all():
        await ledger.allocate(session, organization_id, lease_id)
        count += 1
    return count
