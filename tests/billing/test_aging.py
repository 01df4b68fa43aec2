"""The aging: what is owed by days past due, at the property's own "today"."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import reports
from asset_anchor.settings import Settings
from tests.billing.rows import freeze, lease_row, paid, place, reversal, write
from tests.portfolio.conftest import (
    Account,
    make_landlord,
    make_tenant,
    ok,
    statements_run,
)

PATH = "/api/v1/reports/aging"
# 22:00 on 31 May in Portland, 1 June in UTC, 14:00 on 1 June in Tokyo.
NOW = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)
ENDPOINTS = "asset_anchor.billing.report_endpoints"


async def aging(api: httpx.AsyncClient, caller: Account, **params: str) -> Any:
    return ok(await api.get(PATH, params=params, headers=caller.headers))


def row_of(report: dict[str, Any], lease_id: uuid.UUID) -> dict[str, Any]:
    return next(row for row in report["rows"] if row["lease_id"] == str(lease_id))


async def owe(
    db: AsyncSession, lease_id: uuid.UUID, amount: int, due_on: date
) -> uuid.UUID:
    return await write(db, lease_id, "charge", "other", amount, due_on)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze(monkeypatch, NOW, ENDPOINTS)


class TestBuckets:
    async def test_each_edge_falls_in_its_bucket_at_the_propertys_today(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        lease = await lease_row(db, owner, await place(db, owner))
        # Days past due on 31 May, Portland's today (UTC is already 1 June).
        for amount, due_on in [
            (100, date(2026, 5, 31)),  # 0: due today
            (200, date(2026, 6, 15)),  # not yet due
            (1_000, date(2026, 5, 30)),  # 1
            (2_000, date(2026, 5, 1)),  # 30
            (10_000, date(2026, 4, 30)),  # 31
            (20_000, date(2026, 4, 1)),  # 60
            (100_000, date(2026, 3, 31)),  # 61
            (200_000, date(2026, 3, 2)),  # 90
            (1_000_000, date(2026, 3, 1)),  # 91
        ]:
            await owe(db, lease, amount, due_on)

        row = row_of(await aging(api, owner), lease)

        assert row["as_of"] == "2026-05-31"
        assert row["current_amount"] == 300
        assert row["days_1_30_amount"] == 3_000
        assert row["days_31_60_amount"] == 30_000
        assert row["days_61_90_amount"] == 300_000
        assert row["over_90_amount"] == 1_000_000
        assert row["open_amount"] == 1_333_300
        assert row["unapplied_amount"] == 0

    async def test_the_same_due_date_is_late_where_the_day_has_turned(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        portland = await lease_row(db, owner, await place(db, owner, name="Elm"))
        tokyo_place = await place(
            db, owner, name="Sakura", timezone="Asia/Tokyo", currency="JPY"
        )
        tokyo = await lease_row(db, owner, tokyo_place, currency="JPY", rent=120_000)
        await owe(db, portland, 5_000, date(2026, 5, 31))
        await owe(db, tokyo, 50_000, date(2026, 5, 31))

        report = await aging(api, owner)

        assert row_of(report, portland)["as_of"] == "2026-05-31"
        assert row_of(report, portland)["current_amount"] == 5_000
        assert row_of(report, tokyo)["as_of"] == "2026-06-01"
        assert row_of(report, tokyo)["days_1_30_amount"] == 50_000
        assert row_of(report, tokyo)["current_amount"] == 0

    async def test_what_was_paid_or_voided_is_not_owed(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        lease = await lease_row(db, owner, await place(db, owner))
        await owe(db, lease, 10_000, date(2026, 1, 1))
        await owe(db, lease, 10_000, date(2026, 5, 1))
        mistake = await owe(db, lease, 7_000, date(2026, 2, 1))
        await reversal(db, mistake, date(2026, 2, 2), "Wrong lease")
        # Pays the oldest first: all of January's, 4,000 of May's.
        await paid(db, lease, 14_000, date(2026, 5, 20))

        row = row_of(await aging(api, owner), lease)

        assert row["over_90_amount"] == 0
        assert row["days_1_30_amount"] == 6_000
        assert row["open_amount"] == 6_000

    async def test_credit_not_yet_applied_is_shown_beside(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        flat = await place(db, owner)
        ahead = await lease_row(db, owner, flat, tenants=("Pat Early",))
        await owe(db, ahead, 10_000, date(2026, 5, 1))
        await paid(db, ahead, 15_000, date(2026, 5, 1))
        settled = await lease_row(db, owner, flat, tenants=("Quinn Square",))
        await owe(db, settled, 10_000, date(2026, 5, 1))
        await paid(db, settled, 10_000, date(2026, 5, 1))

        report = await aging(api, owner)

        assert [row["lease_id"] for row in report["rows"]] == [str(ahead)]
        assert row_of(report, ahead)["open_amount"] == 0
        assert row_of(report, ahead)["unapplied_amount"] == 5_000

    async def test_a_refund_leaves_less_credit(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        lease = await lease_row(db, owner, await place(db, owner))
        payment = await paid(db, lease, 15_000, date(2026, 5, 1))
        await write(
            db,
            lease,
            "refund",
            "check",
            4_000,
            date(2026, 5, 2),
            source_entry_id=payment,
            reason="Paid twice",
        )

        row = row_of(await aging(api, owner), lease)

        assert row["unapplied_amount"] == 11_000


class TestTotals:
    async def test_totals_are_per_currency(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        flat = await place(db, owner)
        for amount in (1_000, 2_000):
            lease = await lease_row(db, owner, flat)
            await owe(db, lease, amount, date(2026, 5, 1))
        yen = await lease_row(
            db,
            owner,
            await place(db, owner, name="Sakura", timezone="Asia/Tokyo"),
            currency="JPY",
        )
        await owe(db, yen, 50_000, date(2026, 2, 1))

        report = await aging(api, owner)

        assert report["totals"] == [
            {
                "currency": "JPY",
                "leases": 1,
                "current_amount": 0,
                "days_1_30_amount": 0,
                "days_31_60_amount": 0,
                "days_61_90_amount": 0,
                "over_90_amount": 50_000,
                "open_amount": 50_000,
                "unapplied_amount": 0,
            },
            {
                "currency": "USD",
                "leases": 2,
                "current_amount": 0,
                "days_1_30_amount": 3_000,
                "days_31_60_amount": 0,
                "days_61_90_amount": 0,
                "over_90_amount": 0,
                "open_amount": 3_000,
                "unapplied_amount": 0,
            },
        ]

    async def test_filtered_by_property(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        here = await place(db, owner, name="Here")
        there = await place(db, owner, name="There")
        wanted = await lease_row(db, owner, here)
        await owe(db, wanted, 1_000, date(2026, 5, 1))
        await owe(db, await lease_row(db, owner, there), 1_000, date(2026, 5, 1))

        report = await aging(api, owner, property_id=str(here[0]))

        assert [row["lease_id"] for row in report["rows"]] == [str(wanted)]


class TestCsv:
    async def test_buckets_in_major_units_and_jpy_without_decimals(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        usd = await lease_row(db, owner, await place(db, owner, name="Alder"))
        await owe(db, usd, 123_456, date(2026, 4, 15))
        yen = await lease_row(
            db,
            owner,
            await place(db, owner, name="Birch", timezone="Asia/Tokyo"),
            currency="JPY",
            tenants=("-Hiro", "+Yui"),
        )
        await owe(db, yen, 98_000, date(2026, 6, 1))

        answer = await api.get(PATH, params={"format": "csv"}, headers=owner.headers)

        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"] == (
            'attachment; filename="aging-2026-06-01.csv"'
        )
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0] == list(reports.AGING_HEADER)
        assert rows[1][1] == "Alder"
        assert rows[1][6:] == [
            "USD",
            "2026-05-31",
            "0.00",
            "0.00",
            "1234.56",
            "0.00",
            "0.00",
            "1234.56",
            "0.00",
        ]
        # Only a cell's start is read as a formula by a spreadsheet.
        assert rows[2][3] == "'+Yui; -Hiro"
        assert rows[2][6:] == [
            "JPY",
            "2026-06-01",
            "98000",
            "0",
            "0",
            "0",
            "0",
            "98000",
            "0",
        ]
        assert [row[0] for row in rows[3:]] == ["total", "total"]


class TestWhoMayRead:
    async def test_only_the_organizations_leases(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        owner: Account,
    ) -> None:
        mine = await lease_row(db, owner, await place(db, owner))
        await owe(db, mine, 1_000, date(2026, 5, 1))
        outsider = await make_landlord(db, settings)

        report = await aging(api, outsider)

        assert report == {"rows": [], "totals": []}

    async def test_someone_in_no_organization_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        person = await make_tenant(db, settings)

        answer = await api.get(PATH, headers=person.headers)

        assert answer.status_code == 403
        assert answer.json()["code"] == "organization_required"


class TestSize:
    async def test_thirty_leases_cost_what_one_does(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        flat = await place(db, owner)
        first = await lease_row(db, owner, flat)
        await owe(db, first, 1_000, date(2026, 1, 1))
        with statements_run(db) as one:
            small = await aging(api, owner)
        for index in range(29):
            lease = await lease_row(db, owner, flat)
            await owe(db, lease, 1_000, date(2026, 5, index % 28 + 1))
            await paid(db, lease, 1_500, date(2026, 5, 1))
        with statements_run(db) as thirty:
            large = await aging(api, owner)

        assert len(small["rows"]) == 1
        assert len(large["rows"]) == 30
        assert len(thirty) == len(one) == 2
        assert large["totals"][0]["unapplied_amount"] == 29 * 500
