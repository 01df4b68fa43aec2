"""Security deposits: held until move-out, then disposed of to the unit."""

from __future__ import annotations

from typing import Any

import httpx

from tests.billing.conftest import balance, charge, lease_path, pay
from tests.portfolio.conftest import Account, ok

DEPOSIT = 100_000


async def held_lease(
    api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
) -> None:
    """The deposit charged and paid, then something else left owing."""
    await charge(
        api,
        owner,
        lease,
        DEPOSIT,
        "2026-01-01",
        category="deposit",
        description="Deposit",
    )
    ok(await pay(api, owner, lease, DEPOSIT, received_on="2026-01-01"), 201)
    await charge(api, owner, lease, 30_000, "2026-12-01", description="Last water bill")
    ok(await api.post(lease_path(lease, "/end"), json={}, headers=owner.headers))


async def charge_deposit(
    api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
) -> None:
    await charge(
        api,
        owner,
        lease,
        DEPOSIT,
        "2026-01-01",
        category="deposit",
        description="Security deposit",
    )


async def read_deposit(
    api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
) -> dict[str, Any]:
    return ok(  # type: ignore[no-any-return]
        await api.get(lease_path(lease, "/deposit"), headers=owner.headers)
    )


async def dispose(
    api: httpx.AsyncClient, owner: Account, lease: dict[str, Any], **body: Any
) -> httpx.Response:
    return await api.post(
        lease_path(lease, "/deposit/disposition"), json=body, headers=owner.headers
    )


class TestHeld:
    async def test_a_paid_deposit_is_held_not_owed(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await charge(
            api,
            owner,
            lease,
            DEPOSIT,
            "2026-01-01",
            category="deposit",
            description="Deposit",
        )
        ok(await pay(api, owner, lease, DEPOSIT), 201)

        shown = await balance(api, owner, lease)
        deposit = ok(
            await api.get(lease_path(lease, "/deposit"), headers=owner.headers)
        )

        assert shown["balance_amount"] == 0
        assert shown["deposit_held_amount"] == DEPOSIT
        assert deposit["held_amount"] == DEPOSIT
        assert [e["category"] for e in deposit["entries"]] == ["deposit"]


class TestDisposition:
    async def test_deductions_and_arrears_are_paid_and_the_rest_refunded(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await held_lease(api, owner, lease)

        settled = ok(
            await dispose(
                api,
                owner,
                lease,
                deductions=[{"description": "Carpet cleaning", "amount": 20_000}],
                apply_to_balance=True,
                refund_method="check",
                reference="Check 1042",
            )
        )

        after = await balance(api, owner, lease)
        assert settled["held_amount"] == DEPOSIT
        assert settled["deducted_amount"] == 20_000
        assert settled["applied_amount"] == 30_000
        assert settled["refunded_amount"] == 50_000
        assert settled["held_amount"] == (
            settled["deducted_amount"]
            + settled["applied_amount"]
            + settled["refunded_amount"]
        )
        assert after["deposit_held_amount"] == 0
        assert after["balance_amount"] == 0
        assert after["open_charges_amount"] == after["unapplied_amount"] == 0
        kinds = [(e["entry_type"], e["category"]) for e in settled["entries"]]
        assert kinds == [
            ("credit", "deposit_release"),
            ("charge", "deposit_deduction"),
            ("refund", "check"),
        ]

    async def test_without_applying_it_the_arrears_stay_owed(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await held_lease(api, owner, lease)

        settled = ok(
            await dispose(
                api,
                owner,
                lease,
                deductions=[{"description": "Broken blind", "amount": 5_000}],
                apply_to_balance=False,
            )
        )

        after = await balance(api, owner, lease)
        assert settled["refunded_amount"] == 95_000
        assert settled["applied_amount"] == 0
        assert after["deposit_held_amount"] == 0
        assert after["balance_amount"] == 30_000

    async def test_the_tenants_story_of_the_deposit_is_complete(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await held_lease(api, owner, lease)
        await dispose(
            api, owner, lease, deductions=[{"description": "Paint", "amount": 1}]
        )

        deposit = ok(
            await api.get(lease_path(lease, "/deposit"), headers=owner.headers)
        )

        assert deposit["held_amount"] == 0
        assert [e["category"] for e in deposit["entries"]] == [
            "deposit",
            "deposit_release",
            "deposit_deduction",
            "bank_transfer",
        ]

    async def test_it_happens_once(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await held_lease(api, owner, lease)
        ok(await dispose(api, owner, lease))

        again = await dispose(api, owner, lease)

        assert again.status_code == 409
        assert again.json()["code"] == "no_deposit_held"

    async def test_deductions_cannot_exceed_the_deposit(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await held_lease(api, owner, lease)

        answer = await dispose(
            api,
            owner,
            lease,
            deductions=[{"description": "Everything", "amount": DEPOSIT + 1}],
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "deductions_exceed_deposit"
        assert (await balance(api, owner, lease))["deposit_held_amount"] == DEPOSIT

    async def test_not_while_the_tenants_live_there(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await charge(
            api,
            owner,
            lease,
            DEPOSIT,
            "2026-01-01",
            category="deposit",
            description="Deposit",
        )
        ok(await pay(api, owner, lease, DEPOSIT), 201)

        answer = await dispose(api, owner, lease)

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_still_active"
