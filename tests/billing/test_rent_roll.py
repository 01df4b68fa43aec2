"""The rent roll of March 2026: which leases, which month's money, totals."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import reports
from asset_anchor.settings import Settings
from tests.billing.rows import (
    another_unit,
    lease_row,
    paid,
    place,
    rent,
    reversal,
    write,
)
from tests.portfolio.conftest import (
    Account,
    make_landlord,
    make_tenant,
    ok,
    statements_run,
)

PATH = "/api/v1/reports/rent-roll"


@dataclass
class Portfolio:
    maple: uuid.UUID
    canal: uuid.UUID
    running: uuid.UUID
    left_mid_march: uuid.UUID
    in_euros: uuid.UUID


async def rent_roll(api: httpx.AsyncClient, caller: Account, **params: str) -> Any:
    return ok(await api.get(PATH, params=params, headers=caller.headers))


@pytest.fixture
async def portfolio(db: AsyncSession, owner: Account) -> Portfolio:
    """Maple Court (USD, Portland) and Canal House (EUR), with leases that
    began, ran and ended around March 2026."""
    flat_1 = await place(db, owner, name="Maple Court", label="1A")
    flat_2 = await another_unit(db, owner, flat_1[0], "1B")
    canal = await place(
        db, owner, name="Canal House", timezone="Europe/Amsterdam", currency="EUR"
    )

    running = await lease_row(db, owner, flat_1, tenants=("Dana Tenant", "Ari Tenant"))
    february = await rent(db, running, 150_000, date(2026, 2, 1))
    await paid(db, running, 150_000, date(2026, 2, 3))
    await write(db, running, "charge", "late_fee", 5_000, date(2026, 2, 6))
    await rent(db, running, 150_000, date(2026, 3, 1))
    wrong = await write(db, running, "charge", "other", 10_000, date(2026, 3, 10))
    await reversal(db, wrong, date(2026, 3, 12), "Charged twice")
    later_voided = await write(db, running, "charge", "other", 3_000, date(2026, 3, 5))
    await reversal(db, later_voided, date(2026, 4, 2), "Not ours to charge")
    bounced = await paid(db, running, 20_000, date(2026, 3, 15))
    await reversal(db, bounced, date(2026, 3, 20), "The check bounced")
    await paid(db, running, 100_000, date(2026, 3, 31))
    await paid(db, running, 50_000, date(2026, 4, 1))
    assert february

    left = await lease_row(
        db,
        owner,
        flat_2,
        start=date(2025, 3, 16),
        end=date(2026, 3, 15),
        status="terminated",
        ended_on=date(2026, 3, 15),
        rent=120_000,
        tenants=("Sam Early",),
    )
    await rent(db, left, 60_000, date(2026, 3, 1))
    await paid(db, left, 60_000, date(2026, 3, 2))
    # Over before March, starting after it, never started: none is shown.
    await lease_row(
        db,
        owner,
        flat_2,
        start=date(2025, 3, 1),
        end=date(2026, 2, 28),
        status="ended",
        ended_on=date(2026, 2, 28),
    )
    await lease_row(db, owner, flat_2, start=date(2026, 4, 1), tenants=("Lee Next",))
    await lease_row(db, owner, flat_2, start=date(2026, 3, 1), status="draft")

    euros = await lease_row(
        db,
        owner,
        canal,
        start=date(2025, 6, 1),
        rent=90_000,
        currency="EUR",
        tenants=("Noor Visser",),
    )
    await rent(db, euros, 90_000, date(2026, 3, 1))
    return Portfolio(flat_1[0], canal[0], running, left, euros)


class TestWhichLeases:
    async def test_leases_in_force_in_the_month_and_no_others(
        self, api: httpx.AsyncClient, owner: Account, portfolio: Portfolio
    ) -> None:
        report = await rent_roll(api, owner, month="2026-03")

        assert [
            (row["property_name"], row["unit_label"]) for row in report["rows"]
        ] == [
            ("Canal House", report["rows"][0]["unit_label"]),
            ("Maple Court", "1A"),
            ("Maple Court", "1B"),
        ]
        assert [row["lease_id"] for row in report["rows"]] == [
            str(portfolio.in_euros),
            str(portfolio.running),
            str(portfolio.left_mid_march),
        ]
        assert report["month"] == "2026-03"

    async def test_a_lease_that_ended_mid_month_shows_its_last_day(
        self, api: httpx.AsyncClient, owner: Account, portfolio: Portfolio
    ) -> None:
        report = await rent_roll(api, owner, month="2026-03")

        left = next(
            row
            for row in report["rows"]
            if row["lease_id"] == str(portfolio.left_mid_march)
        )
        assert left["lease_status"] == "terminated"
        assert left["end_date"] == "2026-03-15"
        assert left["tenant_names"] == ["Sam Early"]
        assert (left["charged_amount"], left["paid_amount"]) == (60_000, 60_000)

    async def test_the_next_month_shows_the_lease_that_starts_in_it(
        self, api: httpx.AsyncClient, owner: Account, portfolio: Portfolio
    ) -> None:
        april = await rent_roll(api, owner, month="2026-04")

        names = [row["tenant_names"] for row in april["rows"]]
        assert ["Lee Next"] in names
        assert ["Sam Early"] not in names


class TestTheMonthsMoney:
    async def test_money_counts_in_the_month_it_is_dated(
        self, api: httpx.AsyncClient, owner: Account, portfolio: Portfolio
    ) -> None:
        report = await rent_roll(api, owner, month="2026-03")

        row = next(
            row for row in report["rows"] if row["lease_id"] == str(portfolio.running)
        )
        # Named together when the lease was made: alphabetical.
        assert row["tenant_names"] == ["Ari Tenant", "Dana Tenant"]
        assert row["rent_amount"] == 150_000
        # February's late fee was still owed when March began.
        assert row["opening_balance_amount"] == 5_000
        # Rent, and a charge voided only in April; the one voided in March
        # cancels itself out.
        assert row["charged_amount"] == 150_000 + 3_000
        # The payment on the 31st counts; the bounced one is undone in
        # March; the one on 1 April belongs to April.
        assert row["paid_amount"] == 100_000
        assert row["balance_amount"] == 5_000 + 153_000 - 100_000

    async def test_the_first_of_the_next_month_belongs_to_it(
        self, api: httpx.AsyncClient, owner: Account, portfolio: Portfolio
    ) -> None:
        april = await rent_roll(api, owner, month="2026-04")

        row = next(
            row for row in april["rows"] if row["lease_id"] == str(portfolio.running)
        )
        assert row["opening_balance_amount"] == 58_000
        assert row["charged_amount"] == -3_000
        assert row["paid_amount"] == 50_000
        assert row["balance_amount"] == 58_000 - 3_000 - 50_000

    async def test_totals_are_per_currency(
        self, api: httpx.AsyncClient, owner: Account, portfolio: Portfolio
    ) -> None:
        report = await rent_roll(api, owner, month="2026-03")

        assert report["totals"] == [
            {
                "currency": "EUR",
                "leases": 1,
                "rent_amount": 90_000,
                "opening_balance_amount": 0,
                "charged_amount": 90_000,
                "paid_amount": 0,
                "balance_amount": 90_000,
            },
            {
                "currency": "USD",
                "leases": 2,
                "rent_amount": 270_000,
                "opening_balance_amount": 5_000,
                "charged_amount": 213_000,
                "paid_amount": 160_000,
                "balance_amount": 58_000,
            },
        ]

    async def test_filtered_by_property(
        self, api: httpx.AsyncClient, owner: Account, portfolio: Portfolio
    ) -> None:
        report = await rent_roll(
            api, owner, month="2026-03", property_id=str(portfolio.canal)
        )

        assert [row["lease_id"] for row in report["rows"]] == [str(portfolio.in_euros)]
        assert [total["currency"] for total in report["totals"]] == ["EUR"]


class TestCsv:
    async def test_a_row_per_lease_then_a_total_per_currency(
        self, api: httpx.AsyncClient, owner: Account, portfolio: Portfolio
    ) -> None:
        answer = await api.get(
            PATH, params={"month": "2026-03", "format": "csv"}, headers=owner.headers
        )

        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"] == (
            'attachment; filename="rent-roll-2026-03.csv"'
        )
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0] == list(reports.RENT_ROLL_HEADER)
        assert [row[0] for row in rows[1:]] == ["lease"] * 3 + ["total"] * 2
        running = rows[2]
        assert running[1:4] == ["Maple Court", "1A", "Ari Tenant; Dana Tenant"]
        assert running[4:7] == [str(portfolio.running), "active", "USD"]
        assert running[7:] == [
            "2026-01-01",
            "",
            "1500.00",
            "50.00",
            "1530.00",
            "1000.00",
            "580.00",
        ]
        assert rows[-1] == [
            "total",
            *[""] * 5,
            "USD",
            "",
            "",
            "2700.00",
            "50.00",
            "2130.00",
            "1600.00",
            "580.00",
        ]

    async def test_a_tenant_name_cannot_become_a_formula(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        flat = await place(db, owner, name="@Home Lofts")
        await lease_row(db, owner, flat, tenants=("=cmd|' /C calc'!A0", "Kim Plain"))

        answer = await api.get(
            PATH, params={"month": "2026-03", "format": "csv"}, headers=owner.headers
        )

        [_, row] = list(csv.reader(io.StringIO(answer.text)))[:2]
        assert row[1] == "'@Home Lofts"
        assert row[3] == "'=cmd|' /C calc'!A0; Kim Plain"


class TestWhoMayRead:
    async def test_another_organizations_leases_are_not_in_it(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        portfolio: Portfolio,
    ) -> None:
        outsider = await make_landlord(db, settings)
        theirs = await place(db, outsider, name="Outsider Flats")
        await lease_row(db, outsider, theirs)

        report = await rent_roll(api, outsider, month="2026-03")
        mine_filtered = await rent_roll(
            api, outsider, month="2026-03", property_id=str(portfolio.maple)
        )

        assert [row["property_name"] for row in report["rows"]] == ["Outsider Flats"]
        assert mine_filtered == {"month": "2026-03", "rows": [], "totals": []}

    async def test_someone_in_no_organization_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        person = await make_tenant(db, settings)

        answer = await api.get(
            PATH, params={"month": "2026-03"}, headers=person.headers
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "organization_required"

    @pytest.mark.parametrize("month", ["2026-13", "2026-3", "March", ""])
    async def test_a_month_is_yyyy_mm(
        self, api: httpx.AsyncClient, owner: Account, month: str
    ) -> None:
        answer = await api.get(PATH, params={"month": month}, headers=owner.headers)

        assert answer.status_code == 422


class TestSize:
    async def test_thirty_leases_cost_what_one_does(
        self, api: httpx.AsyncClient, db: AsyncSession, owner: Account
    ) -> None:
        flat = await place(db, owner)
        first = await lease_row(db, owner, flat, tenants=("One", "Two"))
        await rent(db, first, 150_000, date(2026, 3, 1))
        with statements_run(db) as one:
            small = await rent_roll(api, owner, month="2026-03")
        for _ in range(29):
            other = await lease_row(db, owner, flat, tenants=("One", "Two"))
            await rent(db, other, 150_000, date(2026, 3, 1))
            await paid(db, other, 50_000, date(2026, 3, 3))
        with statements_run(db) as thirty:
            large = await rent_roll(api, owner, month="2026-03")

        assert len(small["rows"]) == 1
        assert len(large["rows"]) == 30
        assert len(thirty) == len(one)
        # The caller's session, and the report.
        assert len(thirty) == 2
        assert large["totals"][0]["paid_amount"] == 29 * 50_000

    async def test_past_the_cap_it_asks_for_a_property(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
        owner: Account,
    ) -> None:
        flat = await place(db, owner)
        for _ in range(3):
            await lease_row(db, owner, flat)
        monkeypatch.setattr(reports, "MAX_ROWS", 2)

        answer = await api.get(PATH, params={"month": "2026-03"}, headers=owner.headers)

        assert answer.status_code == 400
        assert answer.json()["code"] == "report_too_large"
