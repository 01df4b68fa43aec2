"""The portfolio read paths on a realistic portfolio, beside the bare-asyncpg floor.

Creates a database of its own (migrated to head, dropped at the end) and seeds
it with set-based SQL: 100 organizations, each with a verified owner who can
sign in, 100 properties, 500 units, 500 leases (mostly active) and their
tenants, so 10,000 properties and 50,000 units and leases in all. Then:

- starts ``asset-anchor serve`` (one uvicorn process unless ``--workers``, JSON
  access lines to /dev/null) with a pool of ``--connections`` database
  connections (shared out between the processes), signs one
  organization's owner in, and loads three authenticated reads of that
  organization with wrk for a fixed time each (after a short warm-up), after
  ``/api/v1/auth/mfa`` as the baseline of any authenticated request; any
  answer of 400 or more, or any socket error, fails the run;
- stops the server and runs the same SELECTs straight through asyncpg (a pool
  of ``--connections`` connections, as many coroutines, for the same time),
  which is the floor: what the rows cost without HTTP, authentication, the
  session or the response models.

    PYTHONPATH=. python benchmarks/portfolio.py [--seconds S] [--connections C]
        [--warmup S] [--workers N]

The PostgreSQL server is TEST_DATABASE_URL (or 127.0.0.1:5432), Redis is
TEST_REDIS_URL (or 127.0.0.1:6379); Redis keys live under a prefix of this
run's and are deleted at the end.
"""

# The seeding SQL is composed from this module's own constants, never from input.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis
import uvloop
from benchmarks.health import free_port, wait_until_up
from tests.support.servers import create_database, drop_database

from asset_anchor import migrations
from asset_anchor.db import parse_database_url
from asset_anchor.kit.passwords import hash_password

PASSWORD = "copper-lantern-meadow-quartz"  # noqa: S105 - the seeded owners' password
ORGANIZATIONS = 100
PROPERTIES_PER_ORGANIZATION = 100
UNITS_PER_PROPERTY = 5
# The organization whose owner signs in and whose rows are read.
TARGET_ORGANIZATION = 1
PAGE = 50

# wrk calls done() once at the end; latency:percentile() is in microseconds.
# errors.status counts answers with a status of 400 or more.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50=%d p95=%d p99=%d max=%d"
      .. " status=%d connect=%d read=%d write=%d timeout=%d\\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, errors.status, errors.connect, errors.read, errors.write,
    errors.timeout))
