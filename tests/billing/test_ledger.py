"""The ledger through the API: allocation, reversals, refunds, waivers, audit."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import (
    AuditEvent,
    Email,
    Lease,
    LedgerEntry,
    OrganizationMembership,
)
from asset_anchor.settings import Settings
from tests.billing.conftest import (
    allocated_to,
    balance,
    charge,
    entry,
    entry_count,
    lease_path,
    pay,
)
from tests.leases.factories import draft_lease
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    make_landlord,
    make_user,
    ok,
)


async def late_fee(db: AsyncSession, lease: dict[str, Any], amount: int) -> str:
    """A late fee as the schedule writes one (no API makes them by hand)."""
    fee = LedgerEntry(
        id=uuid.uuid4(),
        organization_id=uuid.UUID(str(await org_of(db, lease))),
        lease_id=uuid.UUID(lease["id"]),
        entry_type="charge",
        category="late_fee",
        amount=amount,
        currency="USD",
        effective_on=date(2026, 1, 6),
        fee_key="once",
        description="Late fee for January rent",
    )
    db.add(fee)
    await db.flush()
    return str(fee.id)


async def org_of(db: AsyncSession, lease: dict[str, Any]) -> uuid.UUID:
    found = await db.get(Lease, uuid.UUID(lease["id"]))
    assert found is not None
    return found.organization_id


class TestAllocation:
    async def test_a_payment_pays_the_oldest_charge_first(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        later = await charge(api, owner, lease, 5_000, "2026-03-01")
        older = await charge(api, owner, lease, 3_000, "2026-01-15")

        paid = ok(await pay(api, owner, lease, 4_000), 201)

        assert (await entry(api, owner, older["id"]))["open_amount"] == 0
        assert (await entry(api, owner, later["id"]))["open_amount"] == 4_000
        assert paid["unapplied_amount"] == 0
        assert (await balance(api, owner, lease))["balance_amount"] == 4_000

    async def test_an_overpayment_stays_as_credit_and_pays_the_next_charge(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await charge(api, owner, lease, 3_000, "2026-01-15")
        paid = ok(await pay(api, owner, lease, 5_000), 201)
        before = await balance(api, owner, lease)

        later = await charge(api, owner, lease, 1_500, "2026-02-15")

        after = await balance(api, owner, lease)
        assert paid["unapplied_amount"] == 2_000
        assert before["balance_amount"] == -2_000
        assert before["unapplied_amount"] == 2_000
        assert later["open_amount"] == 0
        assert (await entry(api, owner, paid["id"]))["unapplied_amount"] == 500
        assert after == {**after, "balance_amount": -500, "unapplied_amount": 500}

    async def test_the_balance_is_what_is_open_less_what_is_unapplied(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        await charge(api, owner, lease, 7_000, "2026-01-01")
        await charge(api, owner, lease, 2_500, "2026-02-01")
        ok(await pay(api, owner, lease, 8_000), 201)
        ok(
            await api.post(
                lease_path(lease, "/credits"),
                json={"amount": 2_000, "description": "Goodwill"},
                headers=owner.headers,
            ),
            201,
        )

        shown = await balance(api, owner, lease)

        assert shown["balance_amount"] == 7_000 + 2_500 - 8_000 - 2_000
        assert shown["balance_amount"] == (
            shown["open_charges_amount"] - shown["unapplied_amount"]
        )


class TestReversals:
    async def test_a_reversed_payment_reopens_what_it_paid(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        owed = await charge(api, owner, lease, 6_000, "2026-01-01")
        paid = ok(await pay(api, owner, lease, 6_000), 201)

        reversal = ok(
            await api.post(
                f"/api/v1/entries/{paid['id']}/reverse",
                json={"reason": "The check bounced"},
                headers=owner.headers,
            ),
            201,
        )

        assert reversal["reverses_id"] == paid["id"]
        assert reversal["balance_effect"] == 6_000
        assert reversal["reason"] == "The check bounced"
        assert (await entry(api, owner, owed["id"]))["open_amount"] == 6_000
        assert (await entry(api, owner, paid["id"]))["reversed_by_id"] == reversal["id"]
        assert await allocated_to(db, owed["id"]) == 0
        assert (await balance(api, owner, lease))["balance_amount"] == 6_000

    async def test_a_voided_charge_frees_its_payment_for_the_next_charge(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        mistake = await charge(api, owner, lease, 4_000, "2026-01-01")
        ok(await pay(api, owner, lease, 4_000), 201)
        real = await charge(api, owner, lease, 4_000, "2026-02-01")

        ok(
            await api.post(
                f"/api/v1/entries/{mistake['id']}/reverse",
                json={"reason": "Charged to the wrong lease"},
                headers=owner.headers,
            ),
            201,
        )

        assert (await entry(api, owner, mistake["id"]))["open_amount"] == 0
        assert (await entry(api, owner, real["id"]))["open_amount"] == 0
        assert (await balance(api, owner, lease))["balance_amount"] == 0

    async def test_an_entry_is_reversed_once_and_a_reversal_never(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        owed = await charge(api, owner, lease, 4_000, "2026-01-01")
        path = f"/api/v1/entries/{owed['id']}/reverse"
        first = ok(
            await api.post(path, json={"reason": "Mistake"}, headers=owner.headers),
            201,
        )

        again = await api.post(path, json={"reason": "Twice"}, headers=owner.headers)
        of_reversal = await api.post(
            f"/api/v1/entries/{first['id']}/reverse",
            json={"reason": "Undo the undo"},
            headers=owner.headers,
        )

        assert again.status_code == 409
        assert again.json()["code"] == "entry_already_reversed"
        assert of_reversal.status_code == 409
        assert of_reversal.json()["code"] == "entry_not_reversible"

    async def test_rows_are_never_changed_only_added(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        owed = await charge(api, owner, lease, 4_000, "2026-01-01")
        before = await db.get(LedgerEntry, uuid.UUID(owed["id"]))
        assert before is not None
        snapshot = (before.amount, before.effective_on, before.description)

        await api.post(
            f"/api/v1/entries/{owed['id']}/reverse",
            json={"reason": "Mistake"},
            headers=owner.headers,
        )

        await db.refresh(before)
        assert (before.amount, before.effective_on, before.description) == snapshot
        assert await entry_count(db, lease) == 2


class TestWaivers:
    async def test_waiving_a_late_fee_credits_what_is_left_of_it(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        fee_id = await late_fee(db, lease, 5_000)

        waiver = ok(
            await api.post(
                f"/api/v1/entries/{fee_id}/waive",
                json={"reason": "First time late"},
                headers=owner.headers,
            ),
            201,
        )

        assert waiver["entry_type"] == "credit"
        assert waiver["category"] == "waiver"
        assert waiver["source_entry_id"] == fee_id
        assert (await entry(api, owner, fee_id))["open_amount"] == 0
        assert (await balance(api, owner, lease))["balance_amount"] == 0

    async def test_a_waived_fee_is_not_waived_twice(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        fee_id = await late_fee(db, lease, 5_000)
        path = f"/api/v1/entries/{fee_id}/waive"
        await api.post(path, json={"reason": "Once"}, headers=owner.headers)

        again = await api.post(path, json={"reason": "Twice"}, headers=owner.headers)

        assert again.status_code == 409
        assert again.json()["code"] == "charge_not_waivable"

    async def test_only_a_late_fee_is_waived(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        owed = await charge(api, owner, lease, 4_000, "2026-01-01")

        answer = await api.post(
            f"/api/v1/entries/{owed['id']}/waive",
            json={"reason": "Please"},
            headers=owner.headers,
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "charge_not_waivable"


class TestRefunds:
    async def test_a_refund_reopens_what_the_refunded_money_paid(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        owed = await charge(api, owner, lease, 6_000, "2026-01-01")
        paid = ok(await pay(api, owner, lease, 6_000), 201)

        refund = ok(
            await api.post(
                f"/api/v1/entries/{paid['id']}/refunds",
                json={"amount": 2_000, "method": "check", "reason": "Overcharged"},
                headers=owner.headers,
            ),
            201,
        )

        assert refund["entry_type"] == "refund"
        assert refund["source_entry_id"] == paid["id"]
        assert (await entry(api, owner, owed["id"]))["open_amount"] == 2_000
        assert (await balance(api, owner, lease))["balance_amount"] == 2_000

    async def test_a_refund_cannot_exceed_the_payment(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        paid = ok(await pay(api, owner, lease, 6_000), 201)
        path = f"/api/v1/entries/{paid['id']}/refunds"
        ok(
            await api.post(
                path,
                json={"amount": 4_000, "method": "check", "reason": "Part"},
                headers=owner.headers,
            ),
            201,
        )

        answer = await api.post(
            path,
            json={"amount": 2_001, "method": "check", "reason": "Too much"},
            headers=owner.headers,
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "refund_exceeds_payment"
        assert answer.json()["refundable_amount"] == 2_000

    async def test_a_refunded_payment_is_reversed_only_after_its_refunds(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        paid = ok(await pay(api, owner, lease, 6_000), 201)
        await api.post(
            f"/api/v1/entries/{paid['id']}/refunds",
            json={"amount": 1_000, "method": "cash", "reason": "Part"},
            headers=owner.headers,
        )

        answer = await api.post(
            f"/api/v1/entries/{paid['id']}/reverse",
            json={"reason": "Bounced"},
            headers=owner.headers,
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "entry_has_refunds"


class TestIdempotency:
    async def test_the_same_key_and_body_record_one_payment_and_answer_alike(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        first = await pay(api, owner, lease, 6_000, key="pay-jan-2026")
        second = await pay(api, owner, lease, 6_000, key="pay-jan-2026")

        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert await entry_count(db, lease) == 1

    async def test_the_same_key_with_another_body_is_a_conflict(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        ok(await pay(api, owner, lease, 6_000, key="pay-feb-2026"), 201)

        other = await pay(api, owner, lease, 6_500, key="pay-feb-2026")

        assert other.status_code == 409
        assert other.json()["code"] == "idempotency_key_reused"
        assert await entry_count(db, lease) == 1

    async def test_a_failed_request_leaves_its_key_free(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        settings: Settings,
    ) -> None:
        prop = await create_property(api, owner)
        unit = await create_unit(api, owner, prop["id"])
        draft = await draft_lease(api, owner, unit["id"])

        refused = await pay(api, owner, draft, 6_000, key="pay-draft")
        ok(await api.post(lease_path(draft, "/activate"), headers=owner.headers))
        accepted = await pay(api, owner, draft, 6_000, key="pay-draft")

        assert refused.status_code == 409
        assert refused.json()["code"] == "lease_not_in_force"
        assert accepted.status_code == 201


class TestWhoMayWrite:
    async def test_an_unconfirmed_staff_member_cannot_move_money(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
        settings: Settings,
    ) -> None:

        user, headers = await make_user(db, settings, verified=False)
        db.add(
            OrganizationMembership(
                id=uuid.uuid4(),
                organization_id=owner.organization_id,
                user_id=user.id,
                role="manager",
            )
        )
        await db.flush()

        answer = await api.post(
            lease_path(lease, "/payments"),
            json={"amount": 1_000, "method": "cash"},
            headers=headers,
        )
        read = await api.get(lease_path(lease, "/balance"), headers=headers)

        assert answer.status_code == 403
        assert answer.json()["code"] == "email_not_verified"
        assert read.status_code == 200

    async def test_another_organization_sees_no_entry(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
        settings: Settings,
    ) -> None:
        owed = await charge(api, owner, lease, 4_000, "2026-01-01")
        stranger = await make_landlord(db, settings)

        seen = await api.get(f"/api/v1/entries/{owed['id']}", headers=stranger.headers)
        voided = await api.post(
            f"/api/v1/entries/{owed['id']}/reverse",
            json={"reason": "Mine now"},
            headers=stranger.headers,
        )
        money = await api.get(lease_path(lease, "/balance"), headers=stranger.headers)

        assert seen.status_code == voided.status_code == money.status_code == 404
        assert await entry_count(db, lease) == 1


class TestRecords:
    async def test_a_payment_is_audited_with_its_amount_and_the_request(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        paid = ok(await pay(api, owner, lease, 6_000), 201)

        event = await db.scalar(
            select(AuditEvent).where(AuditEvent.entity_id == uuid.UUID(paid["id"]))
        )

        assert event is not None
        assert event.action == "ledger.payment_recorded"
        assert event.actor_id == owner.user_id
        assert event.changes["amount"] == {"from": None, "to": 6_000}
        assert event.changes["method"] == {"from": None, "to": "check"}
        assert event.request_id is not None

    async def test_each_tenant_gets_one_receipt_per_payment(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        paid = ok(await pay(api, owner, lease, 6_000, key="receipt-once"), 201)
        await pay(api, owner, lease, 6_000, key="receipt-once")

        receipts = list(
            await db.scalars(select(Email).where(Email.kind == "payment_receipt"))
        )

        assert [r.to_address for r in receipts] == ["dana@example.test"]
        assert receipts[0].context["payment_id"] == paid["id"]
        assert receipts[0].context["amount"] == "60.00 USD"

    async def test_a_draft_lease_takes_no_money(
        self, api: httpx.AsyncClient, owner: Account
    ) -> None:
        prop = await create_property(api, owner)
        unit = await create_unit(api, owner, prop["id"])
        draft = await draft_lease(api, owner, unit["id"])

        answer = await charge_raw(api, owner, draft)

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_in_force"


async def charge_raw(
    api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
) -> httpx.Response:
    return await api.post(
        lease_path(lease, "/charges"),
        json={"amount": 100, "due_on": "2026-01-01", "description": "Fob"},
        headers=owner.headers,
    )
