"""How long a month's rent charges take for 100,000 active leases.

Creates a database of its own (migrated to head, dropped at the end) and seeds
it with set-based SQL: 100 organizations, each with 10 properties in ten
timezones (Los Angeles to Sydney) and 1,000 units and active leases, with due
days from 1 to 31. Most leases began years ago and were charged for December
2026 already; one in ten begins on a day in January 2027 (a partial first
month, prorated), and one in a hundred has a payment in hand that the new
charge should take. Then, at 1 January 2027 12:00 UTC (the 1st at every
property) with rent charged 30 days ahead, so that every lease's January rent
is due to be charged:

- runs the rent job as the cron does, window by window (one transaction and
  one statement per window of ``--window`` leases), and counts what it wrote;
- runs it again: it must write nothing;
- optionally (``--single``) drops January's charges and runs it as one
  statement over all the leases, then again;
- then, on 20 January, runs the late-fee job twice (half the leases have a
  flat fee after five days' grace and nobody has paid January yet).

    PYTHONPATH=. python benchmarks/rent.py [--leases N] [--window N] [--single]

The PostgreSQL server is TEST_DATABASE_URL (or 127.0.0.1:5432).
"""

# The seeding SQL is composed from this module's own constants, never from input.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from tests.support.servers import create_database, drop_database

from asset_anchor import migrations
from asset_anchor.billing import schedule, tasks
from asset_anchor.db import create_engine, create_sessionmaker, parse_database_url
from asset_anchor.settings import Settings

NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
# By the 20th, the January rent of every lease due on the 1st to the 14th is
# past its five days' grace, and nobody has paid.
LATE = datetime(2027, 1, 20, 12, tzinfo=UTC)
ORGANIZATIONS = 100
PROPERTIES_PER_ORGANIZATION = 10
ZONES = (
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)


def seed_statements(leases: int) -> list[str]:
    per_organization = leases // ORGANIZATIONS
    per_property = per_organization // PROPERTIES_PER_ORGANIZATION
    zones = ", ".join(f"'{zone}'" for zone in ZONES)
    return [
        f"""
        CREATE TEMP TABLE seed_org AS
        SELECT n, gen_random_uuid() AS id FROM generate_series(1, {ORGANIZATIONS}) n
        """,
        """
        INSERT INTO organizations (id, name, rent_charge_days_ahead)
        SELECT id, 'Landlord ' || n, 30 FROM seed_org
        """,
        f"""
        CREATE TEMP TABLE seed_property AS
        SELECT o.id AS organization_id, p AS n, gen_random_uuid() AS id,
               (ARRAY[{zones}])[p] AS timezone
        FROM seed_org o CROSS JOIN generate_series(1, {PROPERTIES_PER_ORGANIZATION}) p
        """,
        """
        INSERT INTO properties (id, organization_id, name, kind, address_line1,
                                city, country, timezone)
        SELECT id, organization_id, 'Building ' || n, 'apartment_building',
               n || ' Main Street', 'Springfield', 'US', timezone
        FROM seed_property
        """,
        f"""
        CREATE TEMP TABLE seed_unit AS
        SELECT p.organization_id, p.id AS property_id, gen_random_uuid() AS id,
               row_number() OVER () AS n
        FROM seed_property p CROSS JOIN generate_series(1, {per_property}) u
        """,
        """
        INSERT INTO units (id, organization_id, property_id, label, currency)
        SELECT id, organization_id, property_id, 'Unit ' || n, 'USD' FROM seed_unit
        """,
        # One lease in ten starts in January (a partial first month); the rest
        # began between 2020 and 2026. Due days run 1 to 31.
        """
        CREATE TEMP TABLE seed_lease AS
        SELECT u.organization_id, u.property_id, u.id AS unit_id, u.n,
               gen_random_uuid() AS id,
               CASE WHEN u.n % 10 = 0 THEN DATE '2027-01-01' + (u.n % 27)::int + 1
                    ELSE DATE '2020-01-01' + (u.n % 2500)::int END AS start_date,
               (1 + u.n % 31)::smallint AS due_day,
               (80000 + (u.n % 50) * 1000)::bigint AS rent_amount
        FROM seed_unit u
        """,
        """
        INSERT INTO leases (id, organization_id, unit_id, property_id, status,
                            start_date, end_date, rent_amount, currency, due_day,
                            activated_at, late_fee_kind, late_fee_flat_amount,
                            late_fee_grace_days)
        SELECT id, organization_id, unit_id, property_id, 'active', start_date,
               CASE WHEN n % 3 = 0 THEN DATE '2027-12-31' END, rent_amount, 'USD',
               due_day, TIMESTAMPTZ '2026-12-01 12:00+00',
               CASE WHEN n % 2 = 0 THEN 'flat' ELSE 'none' END,
               CASE WHEN n % 2 = 0 THEN 5000 END, 5
        FROM seed_lease
        """,
        # December's rent, as last month's run would have left it.
        """
        INSERT INTO ledger_entries (id, organization_id, lease_id, entry_type,
                                    category, amount, currency, effective_on,
                                    period_start, period_end, rent_period,
                                    description)
        SELECT gen_random_uuid(), organization_id, id, 'charge', 'rent',
               rent_amount, 'USD', DATE '2026-12-01' + (least(due_day, 31) - 1),
               DATE '2026-12-01', DATE '2026-12-31', DATE '2026-12-01',
               'Rent for December 2026'
        FROM seed_lease WHERE start_date < DATE '2026-12-01'
        """,
        # December paid in full, and one lease in a hundred paid ahead.
        """
        INSERT INTO ledger_entries (id, organization_id, lease_id, entry_type,
                                    category, amount, currency, effective_on,
                                    method)
        SELECT gen_random_uuid(), organization_id, id, 'payment', 'bank_transfer',
               rent_amount * CASE WHEN n % 100 = 1 THEN 2 ELSE 1 END, 'USD',
               DATE '2026-12-01', 'bank_transfer'
        FROM seed_lease WHERE start_date < DATE '2026-12-01'
        """,
        """
        INSERT INTO allocations (id, organization_id, lease_id, funding_id,
                                 charge_id, amount)
        SELECT gen_random_uuid(), c.organization_id, c.lease_id, p.id, c.id,
               c.amount
        FROM ledger_entries c
        JOIN ledger_entries p ON p.lease_id = c.lease_id AND p.entry_type = 'payment'
        WHERE c.category = 'rent'
        """,
    ]