end
"""


# --- seeding ----------------------------------------------------------------


def pick(expression: str, salt: int, modulo: int) -> str:
    """SQL for a repeatable pseudo-random integer in [0, modulo) from an integer."""
    return (
        f"(mod(hashint4(({expression}) + {salt})::bigint + 2147483648, {modulo}))::int"
    )


def text_array(values: Sequence[str]) -> str:
    quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return f"(ARRAY[{quoted}]::text[])"


def choose(values: Sequence[str], expression: str, salt: int) -> str:
    """SQL for one of ``values``, chosen by ``expression``."""
    return f"{text_array(values)}[1 + {pick(expression, salt, len(values))}]"


ORGANIZATION_WORDS = (
    "Harbor", "Redwood", "Summit", "Lakeside", "Granite", "Willow", "Beacon",
    "Cedar", "Northgate", "Riverbend", "Ironwood", "Bluebird", "Meridian",
    "Foxglove", "Stonebridge", "Juniper", "Keystone", "Silverleaf", "Orchard",
    "Prairie",
)  # fmt: skip
ORGANIZATION_SUFFIXES = (
    "Property Management", "Homes", "Realty", "Rentals", "Living",
)  # fmt: skip
FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James",
    "Isabella", "Lucas", "Mia", "Mateo", "Amelia", "Benjamin", "Harper",
    "Henry", "Evelyn", "Theo", "Priya", "Arjun", "Mei", "Wei", "Fatima",
    "Omar", "Chloe", "Samuel", "Grace", "Daniel", "Zoe", "Gabriel", "Nora",
    "Diego", "Aisha", "Kenji", "Ingrid", "Tomás",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
    "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson",
    "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Nguyen", "Patel", "Kim", "Chen", "Singh", "Walker", "Young", "Allen",
    "O'Connor", "Schmidt", "Rossi", "Novak", "Okafor", "Haddad", "Tanaka",
    "Larsen", "Murphy", "Cohen",
)  # fmt: skip
PLACE_WORDS = (
    "Maple", "Oak", "Birch", "Elm", "Aspen", "Hawthorne", "Magnolia", "Sycamore",
    "Chestnut", "Laurel", "Linden", "Alder", "Spruce", "Hickory", "Poplar",
    "Cypress", "Rosewood", "Larkspur", "Bayview", "Hillcrest", "Parkside",
    "Brookside", "Fairview", "Glenwood", "Highland", "Kingsley", "Ashford",
    "Carlton", "Westbury", "Eastwood", "Sterling", "Union", "Liberty",
    "Heritage", "Mill", "Market", "Lincoln", "Franklin", "Monroe", "Jefferson",
)  # fmt: skip
STREET_NAMES = (
    "Main", "Park", "Pine", "Washington", "Lake", "Hill", "Church", "River",
    "Spring", "Center", "North", "Ridge", "Valley", "Mill", "Forest", "Sunset",
    "Highland", "Cherry", "Walnut", "Meadow", "Jackson", "Madison", "Grant",
    "Adams", "Prospect", "Broad", "College", "Front", "Water", "Locust",
)  # fmt: skip
STREET_KINDS = (
    "Street",
    "Avenue",
    "Road",
    "Lane",
    "Drive",
    "Boulevard",
    "Way",
    "Place",
)
# Weighted: a portfolio is mostly residential.
KINDS = (
    ("apartment_building",) * 5
    + ("multi_family",) * 5
    + ("single_family",) * 3
    + ("condominium",) * 2
    + ("townhouse",) * 2
    + ("mixed_use",) * 1
    + ("commercial",) * 1
    + ("other",) * 1
)
# country, city, region, timezone, postal code prefix
CITIES = (
    ("US", "Austin", "TX", "America/Chicago", "787"),
    ("US", "Denver", "CO", "America/Denver", "802"),
    ("US", "Portland", "OR", "America/Los_Angeles", "972"),
    ("US", "Columbus", "OH", "America/New_York", "432"),
    ("US", "Raleigh", "NC", "America/New_York", "276"),
    ("US", "Phoenix", "AZ", "America/Phoenix", "850"),
    ("US", "Minneapolis", "MN", "America/Chicago", "554"),
    ("US", "Sacramento", "CA", "America/Los_Angeles", "958"),
    ("US", "Atlanta", "GA", "America/New_York", "303"),
    ("US", "Boise", "ID", "America/Boise", "837"),
    ("US", "Milwaukee", "WI", "America/Chicago", "532"),
    ("US", "Honolulu", "HI", "Pacific/Honolulu", "968"),
    ("CA", "Toronto", "ON", "America/Toronto", "M4C"),
    ("CA", "Vancouver", "BC", "America/Vancouver", "V5K"),
    ("CA", "Calgary", "AB", "America/Edmonton", "T2P"),
    ("CA", "Halifax", "NS", "America/Halifax", "B3H"),
    ("CA", "Winnipeg", "MB", "America/Winnipeg", "R3C"),
    ("GB", "Manchester", "Greater Manchester", "Europe/London", "M1"),
    ("GB", "Bristol", "Bristol", "Europe/London", "BS1"),
    ("GB", "Leeds", "West Yorkshire", "Europe/London", "LS2"),
    ("GB", "Edinburgh", "City of Edinburgh", "Europe/London", "EH3"),
)
NAME_ENDINGS = {
    "apartment_building": ("Apartments", "Residences", "Tower", "Lofts"),
    "multi_family": ("Flats", "Court", "Duplexes", "Row"),
    "single_family": ("House", "Cottage", "Homestead"),
    "condominium": ("Condominiums", "Condos"),
    "townhouse": ("Townhomes", "Mews"),
    "mixed_use": ("Commons", "Exchange"),
    "commercial": ("Plaza", "Business Center"),
    "other": ("Storage Lots", "Garages"),
}
NOTES = (
    "One cat allowed.",
    "Parking space 14 included.",
    "Tenant pays electricity and gas.",
    "Renters insurance on file.",
    "Small dog allowed, deposit included.",
)


def _city_values() -> str:
    rows = []
    for country in ("US", "CA", "GB"):
        cities = [city for city in CITIES if city[0] == country]
        for index, (_, city, region, zone, postal) in enumerate(cities):
            rows.append(
                f"('{country}', {index}, {len(cities)}, '{city}', '{region}',"
                f" '{zone}', '{postal}')"
            )
    return ",\n".join(rows)


def _property_name(kind: str, salt: str) -> str:
    endings = " ".join(
        f"WHEN '{name}' THEN {choose(values, salt, 17)}"
        for name, values in NAME_ENDINGS.items()
    )
    return f"CASE {kind} {endings} END"


def seed_statements() -> list[str]:
    """The set-based statements that fill the portfolio; $1 is the owners' hash."""
    first = choose(FIRST_NAMES, "o.n", 1)
    last = choose(LAST_NAMES, "o.n", 2)
    # A lease's second tenant shares the first one's family name now and then.
    tenant_first = choose(FIRST_NAMES, "u.j * 2 + t", 41)
    tenant_last = choose(LAST_NAMES, "u.j * 3 + (t / 2)", 42)
    return [
        f"""
        CREATE TEMP TABLE seed_city (
            country text, i int, count int, city text, region text,
            timezone text, postal text
        ) ON COMMIT DROP;
        INSERT INTO seed_city VALUES {_city_values()};
        """,
        f"""
        CREATE TEMP TABLE seed_org ON COMMIT DROP AS
        SELECT n, gen_random_uuid() AS id, gen_random_uuid() AS owner_id,
               CASE WHEN n % 20 = 0 THEN 'GB' WHEN n % 10 = 5 THEN 'CA'
                    ELSE 'US' END AS country,
               {text_array(ORGANIZATION_WORDS)}[1 + (n - 1) % 20] || ' '
                 || {text_array(ORGANIZATION_SUFFIXES)}[1 + (n - 1) / 20] AS name,
               now() - make_interval(days => 1800 + {pick("n", 3, 300)}) AS created_at
        FROM generate_series(1, {ORGANIZATIONS}) AS n;
        ALTER TABLE seed_org ADD COLUMN slug text, ADD COLUMN currency text,
                             ADD COLUMN home int;
        UPDATE seed_org SET
            slug = lower(regexp_replace(name, '[^A-Za-z0-9]+', '-', 'g')),
            currency = CASE country WHEN 'GB' THEN 'GBP' WHEN 'CA' THEN 'CAD'
                                    ELSE 'USD' END,
            home = {pick("n", 4, 1000)};
        """,
        f"""
        INSERT INTO organizations (id, name, contact_email, contact_phone,
                                   mailing_address, default_currency,
                                   created_at, updated_at)
        SELECT o.id, o.name, 'office@' || o.slug || '.example.com',
               CASE o.country WHEN 'GB' THEN '+44 161 496 0' || lpad(o.n::text, 3, '0')
                              ELSE '+1 555-01' || lpad(o.n::text, 2, '0') END,
               (1 + {pick("o.n", 5, 900)})::text
                 || ' ' || {choose(STREET_NAMES, "o.n", 6)}
                 || ' ' || {choose(STREET_KINDS, "o.n", 7)} || ', ' || c.city,
               o.currency, o.created_at, o.created_at
        FROM seed_org o
        JOIN seed_city c ON c.country = o.country AND c.i = o.home % c.count
        """,
        f"""
        INSERT INTO users (id, email, email_normalized, full_name, password_hash,
                           email_verified_at, password_changed_at,
                           created_at, updated_at)
        SELECT o.owner_id, u.email, lower(u.email), u.full_name, $1,
               o.created_at + interval '12 minutes', o.created_at,
               o.created_at, o.created_at + interval '12 minutes'
        FROM seed_org o,
             LATERAL (SELECT {first} || ' ' || {last} AS full_name,
                             'owner@' || o.slug || '.example.com' AS email) AS u
        """,
        """
        INSERT INTO organization_memberships (id, organization_id, user_id, role,
                                              created_at, updated_at)
        SELECT gen_random_uuid(), o.id, o.owner_id, 'owner',
               o.created_at, o.created_at
        FROM seed_org o
        """,
        f"""
        CREATE TEMP TABLE seed_property ON COMMIT DROP AS
        SELECT gen_random_uuid() AS id, o.id AS organization_id, o.country,
               o.currency, o.home, (o.n - 1) * {PROPERTIES_PER_ORGANIZATION} + p AS k,
               o.created_at + make_interval(days => {pick("o.n * 1000 + p", 8, 120)},
                                            hours => {pick("o.n * 1000 + p", 9, 24)})
                 AS created_at
        FROM seed_org o
        CROSS JOIN generate_series(1, {PROPERTIES_PER_ORGANIZATION}) AS p;
        ALTER TABLE seed_property ADD COLUMN kind text;
        UPDATE seed_property SET kind = {choose(KINDS, "k", 10)};
        """,
        f"""
        INSERT INTO properties (id, organization_id, name, kind, address_line1,
                                address_line2, city, region, postal_code, country,
                                timezone, created_at, updated_at)
        SELECT p.id, p.organization_id,
               {choose(PLACE_WORDS, "p.k", 11)} || ' '
                 || {_property_name("p.kind", "p.k")},
               p.kind,
               (1 + {pick("p.k", 12, 4990)})::text || ' '
                 || {choose(STREET_NAMES, "p.k", 13)} || ' '
                 || {choose(STREET_KINDS, "p.k", 14)},
               CASE WHEN p.kind IN ('commercial', 'mixed_use')
                    THEN 'Suite ' || (100 + {pick("p.k", 15, 400)})::text END,
               c.city, c.region,
               CASE p.country
                 WHEN 'US' THEN c.postal || lpad({pick("p.k", 16, 100)}::text, 2, '0')
                 WHEN 'CA' THEN c.postal || ' ' || (1 + {pick("p.k", 16, 9)})::text
                                || {choose(tuple("ABCEGHJKLMNPRSTVXY"), "p.k", 17)}
                                || (1 + {pick("p.k", 18, 9)})::text
                 ELSE c.postal || ' ' || (1 + {pick("p.k", 16, 9)})::text
                      || {choose(tuple("ABDEFGHJLNPQRSTUWXYZ"), "p.k", 17)}
                      || {choose(tuple("ABDEFGHJLNPQRSTUWXYZ"), "p.k", 18)}
               END,
               p.country, c.timezone, p.created_at, p.created_at
        FROM seed_property p
        -- Most of a landlord's properties are in its home city.
        JOIN seed_city c ON c.country = p.country
         AND c.i = CASE WHEN {pick("p.k", 19, 10)} < 8 THEN p.home % c.count
                        ELSE {pick("p.k", 20, 1000)} % c.count END
        """,
        f"""
        CREATE TEMP TABLE seed_unit ON COMMIT DROP AS
        SELECT gen_random_uuid() AS id, p.id AS property_id, p.organization_id,
               p.country, p.currency, p.kind, p.created_at,
               (p.k - 1) * {UNITS_PER_PROPERTY} + u AS j, u
        FROM seed_property p CROSS JOIN generate_series(1, {UNITS_PER_PROPERTY}) AS u;
        ALTER TABLE seed_unit ADD COLUMN market_rent bigint;
        UPDATE seed_unit SET market_rent = CASE
            WHEN kind = 'commercial' THEN 250000 + {pick("j", 21, 300)} * 1000
            WHEN currency = 'GBP' THEN 85000 + {pick("j", 21, 120)} * 1000
            ELSE 110000 + {pick("j", 21, 200)} * 1000 END;
        """,
        f"""
        INSERT INTO units (id, organization_id, property_id, label, bedrooms,
                           bathrooms, area, area_unit, market_rent_amount, currency,
                           created_at, updated_at)
        SELECT u.id, u.organization_id, u.property_id,
               CASE WHEN u.kind = 'commercial' THEN 'Suite ' || (100 * u.u + 1)::text
                    WHEN u.kind IN ('single_family', 'townhouse') THEN 'Unit ' || u.u
                    ELSE 'Apt ' || (1 + (u.u - 1) / 2)::text
                         || chr(65 + (u.u - 1) % 2) END,
               CASE WHEN u.kind <> 'commercial' THEN {pick("u.j", 22, 4)} END,
               CASE WHEN u.kind <> 'commercial'
                    THEN (ARRAY[1.0, 1.0, 1.5, 2.0, 2.5])[1 + {pick("u.j", 23, 5)}] END,
               CASE WHEN u.country = 'US' THEN 450 + {pick("u.j", 24, 1150)}
                    ELSE 40 + {pick("u.j", 24, 110)} END,
               CASE WHEN u.country = 'US' THEN 'sqft' ELSE 'sqm' END,
               u.market_rent, u.currency, u.created_at, u.created_at
        FROM seed_unit u
        """,
        f"""
        WITH a AS (
            SELECT u.*, o.owner_id,
                   CASE WHEN {pick("u.j", 30, 100)} < 80 THEN 'active'
                        WHEN {pick("u.j", 30, 100)} < 90 THEN 'draft'
                        ELSE 'ended' END AS status,
                   {pick("u.j", 31, 5)} = 0 AS month_to_month,
                   {pick("u.j", 32, 10)} AS fee_roll,
                   {pick("u.j", 33, 6)} = 0 AS daily
            FROM seed_unit u JOIN seed_org o ON o.id = u.organization_id
        ), b AS (
            SELECT a.*, CASE
                WHEN status = 'draft' THEN current_date + 7 + {pick("j", 34, 60)}
                WHEN status = 'ended' THEN current_date - 400 - {pick("j", 35, 1000)}
                WHEN month_to_month THEN current_date - 60 - {pick("j", 36, 1300)}
                ELSE current_date - 15 - {pick("j", 37, 300)} END AS raw_start
            FROM a
        ), c AS (
            -- Half of all leases start on the first of a month.
            SELECT b.*,
                   CASE WHEN {pick("j", 38, 2)} = 0
                        THEN date_trunc('month', raw_start)::date
                        ELSE raw_start END AS start_date,
                   CASE WHEN fee_roll < 3 THEN 'none' WHEN fee_roll < 7 THEN 'flat'
                        ELSE 'percent' END AS fee_kind
            FROM b
        ), d AS (
            SELECT c.*,
                   CASE WHEN month_to_month AND status <> 'ended' THEN NULL
                        ELSE (start_date + interval '12 months'
                              - interval '1 day')::date
                   END AS end_date,
                   CASE WHEN status = 'draft'
                        THEN now() - make_interval(days => {pick("j", 39, 10)})
                        ELSE ((start_date - 20 - {pick("j", 40, 20)})::timestamp
                              + interval '10 hours') AT TIME ZONE 'UTC'
                   END AS created_at_lease,
                   CASE WHEN status <> 'draft'
                        THEN ((start_date - {pick("j", 41, 14)})::timestamp
                              + interval '15 hours') AT TIME ZONE 'UTC'
                   END AS activated_at
            FROM c
        )
        INSERT INTO leases (id, organization_id, unit_id, property_id, status,
                            start_date, end_date, rent_amount, currency, due_day,
                            security_deposit_amount, late_fee_grace_days,
                            late_fee_kind, late_fee_flat_amount,
                            late_fee_percent_bps, late_fee_frequency,
                            late_fee_cap_amount, notes, activated_at, ended_on,
                            ended_at, created_by_id, created_at, updated_at)
        SELECT gen_random_uuid(), d.organization_id, d.id, d.property_id, d.status,
               d.start_date, d.end_date,
               d.market_rent - {pick("j", 42, 5)} * 2500, d.currency,
               CASE WHEN {pick("j", 43, 10)} < 6 THEN 1
                    ELSE 1 + {pick("j", 44, 28)} END,
               CASE WHEN {pick("j", 45, 5)} = 0 THEN 0
                    ELSE d.market_rent - {pick("j", 42, 5)} * 2500 END,
               (ARRAY[3, 5, 5, 5, 7, 10])[1 + {pick("j", 46, 6)}],
               d.fee_kind,
               CASE WHEN d.fee_kind = 'flat'
                    THEN (ARRAY[2500, 5000, 5000, 7500, 10000])[1 + {pick("j", 47, 5)}]
               END,
               CASE WHEN d.fee_kind = 'percent'
                    THEN (ARRAY[500, 500, 1000])[1 + {pick("j", 48, 3)}] END,
               CASE WHEN d.fee_kind <> 'none' AND d.daily THEN 'daily' ELSE 'once' END,
               CASE WHEN d.fee_kind <> 'none' AND d.daily
                    THEN (ARRAY[15000, 20000, 30000])[1 + {pick("j", 49, 3)}] END,
               CASE WHEN {pick("j", 50, 8)} = 0 THEN {choose(NOTES, "j", 51)} END,
               d.activated_at,
               CASE WHEN d.status = 'ended' THEN d.end_date END,
               CASE WHEN d.status = 'ended'
                    THEN ((d.end_date + 1)::timestamp + interval '9 hours')
                         AT TIME ZONE 'UTC' END,
               d.owner_id, d.created_at_lease,
               greatest(d.created_at_lease, d.activated_at,
                        CASE WHEN d.status = 'ended'
                             THEN ((d.end_date + 1)::timestamp + interval '9 hours')
                                  AT TIME ZONE 'UTC' END)
        FROM d
        """,
        f"""
        INSERT INTO lease_tenants (id, organization_id, lease_id, full_name, email,
                                   phone, created_at, updated_at)
        SELECT gen_random_uuid(), l.organization_id, l.id,
               {tenant_first} || ' ' || {tenant_last},
               CASE WHEN {pick("u.j * 2 + t", 52, 10)} > 0
                    THEN lower(translate({tenant_first} || '.' || {tenant_last},
                                         'á''', 'a'))
                         || (u.j * 2 + t)::text || '@example.net' END,
               CASE WHEN {pick("u.j * 2 + t", 53, 10)} < 7
                    THEN CASE u.country
                         WHEN 'GB' THEN '+44 7700 900'
                           || lpad({pick("u.j * 2 + t", 54, 1000)}::text, 3, '0')
                         ELSE '+1 555-01'
                           || lpad({pick("u.j * 2 + t", 54, 100)}::text, 2, '0')
                         END END,
               l.created_at + make_interval(secs => t),
               l.created_at + make_interval(secs => t)
        FROM leases l
        JOIN seed_unit u ON u.id = l.unit_id
        CROSS JOIN LATERAL generate_series(
            1, CASE WHEN {pick("u.j", 55, 10)} < 4 THEN 2 ELSE 1 END) AS t
        """,
    ]


