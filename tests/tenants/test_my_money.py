"""The tenant portal's money: my balance, what is due next, my entries and my
statement, and never another lease's."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.settings import Settings
from tests.billing.rows import freeze, paid, rent, write
from tests.leases.factories import active_lease, link_tenant
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    make_landlord,
    make_tenant,
    ok,
    statements_run,
)

# Noon on 10 March in Portland.
TODAY = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)


def mine(lease: dict[str, Any], rest: str = "") -> str:
    return f"/api/v1/me/leases/{lease['id']}{rest}"


async def get(api: httpx.AsyncClient, caller: Account, path: str, **params: Any) -> Any:
    return ok(await api.get(path, params=params, headers=caller.headers))


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze(monkeypatch, TODAY, "asset_anchor.tenants.money")


@pytest.fixture
async def person(db: AsyncSession, settings: Settings) -> Account:
    return await make_tenant(db, settings, full_name="Dana Tenant")


async def lease_of(
    api: httpx.AsyncClient,
    db: AsyncSession,
    landlord: Account,
    tenant: Account,
    **terms: Any,
) -> dict[str, Any]:
    """An active lease of the landlord's with the tenant on it (and Ari)."""
    prop = await create_property(api, landlord)
    unit = await create_unit(api, landlord, prop["id"])
    made = await active_lease(
        api,
        landlord,
        unit["id"],
        tenants=[{"full_name": "Dana Tenant"}, {"full_name": "Ari Tenant"}],
        notes="Internal: slow payer",
        **terms,
    )
    dana = next(t["id"] for t in made["tenants"] if t["full_name"] == "Dana Tenant")
    await link_tenant(db, dana, tenant.user_id)
    return made


@pytest.fixture
async def lease(
    api: httpx.AsyncClient, db: AsyncSession, owner: Account, person: Account
) -> dict[str, Any]:
    return await lease_of(api, db, owner, person)


async def first_quarter(db: AsyncSession, lease: dict[str, Any]) -> list[uuid.UUID]:
    """January to March rent, as the schedule charges it."""
    return [
        await rent(db, lease["id"], 150_000, date(2026, month, 1))
        for month in (1, 2, 3)
    ]