async def seed(dsn: str, leases: int) -> tuple[float, dict[str, int]]:
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with connection.transaction():
            for statement in seed_statements(leases):
                await connection.execute(statement)
        await connection.execute("VACUUM (ANALYZE)")
        seconds = time.perf_counter() - started
        counts = {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("organizations", "properties", "leases", "ledger_entries")
        }
        counts["partial first months"] = await connection.fetchval(
            "SELECT count(*) FROM leases WHERE start_date > DATE '2027-01-01'"
        )
    finally:
        await connection.close()
    return seconds, counts


async def january(dsn: str) -> dict[str, Any]:
    """What the runs left: January's charges, prorated ones, allocations."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            """
            SELECT count(*) AS charges,
                   count(*) FILTER (WHERE period_start > DATE '2027-01-01')
                       AS prorated,
                   count(DISTINCT lease_id) AS leases,
                   (SELECT count(*) FROM audit_events
                    WHERE action = 'ledger.rent_charged') AS audited
            FROM ledger_entries WHERE rent_period = DATE '2027-01-01'
            """
        )
        paid = await connection.fetchval(
            """
            SELECT count(*) FROM allocations a
            JOIN ledger_entries c ON c.id = a.charge_id
            WHERE c.rent_period = DATE '2027-01-01'
            """
        )
    finally:
        await connection.close()
    return {**dict(row), "paid_from_credit": paid}


async def drop_january(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            """
            DELETE FROM allocations a USING ledger_entries c
            WHERE c.id = a.charge_id AND c.rent_period = DATE '2027-01-01';
            DELETE FROM audit_events WHERE action = 'ledger.rent_charged';
            DELETE FROM ledger_entries WHERE rent_period = DATE '2027-01-01';
            """
        )
        await connection.execute("VACUUM (ANALYZE) ledger_entries")
    finally:
        await connection.close()


# Time spent allocating waiting money (``schedule.allocate_waiting``, which
# runs ``ledger.allocate`` per lease), to tell it apart from the SQL.
ALLOCATING = {"seconds": 0.0, "leases": 0}
_allocate_waiting = schedule.allocate_waiting


async def _timed_allocate_waiting(session: Any, lease_ids: Any) -> int:
    started = time.perf_counter()
    try:
        return await _allocate_waiting(session, lease_ids)
    finally:
        ALLOCATING["seconds"] += time.perf_counter() - started
        ALLOCATING["leases"] += len(lease_ids)


schedule.allocate_waiting = _timed_allocate_waiting


async def run_windows(settings: Settings, window: int) -> tuple[float, int]:
    engine = create_engine(settings, application_name="asset-anchor-bench")
    ctx = {"settings": settings, "sessionmaker": create_sessionmaker(engine)}
    old = tasks.WINDOW_SIZE
    tasks.WINDOW_SIZE = window
    try:
        started = time.perf_counter()
        written, finished = await tasks.rent_run(ctx, now=NOW)
        seconds = time.perf_counter() - started
    finally:
        tasks.WINDOW_SIZE = old
        await engine.dispose()
    assert finished
    return seconds, written.entries


async def run_late_fees(settings: Settings, window: int) -> tuple[float, int]:
    engine = create_engine(settings, application_name="asset-anchor-bench")
    sessions = create_sessionmaker(engine)
    ctx = {"settings": settings, "sessionmaker": sessions}
    written = schedule.Written()

    async def step(session: Any, lease_window: schedule.LeaseWindow) -> None:
        nonlocal written
        written += await schedule.charge_late_fees(
            session, now=LATE, window=lease_window
        )

    try:
        started = time.perf_counter()
        await tasks.each_window(ctx, step, size=window)
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return seconds, written.entries


async def run_single(settings: Settings) -> tuple[float, int]:
    engine = create_engine(settings, application_name="asset-anchor-bench")
    try:
        started = time.perf_counter()
        async with create_sessionmaker(engine).begin() as session:
            written = await schedule.charge_rent(session, now=NOW)
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return seconds, written.entries


def main() -> int:
    parser = argparse.ArgumentParser(description="rent generation benchmark")
    parser.add_argument("--leases", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=tasks.WINDOW_SIZE)
    parser.add_argument("--single", action="store_true")
    args = parser.parse_args()
    server_url = os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"aa_bench_{secrets.token_hex(4)}"
    database_url = asyncio.run(create_database(server_url, name))
    dsn = parse_database_url(database_url).asyncpg_dsn
    settings = Settings(
        environment="test", log_level="WARNING", database_url=database_url
    )
    try:
        migrations.upgrade(database_url)
        seconds, counts = asyncio.run(seed(dsn, args.leases))
        sys.stdout.write(
            f"Seeded in {seconds:.1f} s: "
            + ", ".join(f"{count:,} {what}" for what, count in counts.items())
            + f"\nPython {sys.version.split()[0]}, {os.cpu_count()} cores,"
            f" database on the same machine\n\n"
            "| run | seconds | charges written | of which allocating, for leases |\n"
            "|---|---|---|---|\n"
        )
        runs: list[tuple[str, Any]] = [
            (f"windows of {args.window:,}, first run", run_windows),
            (f"windows of {args.window:,}, second run", run_windows),
        ]
        for label, runner in runs:
            ALLOCATING.update(seconds=0.0, leases=0)
            took, entries = asyncio.run(runner(settings, args.window))
            sys.stdout.write(
                f"| {label} | {took:.2f} | {entries:,} |"
                f" {ALLOCATING['seconds']:.2f} s for {ALLOCATING['leases']:,} |\n"
            )
            sys.stdout.flush()
        result = asyncio.run(january(dsn))
        if args.single:
            asyncio.run(drop_january(dsn))
            unlimited = settings.model_copy(update={"db_statement_timeout_ms": 600_000})
            for label in ("one statement, first run", "one statement, second run"):
                ALLOCATING.update(seconds=0.0, leases=0)
                took, entries = asyncio.run(run_single(unlimited))
                sys.stdout.write(
                    f"| {label} | {took:.2f} | {entries:,} |"
                    f" {ALLOCATING['seconds']:.2f} s for {ALLOCATING['leases']:,} |\n"
                )
                sys.stdout.flush()
        for label in ("late fees on the 20th, first run", "late fees, second run"):
            ALLOCATING.update(seconds=0.0, leases=0)
            took, entries = asyncio.run(run_late_fees(settings, args.window))
            sys.stdout.write(
                f"| {label} | {took:.2f} | {entries:,} fees |"
                f" {ALLOCATING['seconds']:.2f} s for {ALLOCATING['leases']:,} |\n"
            )
            sys.stdout.flush()
        sys.stdout.write(
            f"\nJanuary: {result['charges']:,} charges on {result['leases']:,}"
            f" leases, {result['prorated']:,} prorated, {result['audited']:,}"
            f" audit events, {result['paid_from_credit']:,} paid from credit\n"
        )
    finally:
        asyncio.run(drop_database(server_url, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
