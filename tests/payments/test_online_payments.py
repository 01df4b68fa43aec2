"""A tenant pays online; Stripe's word, in any order, sets the ledger."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.auth import Principal
from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.models import (
    Email,
    Lease,
    LedgerEntry,
    OnlinePayment,
    Organization,
    StripeEvent,
)
from asset_anchor.payments import service
from asset_anchor.payments.schemas import OnlinePaymentIn
from asset_anchor.settings import Settings
from tests.payments.conftest import RENT, World, deliver, handle_events, start
from tests.portfolio.conftest import make_user, ok
from tests.support.fake_stripe import CONNECT_WEBHOOK_SECRET, FakeStripe

WEBHOOK = "/api/v1/webhooks/stripe"


async def payments_of(db: AsyncSession, world: World) -> list[LedgerEntry]:
    rows = await db.scalars(
        select(LedgerEntry).where(
            LedgerEntry.lease_id == uuid.UUID(world.lease["id"]),
            LedgerEntry.entry_type == "payment",
        )
    )
    return list(rows)


async def receipts(db: AsyncSession) -> int:
    count = await db.scalar(select(func.count()).where(Email.kind == "payment_receipt"))
    return int(count or 0)


async def balance(api: httpx.AsyncClient, world: World) -> int:
    shown = ok(
        await api.get(
            f"/api/v1/me/leases/{world.lease['id']}/balance",
            headers=world.tenant.headers,
        )
    )
    return int(shown["balance_amount"])


class TestStarting:
    async def test_a_destination_charge_is_made_and_its_secret_answered(
        self, stripe_api: httpx.AsyncClient, world: World, fake_stripe: FakeStripe
    ) -> None:
        answer = ok(await start(stripe_api, world), 201)

        [created] = fake_stripe.sent("POST", "/v1/payment_intents")
        intent = fake_stripe.objects[answer["client_secret"].split("_secret")[0]]
        assert answer["status"] == "pending"
        assert answer["amount"] == RENT
        assert created.headers["idempotency-key"] == f"payment-{answer['id']}"
        assert intent["transfer_data"] == {"destination": world.account_id}
        assert intent["application_fee_amount"] == 1_500
        assert intent["metadata"]["payment_id"] == answer["id"]
        assert intent["payment_method_types"] == ["card"]

    async def test_a_retry_with_the_key_answers_the_same_payment(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
    ) -> None:
        first = ok(await start(stripe_api, world, key="retry-me"), 201)

        second = ok(await start(stripe_api, world, key="retry-me"), 201)

        assert second["id"] == first["id"]
        assert second["client_secret"] == first["client_secret"]
        assert len(fake_stripe.sent("POST", "/v1/payment_intents")) == 1
        count = await db.scalar(select(func.count()).select_from(OnlinePayment))
        assert count == 1

    async def test_a_retry_after_a_lost_first_try_makes_no_second_intent(
        self,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        settings: Settings,
    ) -> None:
        caller = Principal(
            user_id=world.tenant.user_id,
            session_id=uuid.uuid4(),
            email=world.tenant.email,
            full_name=world.tenant.full_name,
            email_verified=True,
            is_platform_admin=False,
        )
        body = OnlinePaymentIn(amount=RENT, method="card")
        lease_id = uuid.UUID(world.lease["id"])
        lost = await db.begin_nested()
        first = await service.start_payment(
            db, stripe_client, caller, lease_id, body, idempotency_key="lost-commit"
        )
        first_id, first_secret = first.payment.id, first.client_secret
        await lost.rollback()  # the first try's commit never happened

        again = await service.start_payment(
            db, stripe_client, caller, lease_id, body, idempotency_key="lost-commit"
        )

        keys = {
            r.headers["idempotency-key"]
            for r in fake_stripe.sent("POST", "/v1/payment_intents")
        }
        intents = [
            o for o in fake_stripe.objects.values() if o["object"] == "payment_intent"
        ]
        assert again.payment.id == first_id
        assert keys == {f"payment-{first_id}"}
        assert len(intents) == 1
        assert again.client_secret == first_secret

    async def test_the_same_key_with_another_amount_is_a_conflict(
        self, stripe_api: httpx.AsyncClient, world: World, fake_stripe: FakeStripe
    ) -> None:
        ok(await start(stripe_api, world, 100_000, key="same-key"), 201)

        other = await start(stripe_api, world, 90_000, key="same-key")

        assert other.status_code == 409
        assert other.json()["code"] == "idempotency_key_reused"
        assert len(fake_stripe.sent("POST", "/v1/payment_intents")) == 1

    async def test_an_unconnected_organizations_tenant_gets_a_clear_error(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
    ) -> None:
        organization = await db.get(Organization, world.owner.organization_id)
        assert organization is not None
        organization.stripe_charges_enabled = False
        await db.flush()

        answer = await start(stripe_api, world)

        assert answer.status_code == 409
        assert answer.json()["code"] == "organization_not_connected"
        assert fake_stripe.requests == []

    async def test_without_stripe_keys_payments_are_not_configured(
        self, api: httpx.AsyncClient, world: World
    ) -> None:
        answer = await start(api, world)

        assert answer.status_code == 503
        assert answer.json()["code"] == "payments_not_configured"

    async def test_an_unconfirmed_tenant_cannot_pay(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        settings: Settings,
    ) -> None:
        _, headers = await make_user(db, settings, verified=False)

        answer = await stripe_api.post(
            f"/api/v1/me/leases/{world.lease['id']}/payments",
            json={"amount": RENT, "method": "card"},
            headers=headers,
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "email_not_verified"

    async def test_a_bank_debit_is_offered_in_us_dollars_only(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
    ) -> None:
        lease = await db.get(Lease, uuid.UUID(world.lease["id"]))
        assert lease is not None
        lease.currency = "CAD"
        await db.flush()

        answer = await start(stripe_api, world, method="us_bank_account")

        assert answer.status_code == 422
        assert answer.json()["code"] == "payment_method_unavailable"
        assert fake_stripe.sent("POST", "/v1/payment_intents") == []

    async def test_more_than_is_owed_or_too_little_is_refused(
        self, stripe_api: httpx.AsyncClient, world: World
    ) -> None:
        too_much = await start(stripe_api, world, RENT + 1, key="k1")
        too_little = await start(stripe_api, world, 49, key="k2")

        assert too_much.status_code == 409
        assert too_much.json()["code"] == "amount_exceeds_balance"
        assert too_much.json()["balance_amount"] == RENT
        assert too_little.status_code == 422
        assert too_little.json()["code"] == "amount_too_small"

    async def test_someone_not_on_the_lease_cannot_pay_it(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        settings: Settings,
    ) -> None:
        _, headers = await make_user(db, settings)

        answer = await stripe_api.post(
            f"/api/v1/me/leases/{world.lease['id']}/payments",
            json={"amount": RENT, "method": "card"},
            headers=headers,
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_not_found"


class TestWebhookSignatures:
    async def test_a_signed_event_is_stored_once_and_queued(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        fake_stripe: FakeStripe,
    ) -> None:
        event = fake_stripe.event(
            "customer.created", {"id": "cus_1", "object": "customer"}
        )

        first = ok(await deliver(stripe_api, fake_stripe, event))
        again = ok(await deliver(stripe_api, fake_stripe, event))

        assert first == {"received": True, "duplicate": False}
        assert again == {"received": True, "duplicate": True}
        count = await db.scalar(select(func.count()).select_from(StripeEvent))
        assert count == 1

    async def test_a_payment_intents_client_secret_is_not_kept(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
    ) -> None:
        answer = ok(await start(stripe_api, world), 201)
        intent = str(answer["client_secret"]).split("_secret")[0]
        event = fake_stripe.succeed(intent)
        assert event["data"]["object"]["client_secret"] == answer["client_secret"]

        ok(await deliver(stripe_api, fake_stripe, event))

        kept = await db.get(StripeEvent, event["id"])
        assert kept is not None
        assert kept.payload["data"]["object"]["client_secret"] is None
        assert kept.payload["data"]["object"]["id"] == intent
        assert answer["client_secret"] not in str(kept.payload)

    async def test_the_connect_endpoints_secret_is_accepted_too(
        self, stripe_api: httpx.AsyncClient, fake_stripe: FakeStripe
    ) -> None:
        event = fake_stripe.event(
            "account.updated", {"id": "acct_1", "object": "account"}
        )

        answer = await deliver(stripe_api, fake_stripe, event, CONNECT_WEBHOOK_SECRET)

        assert answer.status_code == 200

    async def test_forged_tampered_stale_or_unsigned_requests_write_nothing(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        fake_stripe: FakeStripe,
    ) -> None:
        event = fake_stripe.event("charge.refunded", {"id": "ch_1"})
        body, headers = fake_stripe.signed(event)
        forged_body, forged = fake_stripe.signed(event, "whsec_someone_elses")
        _, stale = fake_stripe.signed(event, at=fake_stripe.now - 301)
        tampered = body.replace(b"charge.refunded", b"charge.dispute.closed")

        answers = [
            await stripe_api.post(
                "/api/v1/webhooks/stripe", content=forged_body, headers=forged
            ),
            await stripe_api.post(
                "/api/v1/webhooks/stripe", content=tampered, headers=headers
            ),
            await stripe_api.post(
                "/api/v1/webhooks/stripe", content=body, headers=stale
            ),
            await stripe_api.post("/api/v1/webhooks/stripe", content=body),
        ]

        assert [a.status_code for a in answers] == [400, 400, 400, 400]
        assert {a.json()["code"] for a in answers} == {"invalid_signature"}
        count = await db.scalar(select(func.count()).select_from(StripeEvent))
        assert count == 0

    async def test_a_signed_body_that_is_no_event_is_refused(
        self, stripe_api: httpx.AsyncClient, fake_stripe: FakeStripe
    ) -> None:
        body, headers = fake_stripe.signed({"hello": "world"})

        answer = await stripe_api.post(WEBHOOK, content=body, headers=headers)

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_payload"


class TestStripesWord:
    async def started(self, api: httpx.AsyncClient, world: World, **kw: Any) -> str:
        answer = ok(await start(api, world, **kw), 201)
        return str(answer["client_secret"]).split("_secret")[0]

    async def test_a_succeeded_payment_is_recorded_once_however_often_told(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent = await self.started(stripe_api, world)
        event = fake_stripe.succeed(intent)

        await deliver(stripe_api, fake_stripe, event)
        await deliver(stripe_api, fake_stripe, event)
        await handle_events(db, stripe_client)
        late_copy = fake_stripe.event(
            "payment_intent.succeeded", fake_stripe.objects[intent]
        )
        await deliver(stripe_api, fake_stripe, late_copy)
        await handle_events(db, stripe_client)

        [paid] = await payments_of(db, world)
        assert paid.amount == RENT
        assert paid.method == "card"
        assert paid.external_id == intent
        assert await receipts(db) == 1
        assert await balance(stripe_api, world) == 0

    async def test_a_bank_payment_shows_processing_and_the_ledger_waits(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent = await self.started(stripe_api, world, method="us_bank_account")

        await deliver(stripe_api, fake_stripe, fake_stripe.process(intent))
        await handle_events(db, stripe_client)

        listed = ok(
            await stripe_api.get(
                f"/api/v1/me/leases/{world.lease['id']}/payments",
                headers=world.tenant.headers,
            )
        )
        assert [p["status"] for p in listed["items"]] == ["processing"]
        assert listed["next_cursor"] is None
        assert await payments_of(db, world) == []
        assert await balance(stripe_api, world) == RENT

    async def test_a_bank_payment_clearing_is_not_payable_again(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        part = 100_000
        intent = await self.started(
            stripe_api, world, amount=part, key="ach-1", method="us_bank_account"
        )
        await deliver(stripe_api, fake_stripe, fake_stripe.process(intent))
        await handle_events(db, stripe_client)

        shown = ok(
            await stripe_api.get(
                f"/api/v1/me/leases/{world.lease['id']}/balance",
                headers=world.tenant.headers,
            )
        )
        too_much = await start(stripe_api, world, RENT, key="card-1")
        the_rest = await start(stripe_api, world, RENT - part, key="card-2")

        assert shown["balance_amount"] == RENT
        assert shown["clearing_amount"] == part
        assert too_much.status_code == 409
        assert too_much.json()["code"] == "amount_exceeds_balance"
        assert too_much.json()["payable_amount"] == RENT - part
        assert the_rest.status_code == 201, the_rest.text

    async def test_nothing_is_payable_while_clearing_payments_cover_it(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent = await self.started(stripe_api, world, method="us_bank_account")
        await deliver(stripe_api, fake_stripe, fake_stripe.process(intent))
        await handle_events(db, stripe_client)

        again = await start(stripe_api, world, 5_000, key="card-1")
        await deliver(stripe_api, fake_stripe, fake_stripe.succeed(intent))
        await handle_events(db, stripe_client)
        shown = ok(
            await stripe_api.get(
                f"/api/v1/me/leases/{world.lease['id']}/balance",
                headers=world.tenant.headers,
            )
        )

        assert again.status_code == 409
        assert again.json()["code"] == "payment_clearing"
        assert again.json()["clearing_amount"] == RENT
        assert shown["balance_amount"] == 0
        assert shown["clearing_amount"] == 0

    async def test_events_out_of_order_end_in_stripes_final_state(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent = await self.started(stripe_api, world, method="us_bank_account")
        processing = fake_stripe.process(intent)
        succeeded = fake_stripe.succeed(intent)

        await deliver(stripe_api, fake_stripe, succeeded)
        await handle_events(db, stripe_client)
        await deliver(stripe_api, fake_stripe, processing)
        await handle_events(db, stripe_client)

        payment = await db.scalar(select(OnlinePayment))
        assert payment is not None
        assert payment.status == "succeeded"
        assert len(await payments_of(db, world)) == 1

    async def test_a_bank_payment_failing_after_success_is_reversed_and_told(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent = await self.started(stripe_api, world, method="us_bank_account")
        await deliver(stripe_api, fake_stripe, fake_stripe.succeed(intent))
        await handle_events(db, stripe_client)

        await deliver(
            stripe_api, fake_stripe, fake_stripe.fail(intent, "Account closed.")
        )
        await handle_events(db, stripe_client)

        entries = await payments_of(db, world)
        kinds = sorted((e.reverses_id is not None, e.amount) for e in entries)
        assert kinds == [(False, RENT), (True, RENT)]
        reversal = next(e for e in entries if e.reverses_id is not None)
        assert reversal.reason == "The bank payment failed: Account closed."
        assert await balance(stripe_api, world) == RENT
        told = list(
            await db.scalars(
                select(Email.kind).where(
                    Email.kind.in_(("payment_failed", "payment_failed_staff"))
                )
            )
        )
        assert sorted(told) == ["payment_failed", "payment_failed_staff"]

    async def test_an_unknown_event_type_is_stored_and_acknowledged(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        event = fake_stripe.event(
            "invoice.created", {"id": "in_1", "object": "invoice"}
        )

        answer = await deliver(stripe_api, fake_stripe, event)
        outcomes = await handle_events(db, stripe_client)

        assert answer.status_code == 200
        assert outcomes == ["ignored"]
        stored = await db.get(StripeEvent, event["id"])
        assert stored is not None
        assert stored.processed_at is not None
