"""A lease's statement, staff side: running balance, periods, reversals,
the deposit, CSV, and who may read it."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.kit.time import utc_now
from asset_anchor.leases.terms import local_today
from asset_anchor.settings import Settings
from tests.billing.conftest import charge, lease_path, pay
from tests.billing.rows import freeze, late_fee, rent, write
from tests.portfolio.conftest import Account, make_landlord, ok, statements_run

# 11:00 on 20 March in Portland: the day the reversals below are made.
REVERSED_AT = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)


async def statement(
    api: httpx.AsyncClient, caller: Account, lease: dict[str, Any], **params: str
) -> Any:
    return ok(
        await api.get(
            lease_path(lease, "/statement"), params=params, headers=caller.headers
        )
    )


async def reverse(
    api: httpx.AsyncClient, owner: Account, entry_id: str, reason: str
) -> dict[str, Any]:
    return ok(  # type: ignore[no-any-return]
        await api.post(
            f"/api/v1/entries/{entry_id}/reverse",
            json={"reason": reason},
            headers=owner.headers,
        ),
        201,
    )


def figures(lines: list[dict[str, Any]]) -> list[tuple[str, str, str, int, int]]:
    return [
        (
            line["effective_on"],
            line["entry_type"],
            line["category"],
            line["balance_effect_amount"],
            line["running_balance_amount"],
        )
        for line in lines
    ]


@pytest.fixture
async def history(
    api: httpx.AsyncClient,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    owner: Account,
    lease: dict[str, Any],
) -> dict[str, str]:
    """January to March of one lease, in the order it happened:

    rent, a partial payment, a late fee, a one-off charge, an overpayment,
    February's rent paid from that credit and then by a payment that later
    bounces, March's rent, a refund of part of the overpayment, and on
    20 March the one-off charge voided and the bounced payment reversed.
    """
    january = await rent(db, lease["id"], 150_000, date(2026, 1, 1))
    ok(await pay(api, owner, lease, 100_000, received_on="2026-01-03"), 201)
    await late_fee(db, lease["id"], january, 5_000, date(2026, 1, 6))
    key = await charge(
        api, owner, lease, 2_500, "2026-01-10", description="Key replacement"
    )
    big = ok(await pay(api, owner, lease, 200_000, received_on="2026-01-20"), 201)
    await rent(db, lease["id"], 150_000, date(2026, 2, 1))
    bounced = ok(await pay(api, owner, lease, 7_500, received_on="2026-02-05"), 201)
    await rent(db, lease["id"], 150_000, date(2026, 3, 1))
    ok(
        await api.post(
            f"/api/v1/entries/{big['id']}/refunds",
            json={
                "amount": 20_000,
                "method": "check",
                "refunded_on": "2026-03-02",
                "reason": "Overpaid in January",
            },
            headers=owner.headers,
        ),
        201,
    )
    freeze(monkeypatch, REVERSED_AT, "asset_anchor.billing.service")
    void = await reverse(api, owner, key["id"], "Key was returned")
    bounce = await reverse(api, owner, bounced["id"], "The check bounced")
    return {
        "january": str(january),
        "key": key["id"],
        "void": void["id"],
        "bounced": bounced["id"],
        "bounce": bounce["id"],
    }


class TestRunningBalance:
    async def test_every_line_carries_the_balance_after_it(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        history: dict[str, str],
    ) -> None:
        shown = await statement(api, owner, lease, to="2026-03-31")

        assert figures(shown["lines"]) == [
            ("2026-01-01", "charge", "rent", 150_000, 150_000),
            ("2026-01-03", "payment", "check", -100_000, 50_000),
            ("2026-01-06", "charge", "late_fee", 5_000, 55_000),
            ("2026-01-10", "charge", "other", 2_500, 57_500),
            # The overpayment leaves the tenants in credit.
            ("2026-01-20", "payment", "check", -200_000, -142_500),
            ("2026-02-01", "charge", "rent", 150_000, 7_500),
            ("2026-02-05", "payment", "check", -7_500, 0),
            ("2026-03-01", "charge", "rent", 150_000, 150_000),
            ("2026-03-02", "refund", "check", 20_000, 170_000),
            ("2026-03-20", "charge", "other", -2_500, 167_500),
            ("2026-03-20", "payment", "check", 7_500, 175_000),
        ]
        assert shown["opening_balance_amount"] == 0
        assert shown["closing_balance_amount"] == 175_000
        assert shown["from_date"] == "2026-01-01"
        assert shown["to_date"] == "2026-03-31"
        assert shown["currency"] == "USD"

    async def test_the_closing_balance_is_the_lease_balance(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        history: dict[str, str],
    ) -> None:
        shown = await statement(api, owner, lease)
        balance = ok(
            await api.get(lease_path(lease, "/balance"), headers=owner.headers)
        )

        assert shown["closing_balance_amount"] == balance["balance_amount"] == 175_000
        # With no `to`, the statement runs to today at the property.
        today = local_today("America/Los_Angeles", utc_now())
        assert shown["to_date"] == today.isoformat()

    async def test_a_period_opens_with_everything_before_it(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        history: dict[str, str],
    ) -> None:
        shown = await statement(
            api, owner, lease, **{"from": "2026-02-01"}, to="2026-02-28"
        )

        assert shown["opening_balance_amount"] == 57_500 - 200_000
        assert figures(shown["lines"]) == [
            ("2026-02-01", "charge", "rent", 150_000, 7_500),
            ("2026-02-05", "payment", "check", -7_500, 0),
        ]
        assert shown["closing_balance_amount"] == 0

    async def test_a_period_with_no_entries_opens_and_closes_alike(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        history: dict[str, str],
    ) -> None:
        shown = await statement(
            api, owner, lease, **{"from": "2026-04-01"}, to="2026-04-30"
        )

        assert shown["lines"] == []
        assert shown["opening_balance_amount"] == 175_000
        assert shown["closing_balance_amount"] == 175_000

    async def test_from_after_to_is_refused(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        answer = await api.get(
            lease_path(lease, "/statement"),
            params={"from": "2026-03-01", "to": "2026-02-01"},
            headers=owner.headers,
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "statement_period_invalid"


class TestReversals:
    async def test_a_reversal_names_what_it_undoes_even_in_another_period(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        history: dict[str, str],
    ) -> None:
        march = await statement(
            api, owner, lease, **{"from": "2026-03-01"}, to="2026-03-31"
        )

        bounce = next(
            line for line in march["lines"] if line["id"] == history["bounce"]
        )
        assert bounce["reason"] == "The check bounced"
        assert bounce["reverses"] == {
            "id": history["bounced"],
            "entry_type": "payment",
            "effective_on": "2026-02-05",
            "description": None,
            "reason": None,
        }
        assert bounce["reversed_by"] is None

    async def test_the_undone_line_names_its_reversal_and_why(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        history: dict[str, str],
    ) -> None:
        january = await statement(
            api, owner, lease, **{"from": "2026-01-01"}, to="2026-01-31"
        )

        key = next(line for line in january["lines"] if line["id"] == history["key"])
        assert key["description"] == "Key replacement"
        assert key["reversed_by"] == {
            "id": history["void"],
            "entry_type": "charge",
            "effective_on": "2026-03-20",
            "description": "Key replacement",
            "reason": "Key was returned",
        }
        # The voided charge still counts where it stood; its void counts in March.
        assert key["running_balance_amount"] == 57_500

    async def test_a_late_fee_names_its_rent(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        history: dict[str, str],
    ) -> None:
        shown = await statement(api, owner, lease, to="2026-01-31")

        fee = next(line for line in shown["lines"] if line["category"] == "late_fee")
        assert fee["source_entry_id"] == history["january"]
        assert fee["description"] == "Late fee"


class TestDeposit:
    async def test_a_deposit_paid_is_held_until_move_out(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await charge(
            api,
            owner,
            lease,
            100_000,
            "2026-01-01",
            category="deposit",
            description="Deposit",
        )
        ok(await pay(api, owner, lease, 100_000, received_on="2026-01-01"), 201)

        shown = await statement(api, owner, lease)

        assert shown["deposit"] == {"held_amount": 100_000, "dispositions": []}

    async def test_after_move_out_the_settlement_is_itemized(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await charge(
            api,
            owner,
            lease,
            100_000,
            "2026-01-01",
            category="deposit",
            description="Deposit",
        )
        ok(await pay(api, owner, lease, 100_000, received_on="2026-01-01"), 201)
        await charge(
            api, owner, lease, 15_000, "2026-12-01", description="Last water bill"
        )
        ok(await api.post(lease_path(lease, "/end"), json={}, headers=owner.headers))
        ok(
            await api.post(
                lease_path(lease, "/deposit/disposition"),
                json={
                    "deductions": [
                        {"description": "Carpet cleaning", "amount": 20_000},
                        {"description": "Repainting the hall", "amount": 10_000},
                    ],
                    "refunded_on": "2026-12-31",
                },
                headers=owner.headers,
            )
        )

        shown = await statement(api, owner, lease)

        assert shown["deposit"] == {
            "held_amount": 0,
            "dispositions": [
                {
                    "disposed_on": "2026-12-31",
                    "released_amount": 100_000,
                    "deducted_amount": 30_000,
                    "deductions": [
                        {"description": "Carpet cleaning", "amount": 20_000},
                        {"description": "Repainting the hall", "amount": 10_000},
                    ],
                    "applied_amount": 15_000,
                    "refunded_amount": 55_000,
                }
            ],
        }
        # Deposit in and out, deductions paid from it, the water bill from
        # what was left, the rest refunded: nothing owed, nothing held.
        assert shown["closing_balance_amount"] == 0


class TestCsv:
    async def test_the_csv_has_a_header_and_amounts_in_major_units(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        history: dict[str, str],
    ) -> None:
        answer = await api.get(
            lease_path(lease, "/statement"),
            params={"from": "2026-01-01", "to": "2026-01-31", "format": "csv"},
            headers=owner.headers,
        )

        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"] == (
            f'attachment; filename="statement-{lease["id"]}-2026-01-01-2026-01-31.csv"'
        )
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0] == [
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
        ]
        assert [row[0] for row in rows[1:]] == [
            "opening_balance",
            *["entry"] * 5,
            "closing_balance",
            "deposit_held",
        ]
        assert rows[1][10] == "0.00"
        overpayment = rows[6]
        assert overpayment[1:4] == ["2026-01-20", "payment", "check"]
        assert overpayment[8:12] == ["2000.00", "-2000.00", "-1425.00", "USD"]
        key = rows[5]
        assert key[4] == "Key replacement"
        assert key[14] == history["void"]
        assert rows[7][10] == "-1425.00"
        assert answer.text.endswith("\r\n")

    async def test_text_that_a_spreadsheet_would_run_is_defused(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await charge(
            api,
            owner,
            lease,
            1_234,
            "2026-01-15",
            description='=HYPERLINK("http://evil.example","Pay here")',
        )
        await charge(
            api, owner, lease, 1_000, "2026-01-16", description="+1 555, a call"
        )
        await charge(api, owner, lease, 1_000, "2026-01-17", description="@SUM(A1)")
        await charge(api, owner, lease, 1_000, "2026-01-18", description="-2+3")

        answer = await api.get(
            lease_path(lease, "/statement"),
            params={"format": "csv", "to": "2026-01-31"},
            headers=owner.headers,
        )

        rows = list(csv.reader(io.StringIO(answer.text)))
        descriptions = [row[4] for row in rows if row[0] == "entry"]
        assert descriptions == [
            '\'=HYPERLINK("http://evil.example","Pay here")',
            "'+1 555, a call",
            "'@SUM(A1)",
            "'-2+3",
        ]
        # Quoting keeps the comma inside its cell.
        assert '"\'+1 555, a call"' in answer.text
        assert [row[8] for row in rows if row[0] == "entry"] == [
            "12.34",
            "10.00",
            "10.00",
            "10.00",
        ]


class TestWhoMayRead:
    async def test_another_organization_gets_404(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        lease: dict[str, Any],
    ) -> None:
        outsider = await make_landlord(db, settings)

        answer = await api.get(
            lease_path(lease, "/statement"), headers=outsider.headers
        )
        as_csv = await api.get(
            lease_path(lease, "/statement"),
            params={"format": "csv"},
            headers=outsider.headers,
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_not_found"
        assert as_csv.status_code == 404

    async def test_a_manager_of_the_organization_reads_it(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        manager = await make_landlord(
            db, settings, organization_id=owner.organization_id, role="manager"
        )

        shown = await statement(api, manager, lease)

        assert shown["lease_id"] == lease["id"]

    async def test_an_unknown_lease_is_not_found(
        self, api: httpx.AsyncClient, owner: Account
    ) -> None:
        answer = await api.get(
            f"/api/v1/leases/{uuid.uuid4()}/statement", headers=owner.headers
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_not_found"


class TestCost:
    async def test_a_statement_costs_the_same_statements_at_any_length(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        await rent(db, lease["id"], 150_000, date(2026, 1, 1))
        with statements_run(db) as short:
            one = await statement(api, owner, lease, to="2026-12-31")
        for day in range(2, 32):
            await write(db, lease["id"], "charge", "other", 100, date(2026, 1, day))
        with statements_run(db) as long:
            many = await statement(api, owner, lease, to="2026-12-31")

        assert len(one["lines"]) == 1
        assert len(many["lines"]) == 31
        assert len(long) == len(short)
        assert many["closing_balance_amount"] == 150_000 + 30 * 100