class TestMyBalance:
    async def test_the_oldest_open_rent_is_due_next(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        _, february, _ = await first_quarter(db, lease)
        await paid(db, lease["id"], 200_000, date(2026, 1, 5))

        shown = await get(api, person, mine(lease, "/balance"))

        assert shown == {
            "lease_id": lease["id"],
            "currency": "USD",
            "balance_amount": 250_000,
            "open_charges_amount": 250_000,
            "unapplied_amount": 0,
            "deposit_held_amount": 0,
            "clearing_amount": 0,
            "next_due": {
                "due_on": "2026-02-01",
                "amount": 100_000,
                "currency": "USD",
                "charge_id": str(february),
                "past_due": True,
            },
        }
        staff = await get(api, owner, f"/api/v1/leases/{lease['id']}/balance")
        assert {key: shown[key] for key in staff} == staff

    async def test_with_nothing_open_the_next_rent_to_come(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        await first_quarter(db, lease)
        await paid(db, lease["id"], 460_000, date(2026, 3, 1))

        shown = await get(api, person, mine(lease, "/balance"))

        assert shown["balance_amount"] == -10_000
        assert shown["unapplied_amount"] == 10_000
        assert shown["next_due"] == {
            "due_on": "2026-04-01",
            "amount": 150_000,
            "currency": "USD",
            "charge_id": None,
            "past_due": False,
        }

    async def test_rent_charged_ahead_and_paid_is_not_due_next(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        await first_quarter(db, lease)
        await rent(db, lease["id"], 150_000, date(2026, 4, 1))
        await paid(db, lease["id"], 600_000, date(2026, 3, 9))

        shown = await get(api, person, mine(lease, "/balance"))

        assert shown["next_due"]["due_on"] == "2026-05-01"
        assert shown["next_due"]["charge_id"] is None

    async def test_rent_due_today_is_not_yet_past_due(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        charged = await rent(db, lease["id"], 150_000, date(2026, 3, 10))

        shown = await get(api, person, mine(lease, "/balance"))

        assert shown["next_due"]["charge_id"] == str(charged)
        assert shown["next_due"]["past_due"] is False

    async def test_a_lease_that_is_over_has_no_rent_to_come(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        ok(
            await api.post(
                f"/api/v1/leases/{lease['id']}/end", json={}, headers=owner.headers
            )
        )

        shown = await get(api, person, mine(lease, "/balance"))

        assert shown["next_due"] is None


class TestMyEntries:
    async def test_descriptions_and_reasons_but_not_who_on_the_staff(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        made = ok(
            await api.post(
                f"/api/v1/leases/{lease['id']}/charges",
                json={
                    "amount": 4_000,
                    "due_on": "2026-02-10",
                    "description": "Lost fob",
                },
                headers=owner.headers,
            ),
            201,
        )
        ok(
            await api.post(
                f"/api/v1/entries/{made['id']}/reverse",
                json={"reason": "Fob was found"},
                headers=owner.headers,
            ),
            201,
        )

        answer = await api.get(mine(lease, "/entries"), headers=person.headers)

        items = ok(answer)["items"]
        assert [(i["description"], i["reason"]) for i in items] == [
            ("Lost fob", None),
            ("Lost fob", "Fob was found"),
        ]
        assert items[0]["reversed_by_id"] == items[1]["id"]
        assert all("created_by_id" not in item for item in items)
        assert str(owner.user_id) not in answer.text
        assert "slow payer" not in answer.text

    async def test_a_cursor_walk_shows_every_entry_once(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        made = [*await first_quarter(db, lease)]
        made.append(await paid(db, lease["id"], 100_000, date(2026, 1, 2)))
        made.append(await paid(db, lease["id"], 100_000, date(2026, 2, 2)))

        walked: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            page = await get(api, person, mine(lease, "/entries"), **params)
            walked += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert walked == [str(entry_id) for entry_id in made]


class TestMyStatement:
    async def test_it_is_the_landlords_statement(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        await first_quarter(db, lease)
        await paid(db, lease["id"], 200_000, date(2026, 1, 5))
        period = {"from": "2026-02-01", "to": "2026-03-31"}

        theirs = await get(api, person, mine(lease, "/statement"), **period)
        staff = await get(
            api, owner, f"/api/v1/leases/{lease['id']}/statement", **period
        )

        assert theirs == staff
        assert theirs["opening_balance_amount"] == -50_000
        assert [line["running_balance_amount"] for line in theirs["lines"]] == [
            100_000,
            250_000,
        ]
        assert theirs["closing_balance_amount"] == 250_000

    async def test_as_csv(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        await first_quarter(db, lease)

        answer = await api.get(
            mine(lease, "/statement"),
            params={"from": "2026-01-01", "to": "2026-03-31", "format": "csv"},
            headers=person.headers,
        )

        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment; filename=" in answer.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert [row[10] for row in rows if row[0] == "entry"] == [
            "1500.00",
            "3000.00",
            "4500.00",
        ]
        assert rows[-2][0] == "closing_balance"
        assert rows[-2][10] == "4500.00"


class TestOnlyMyLeases:
    async def test_another_lease_is_not_found_however_asked(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        owner: Account,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        neighbour = await make_tenant(db, settings, full_name="Neil Bour")
        theirs = await lease_of(api, db, owner, neighbour)
        await rent(db, theirs["id"], 150_000, date(2026, 3, 1))
        paths = [
            mine(theirs, rest)
            for rest in ("/balance", "/entries", "/statement", "/statement?format=csv")
        ]

        answers = [await api.get(path, headers=person.headers) for path in paths]
        made_up = await api.get(
            f"/api/v1/me/leases/{uuid.uuid4()}/balance", headers=person.headers
        )

        assert [answer.status_code for answer in answers] == [404] * 4
        assert {answer.json()["code"] for answer in answers} == {"lease_not_found"}
        assert made_up.json()["detail"] == answers[0].json()["detail"]
        assert all("150000" not in answer.text for answer in answers)

    async def test_two_leases_with_two_landlords_are_seen_apart(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        owner: Account,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        other_landlord = await make_landlord(db, settings, currency="EUR")
        abroad = await lease_of(
            api, db, other_landlord, person, currency="EUR", rent_amount=90_000
        )
        await rent(db, lease["id"], 150_000, date(2026, 3, 1))
        euros = await rent(db, abroad["id"], 90_000, date(2026, 3, 1))
        await write(db, abroad["id"], "credit", "concession", 10_000, date(2026, 3, 2))

        here = await get(api, person, mine(lease, "/balance"))
        there = await get(api, person, mine(abroad, "/balance"))
        here_lines = (await get(api, person, mine(lease, "/statement")))["lines"]
        there_entries = (await get(api, person, mine(abroad, "/entries")))["items"]

        assert (here["currency"], here["balance_amount"]) == ("USD", 150_000)
        assert (there["currency"], there["balance_amount"]) == ("EUR", 80_000)
        assert there["next_due"]["charge_id"] == str(euros)
        assert [line["balance_effect_amount"] for line in here_lines] == [150_000]
        assert {item["lease_id"] for item in there_entries} == {abroad["id"]}
        assert [item["amount"] for item in there_entries] == [90_000, 10_000]

    async def test_the_landlord_is_not_a_tenant_of_their_lease(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        answer = await api.get(mine(lease, "/balance"), headers=owner.headers)

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_not_found"

    async def test_signing_in_is_required(
        self, api: httpx.AsyncClient, lease: dict[str, Any]
    ) -> None:
        answer = await api.get(mine(lease, "/statement"))

        assert answer.status_code == 401


class TestCost:
    @pytest.mark.parametrize("rest", ["/balance", "/entries", "/statement"])
    async def test_one_entry_or_thirty_cost_the_same_statements(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        person: Account,
        lease: dict[str, Any],
        rest: str,
    ) -> None:
        await rent(db, lease["id"], 150_000, date(2026, 1, 1))
        with statements_run(db) as one:
            await get(api, person, mine(lease, rest))
        for day in range(2, 31):
            await paid(db, lease["id"], 1_000, date(2026, 1, day))
        with statements_run(db) as thirty:
            await get(api, person, mine(lease, rest))

        assert len(thirty) == len(one)