@dataclass(frozen=True)
class Target:
    organization_id: uuid.UUID
    owner_email: str
    lease_id: uuid.UUID
    seed_seconds: float
    counts: dict[str, int]


async def seed(dsn: str) -> Target:
    """Fill the portfolio; the owners' hash is computed once, before the clock."""
    password_hash = await hash_password(PASSWORD)
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with connection.transaction():
            for statement in seed_statements():
                if "$1" in statement:  # the owners, with their password's hash
                    await connection.execute(statement, password_hash)
                else:
                    await connection.execute(statement)
            target = await connection.fetchrow(
                """
                SELECT o.id, u.email FROM seed_org o JOIN users u ON u.id = o.owner_id
                WHERE o.n = $1
                """,
                TARGET_ORGANIZATION,
            )
        # VACUUM as well as ANALYZE: the visibility map is then set, as
        # autovacuum leaves a settled table, so the plans do not change when
        # autovacuum happens to wake up in the middle of a measurement.
        await connection.execute("VACUUM (ANALYZE)")
        seconds = time.perf_counter() - started
        # An active lease of that organization with two tenants, for the detail.
        lease_id = await connection.fetchval(
            """
            SELECT l.id FROM leases l
            WHERE l.organization_id = $1 AND l.status = 'active'
              AND (SELECT count(*) FROM lease_tenants t WHERE t.lease_id = l.id) = 2
            ORDER BY l.start_date DESC, l.id LIMIT 1
            """,
            target["id"],
        )
        counts = {}
        for table in (
            "organizations",
            "users",
            "organization_memberships",
            "properties",
            "units",
            "leases",
            "lease_tenants",
        ):
            counts[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")
        statuses = await connection.fetch(
            "SELECT status, count(*) AS n FROM leases GROUP BY status ORDER BY status"
        )
        for row in statuses:
            counts[f"leases {row['status']}"] = row["n"]
    finally:
        await connection.close()
    return Target(target["id"], target["email"], lease_id, seconds, counts)


# --- the API, under wrk -----------------------------------------------------


@dataclass(frozen=True)
class Figures:
    rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    count: int


async def sign_in(base: str, email: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        answer = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        answer.raise_for_status()
        tokens: dict[str, Any] = answer.json()
        if "access_token" not in tokens:
            raise RuntimeError(f"sign-in did not answer tokens: {tokens}")
        return tokens


async def refresh(base: str, refresh_token: str) -> dict[str, Any]:
    """A fresh pair, so that no measurement outlives the access token."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        answer = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": refresh_token}
        )
        answer.raise_for_status()
        tokens: dict[str, Any] = answer.json()
        return tokens


def run_wrk(
    url: str, seconds: int, connections: int, token: str, script: Path
) -> Figures:
    """One wrk run; raises when any request failed or answered 400 or more."""
    wrk = shutil.which("wrk")
    assert wrk is not None
    output = subprocess.run(  # noqa: S603 - fixed arguments, loopback target
        [
            wrk,
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            # Slow answers are counted in the percentiles, not dropped as timeouts.
            "--timeout",
            "30s",
            "-H",
            f"Authorization: Bearer {token}",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    match = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    values = {
        key: int(value)
        for key, value in (item.split("=") for item in match.group(1).split())
    }
    failed = {
        key: values[key]
        for key in ("status", "connect", "read", "write", "timeout")
        if values[key]
    }
    if failed or values["requests"] == 0:
        raise RuntimeError(
            f"{url}: {values['requests']} requests, failures {failed}; a benchmark"
            f" of errors measures nothing\n{output}"
        )
    return Figures(
        rate=values["requests"] / (values["duration_us"] / 1e6),
        p50_ms=values["p50"] / 1000,
        p95_ms=values["p95"] / 1000,
        p99_ms=values["p99"] / 1000,
        count=values["requests"],
    )


# --- the floor: the same SELECTs through asyncpg ----------------------------

# The statements the API runs for these paths (as SQLAlchemy renders them),
# without the session lookup and the transaction around them.
PROPERTIES_SQL = """
SELECT properties.id, properties.name, properties.kind, properties.address_line1,
       properties.address_line2, properties.city, properties.region,
       properties.postal_code, properties.country, properties.timezone,
       properties.archived_at, properties.created_at,
       (SELECT count(*) FROM units
        WHERE units.property_id = properties.id AND units.archived_at IS NULL)
         AS unit_count
FROM properties
WHERE properties.organization_id = $1 AND properties.archived_at IS NULL
ORDER BY properties.name ASC, properties.id ASC
LIMIT $2
"""
LEASES_SQL = """
SELECT leases.id, leases.status, leases.unit_id, units.label AS unit_label,
       leases.property_id, properties.name AS property_name, leases.start_date,
       leases.end_date, leases.rent_amount, leases.currency, leases.due_day,
       leases.created_at
FROM leases
JOIN units ON units.id = leases.unit_id
JOIN properties ON properties.id = leases.property_id
WHERE leases.organization_id = $1
ORDER BY leases.start_date ASC, leases.id ASC
LIMIT $2
"""
TENANT_NAMES_SQL = """
SELECT lease_tenants.lease_id, lease_tenants.id, lease_tenants.full_name
FROM lease_tenants
WHERE lease_tenants.organization_id = $1 AND lease_tenants.lease_id = ANY($2::uuid[])
ORDER BY lease_tenants.created_at, lease_tenants.full_name, lease_tenants.id
"""
LEASE_SQL = """
SELECT leases.id, leases.status, leases.unit_id, units.label AS unit_label,
       leases.property_id, properties.name AS property_name, leases.start_date,
       leases.end_date, leases.rent_amount, leases.currency, leases.due_day,
       leases.created_at, properties.timezone AS property_timezone,
       leases.security_deposit_amount, leases.late_fee_grace_days,
       leases.late_fee_kind, leases.late_fee_flat_amount,
       leases.late_fee_percent_bps, leases.late_fee_frequency,
       leases.late_fee_cap_amount, leases.notes, leases.renewed_from_id,
       (SELECT successor.id FROM leases AS successor
        WHERE successor.renewed_from_id = leases.id) AS renewed_by_id,
       leases.activated_at, leases.ended_on, leases.ended_at,
       leases.termination_reason
FROM leases
JOIN units ON units.id = leases.unit_id
JOIN properties ON properties.id = leases.property_id
WHERE leases.organization_id = $1 AND leases.id = $2
"""
TENANTS_SQL = """
SELECT lease_tenants.lease_id, lease_tenants.id, lease_tenants.full_name,
       lease_tenants.email, lease_tenants.phone, lease_tenants.user_id
FROM lease_tenants
WHERE lease_tenants.organization_id = $1 AND lease_tenants.lease_id = ANY($2::uuid[])
ORDER BY lease_tenants.created_at, lease_tenants.full_name, lease_tenants.id
"""

Operation = Callable[[Any], Awaitable[None]]


def floor_operations(target: Target) -> dict[str, Operation]:
    organization_id = target.organization_id

    async def properties(connection: Any) -> None:
        rows = await connection.fetch(PROPERTIES_SQL, organization_id, PAGE + 1)
        assert len(rows) == PAGE + 1

    async def leases(connection: Any) -> None:
        rows = await connection.fetch(LEASES_SQL, organization_id, PAGE + 1)
        ids = [row["id"] for row in rows[:PAGE]]
        tenants = await connection.fetch(TENANT_NAMES_SQL, organization_id, ids)
        assert len(ids) == PAGE
        assert len(tenants) >= PAGE

    async def lease(connection: Any) -> None:
        row = await connection.fetchrow(LEASE_SQL, organization_id, target.lease_id)
        tenants = await connection.fetch(TENANTS_SQL, organization_id, [row["id"]])
        assert len(tenants) == 2

    return {"properties": properties, "leases": leases, "lease": lease}


def percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    index = max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))
    return ordered[index]


async def measure_floor(
    dsn: str,
    operations: dict[str, Operation],
    *,
    seconds: int,
    warmup: int,
    concurrency: int,
) -> dict[str, Figures]:
    """Each operation from ``concurrency`` coroutines, one connection each."""
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    results: dict[str, Figures] = {}
    try:

        async def loop(
            operation: Operation, until: float, samples: list[float]
        ) -> None:
            async with pool.acquire() as connection:
                while time.perf_counter() < until:
                    started = time.perf_counter()
                    await operation(connection)
                    samples.append(time.perf_counter() - started)

        for name, operation in operations.items():
            until = time.perf_counter() + warmup
            await asyncio.gather(
                *(loop(operation, until, []) for _ in range(concurrency))
            )
            samples: list[float] = []
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    loop(operation, started + seconds, samples)
                    for _ in range(concurrency)
                )
            )
            elapsed = time.perf_counter() - started
            ordered = sorted(samples)
            results[name] = Figures(
                rate=len(samples) / elapsed,
                p50_ms=percentile(ordered, 0.50) * 1000,
                p95_ms=percentile(ordered, 0.95) * 1000,
                p99_ms=percentile(ordered, 0.99) * 1000,
                count=len(samples),
            )
    finally:
        await pool.close()
    return results


# --- the run ----------------------------------------------------------------


def delete_redis_keys(redis_url: str, prefix: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        server.wait(timeout=30)


def row(path: str, what: str, figures: Figures) -> str:
    return (
        f"| `{path}` | {what} | {figures.rate:,.0f} | {figures.p50_ms:.1f} |"
        f" {figures.p95_ms:.1f} | {figures.p99_ms:.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="portfolio read-path benchmark")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2, help="seconds, per path")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn processes (WEB_CONCURRENCY)"
    )
    args = parser.parse_args()
    if min(args.seconds, args.connections, args.warmup, args.workers) < 1:
        parser.error("--seconds, --connections, --warmup, --workers: at least 1")
    if shutil.which("wrk") is None:
        sys.stderr.write("wrk is not installed: apt-get install wrk\n")
        return 2
    server_url = os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"aa_bench_{secrets.token_hex(4)}"
    prefix = f"aa-bench-{secrets.token_hex(4)}:"
    # One process: a connection for each of wrk's. Several: their share each,
    # and a fifth more for an uneven split of wrk's connections between them.
    pool_size = -(-args.connections // args.workers)
    max_overflow = 0 if args.workers == 1 else -(-pool_size // 5)
    port = free_port()
    # Everything made here is undone in reverse order, whatever fails.
    with contextlib.ExitStack() as cleanup:
        scratch = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        script = scratch / "percentiles.lua"
        script.write_text(WRK_SCRIPT)
        cleanup.callback(delete_redis_keys, redis_url, prefix)
        database_url = asyncio.run(create_database(server_url, name))
        cleanup.callback(lambda: asyncio.run(drop_database(server_url, name)))
        migrations.upgrade(database_url)
        dsn = parse_database_url(database_url).asyncpg_dsn
        target = asyncio.run(seed(dsn))
        counts = ", ".join(
            f"{count:,} {table}" for table, count in target.counts.items()
        )
        sys.stdout.write(f"seeded in {target.seed_seconds:.1f} s: {counts}\n")
        sys.stdout.flush()

        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "PORT": str(port),
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "JWT_SECRET": secrets.token_hex(32),
            "EMAIL_BACKEND": "file",
            "EMAIL_FILE_DIR": str(scratch / "mail"),
            "DB_POOL_SIZE": str(pool_size),
            "DB_MAX_OVERFLOW": str(max_overflow),
        }
        server = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "asset_anchor.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        cleanup.callback(stop, server)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        tokens = asyncio.run(sign_in(base, target.owner_email))
        paths = {
            # The fixed cost of an authenticated request on this machine today
            # (as in benchmarks/auth.py): the figures below compare with it.
            "baseline": ("/api/v1/auth/mfa", "session lookup + 1 query, no rows"),
            "properties": (
                f"/api/v1/properties?limit={PAGE}",
                "session lookup + 1 query: 50 properties with unit counts",
            ),
            "leases": (
                f"/api/v1/leases?limit={PAGE}",
                "session lookup + 2 queries: 50 leases, their tenants",
            ),
            "lease": (
                f"/api/v1/leases/{target.lease_id}",
                "session lookup + 2 queries: one lease in full, 2 tenants",
            ),
        }
        api: dict[str, Figures] = {}
        for key, (path, _) in paths.items():
            tokens = asyncio.run(refresh(base, str(tokens["refresh_token"])))
            token = str(tokens["access_token"])
            run_wrk(f"{base}{path}", args.warmup, args.connections, token, script)
            api[key] = run_wrk(
                f"{base}{path}", args.seconds, args.connections, token, script
            )
            sys.stdout.write(f"{path}: {api[key].count:,} requests, all 2xx\n")
            sys.stdout.flush()
        # The server's connections go before the floor opens as many.
        stop(server)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            floor = runner.run(
                measure_floor(
                    dsn,
                    floor_operations(target),
                    seconds=args.seconds,
                    warmup=args.warmup,
                    concurrency=args.connections,
                )
            )

        sys.stdout.write(
            f"\nAPI: {args.workers} uvicorn process(es), wrk -t2 -c{args.connections},"
            f" {args.seconds} s per path after {args.warmup} s of warm-up;"
            f" DB_POOL_SIZE={pool_size}, DB_MAX_OVERFLOW={max_overflow}"
            f" per process.\n"
            f"asyncpg: {args.connections} coroutines on a pool of"
            f" {args.connections} connections, one Python process (uvloop),"
            f" timed with time.perf_counter around each path's statements.\n"
            f"Server, PostgreSQL, wrk and the asyncpg client share the same"
            f" {os.cpu_count()} cores; Python {sys.version.split()[0]}.\n"
            f"Seeding (INSERT … SELECT, then VACUUM (ANALYZE)):"
            f" {target.seed_seconds:.1f} s.\n\n"
            "| path | what | req/s | p50 ms | p95 ms | p99 ms |\n"
            "|---|---|---|---|---|---|\n"
        )
        floor_what = {
            "properties": "asyncpg floor: the same SELECT",
            "leases": "asyncpg floor: the same 2 SELECTs",
            "lease": "asyncpg floor: the same 2 SELECTs",
        }
        for key, (path, what) in paths.items():
            shown = "/api/v1/leases/{id}" if key == "lease" else path
            sys.stdout.write(row(f"GET {shown}", f"API: {what}", api[key]) + "\n")
            if key in floor:
                sys.stdout.write(
                    row(f"GET {shown}", floor_what[key], floor[key]) + "\n"
                )
        sys.stdout.write(
            "\nreq/s of an asyncpg row counts whole paths (all of its statements)"
            " per second.\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
