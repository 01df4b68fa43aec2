"""Staff refund an online payment: Stripe makes the refund, the ledger follows."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from arq.worker import Retry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.integrations.stripe import client as stripe_module
from asset_anchor.models import (
    AuditEvent,
    LedgerEntry,
    OnlinePayment,
    OutboxJob,
    StripeRefund,
)
from asset_anchor.settings import Settings
from tests.payments.conftest import RENT, World, deliver, handle_events
from tests.payments.stripe_support import (
    balanced,
    charge_of,
    count_entries,
    emails,
    job_context,
    parts,
    pay,
    run_jobs,
)
from tests.portfolio.conftest import ok
from tests.support.fake_stripe import FakeStripe

CREATE_REFUND = "stripe.create_refund"


async def ask(
    api: httpx.AsyncClient,
    world: World,
    entry: LedgerEntry | str,
    amount: int,
    reason: str = "Paid twice",
    **extra: Any,
) -> httpx.Response:
    entry_id = entry if isinstance(entry, str) else str(entry.id)
    return await api.post(
        f"/api/v1/entries/{entry_id}/refunds",
        json={"amount": amount, "reason": reason, **extra},
        headers=world.owner.headers,
    )


async def refunds_in_ledger(db: AsyncSession, world: World) -> list[LedgerEntry]:
    rows = await db.scalars(
        select(LedgerEntry).where(
            LedgerEntry.lease_id == uuid.UUID(world.lease["id"]),
            LedgerEntry.entry_type == "refund",
        )
    )
    return list(rows)


async def our_refund(db: AsyncSession, refund_id: str) -> StripeRefund:
    found = await db.scalar(
        select(StripeRefund)
        .where(StripeRefund.id == uuid.UUID(refund_id))
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def a_lost_first_try(
    db: AsyncSession,
    world: World,
    fake: FakeStripe,
    stripe: StripeClient,
    refund_id: str,
    amount: int = 5_000,
) -> None:
    """What the refund job's first try sent Stripe (under the fee setting of
    the time, on), whose answer never came back."""
    intent_id = next(o for o in fake.objects if o.startswith("pi_"))
    payment_id = await db.scalar(
        select(OnlinePayment.id).where(
            OnlinePayment.stripe_payment_intent_id == intent_id
        )
    )
    await stripe.create_refund(
        refund_id=refund_id,
        payment_intent=intent_id,
        amount=amount,
        refund_application_fee=True,
        metadata={
            "refund_id": refund_id,
            "payment_id": str(payment_id),
            "lease_id": world.lease["id"],
        },
    )


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


@pytest.fixture
def ctx(db: AsyncSession, stripe_settings: Settings, fake_stripe: FakeStripe) -> Any:
    return job_context(db, stripe_settings, fake_stripe.client())


class TestAsking:
    async def test_an_online_payment_is_asked_of_stripe_not_recorded(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)

        answer = ok(await ask(stripe_api, world, entry, 40_000), 202)

        assert answer["status"] == "requested"
        assert answer["amount"] == 40_000
        assert answer["payment_entry_id"] == str(entry.id)
        assert answer["requested_by_id"] == str(world.owner.user_id)
        assert await refunds_in_ledger(db, world) == []
        [job] = await db.scalars(
            select(OutboxJob).where(OutboxJob.job_name == CREATE_REFUND)
        )
        assert job.arguments == {"refund_id": answer["id"]}
        audited = await db.scalar(
            select(AuditEvent.action).where(
                AuditEvent.entity_id == uuid.UUID(answer["id"])
            )
        )
        assert audited == "refund.requested"
        shown = ok(
            await stripe_api.get(
                f"/api/v1/refunds/{answer['id']}", headers=world.owner.headers
            )
        )
        assert shown == answer

    async def test_more_than_is_left_is_refused_counting_refunds_not_yet_settled(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        ok(await ask(stripe_api, world, entry, 100_000), 202)

        too_much = await ask(stripe_api, world, entry, 50_001)

        assert too_much.status_code == 409
        assert too_much.json()["code"] == "refund_exceeds_payment"
        assert too_much.json()["refundable_amount"] == 50_000

    async def test_a_retry_with_the_key_answers_the_same_request(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        headers = {**world.owner.headers, "Idempotency-Key": "refund-once"}
        body = {"amount": 10_000, "reason": "Paid twice"}
        url = f"/api/v1/entries/{entry.id}/refunds"

        first = ok(await stripe_api.post(url, json=body, headers=headers), 202)
        again = ok(await stripe_api.post(url, json=body, headers=headers), 202)

        assert again == first
        assert len(list(await db.scalars(select(StripeRefund)))) == 1

    async def test_an_offline_payment_is_still_recorded_at_once_and_needs_a_method(
        self, stripe_api: httpx.AsyncClient, world: World
    ) -> None:
        paid = ok(
            await stripe_api.post(
                f"/api/v1/leases/{world.lease['id']}/payments",
                json={"amount": 20_000, "method": "check"},
                headers=world.owner.headers,
            ),
            201,
        )

        without = await ask(stripe_api, world, paid["id"], 5_000)
        recorded = ok(
            await ask(stripe_api, world, paid["id"], 5_000, method="check"), 201
        )

        assert without.status_code == 422
        assert without.json()["code"] == "refund_method_required"
        assert recorded["entry_type"] == "refund"
        assert recorded["source_entry_id"] == paid["id"]

    async def test_an_online_payment_is_not_reversed_by_hand(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)

        answer = await stripe_api.post(
            f"/api/v1/entries/{entry.id}/reverse",
            json={"reason": "Entered by mistake"},
            headers=world.owner.headers,
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "entry_not_reversible"
        assert await count_entries(db, world, reverses_id=entry.id) == 0

    async def test_another_organizations_refund_is_not_found(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        answer = ok(await ask(stripe_api, world, entry, 1_000), 202)

        seen = await stripe_api.get(
            f"/api/v1/refunds/{answer['id']}", headers=world.tenant.headers
        )

        assert seen.status_code == 404


class TestSending:
    async def test_the_refund_reverses_the_transfer_and_fee_under_our_key(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        asked = ok(await ask(stripe_api, world, entry, 40_000), 202)

        assert await run_jobs(db, ctx, CREATE_REFUND) == 1

        [sent] = fake_stripe.sent("POST", "/v1/refunds")
        form = form_of(sent)
        assert sent.headers["idempotency-key"] == f"refund-{asked['id']}"
        assert form["payment_intent"] == intent
        assert form["amount"] == "40000"
        assert form["reverse_transfer"] == "true"
        assert form["refund_application_fee"] == "true"
        assert form["metadata[refund_id]"] == asked["id"]
        refund = await our_refund(db, asked["id"])
        assert refund.status == "succeeded"
        [recorded] = await refunds_in_ledger(db, world)
        assert recorded.external_id == refund.stripe_refund_id
        assert recorded.source_entry_id == entry.id
        assert recorded.amount == 40_000
        assert recorded.reason == "Paid twice"
        assert len(await emails(db, "refund_receipt")) == 1

    async def test_the_fee_stays_with_the_organization_when_set_so(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        stripe_settings: Settings,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        ok(await ask(stripe_api, world, entry, 40_000), 202)
        keep_fee = stripe_settings.model_copy(
            update={"stripe_refund_application_fee": False}
        )

        await run_jobs(
            db, job_context(db, keep_fee, fake_stripe.client()), CREATE_REFUND
        )

        [sent] = fake_stripe.sent("POST", "/v1/refunds")
        assert form_of(sent)["refund_application_fee"] == "false"
        assert form_of(sent)["reverse_transfer"] == "true"

    async def test_stripe_down_retries_with_the_same_key_and_refunds_once(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(stripe_module, "_backoff", lambda attempt: 0.0)
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        asked = ok(await ask(stripe_api, world, entry, RENT), 202)
        for _ in range(3):  # the client's own two retries, and the first try
            fake_stripe.fail_next(
                "/v1/refunds", FakeStripe.error(503, "api_error", "Try later.")
            )
        [job_id] = await db.scalars(
            select(OutboxJob.id).where(OutboxJob.job_name == CREATE_REFUND)
        )

        with pytest.raises(Retry):
            await run_jobs(db, ctx, CREATE_REFUND)
        waiting = await our_refund(db, asked["id"])
        job = await db.get(OutboxJob, job_id, populate_existing=True)
        assert waiting.status == "requested"
        assert job is not None
        assert job.dead_at is None
        assert job.completed_at is None
        assert "503" in (job.last_error or "")

        await run_jobs(db, ctx, CREATE_REFUND)

        keys = {
            r.headers["idempotency-key"]
            for r in fake_stripe.sent("POST", "/v1/refunds")
        }
        made = [o for o in fake_stripe.objects.values() if o["object"] == "refund"]
        assert keys == {f"refund-{asked['id']}"}
        assert len(made) == 1
        assert (await our_refund(db, asked["id"])).status == "succeeded"
        assert len(await refunds_in_ledger(db, world)) == 1

    async def test_a_setting_changed_between_tries_finds_the_refund_made(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        stripe_settings: Settings,
    ) -> None:
        # The first try reached Stripe and its answer was lost; before the
        # retry, STRIPE_REFUND_APPLICATION_FEE was turned off, so the same key
        # now comes with other parameters and Stripe answers idempotency_error.
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        asked = ok(await ask(stripe_api, world, entry, 5_000), 202)
        await a_lost_first_try(db, world, fake_stripe, stripe_client, asked["id"])
        keep_fee = stripe_settings.model_copy(
            update={"stripe_refund_application_fee": False}
        )

        await run_jobs(
            db, job_context(db, keep_fee, fake_stripe.client()), CREATE_REFUND
        )

        made = [o for o in fake_stripe.objects.values() if o["object"] == "refund"]
        assert len(made) == 1
        assert (await our_refund(db, asked["id"])).status == "succeeded"
        assert len(await refunds_in_ledger(db, world)) == 1

    async def test_a_retry_after_stripes_key_expired_makes_no_second_refund(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        # A dead job replayed days later: the first try made the refund, and
        # Stripe no longer remembers the key.
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        asked = ok(await ask(stripe_api, world, entry, 5_000), 202)
        await a_lost_first_try(db, world, fake_stripe, stripe_client, asked["id"])
        fake_stripe.forget_keys()
        [job] = await db.scalars(
            select(OutboxJob).where(OutboxJob.job_name == CREATE_REFUND)
        )
        job.attempts = 1  # the first try's, whose answer was lost
        await db.flush()

        await run_jobs(db, ctx, CREATE_REFUND)

        made = [o for o in fake_stripe.objects.values() if o["object"] == "refund"]
        assert len(made) == 1
        assert len(fake_stripe.sent("POST", "/v1/refunds")) == 1
        assert (await our_refund(db, asked["id"])).status == "succeeded"
        assert len(await refunds_in_ledger(db, world)) == 1

    async def test_a_refusal_fails_the_request_with_stripes_reason(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        asked = ok(await ask(stripe_api, world, entry, RENT), 202)
        fake_stripe.fail_next(
            "/v1/refunds",
            FakeStripe.error(
                400,
                "invalid_request_error",
                "The charge is disputed and cannot be refunded.",
                "charge_disputed",
            ),
        )

        await run_jobs(db, ctx, CREATE_REFUND)

        shown = ok(
            await stripe_api.get(
                f"/api/v1/refunds/{asked['id']}", headers=world.owner.headers
            )
        )
        [job] = await db.scalars(
            select(OutboxJob)
            .where(OutboxJob.job_name == CREATE_REFUND)
            .execution_options(populate_existing=True)
        )
        assert shown["status"] == "failed"
        assert "cannot be refunded" in shown["failure_message"]
        assert job.completed_at is not None
        assert job.attempts == 1
        assert len(fake_stripe.sent("POST", "/v1/refunds")) == 1
        assert await refunds_in_ledger(db, world) == []
        [told] = await emails(db, "refund_failed_staff")
        assert told.to_address == world.owner.email
        ok(await ask(stripe_api, world, entry, RENT), 202)


class TestStripesWord:
    async def test_the_job_and_the_event_write_one_ledger_row_and_one_receipt(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        asked = ok(await ask(stripe_api, world, entry, 40_000), 202)
        await run_jobs(db, ctx, CREATE_REFUND)
        event = fake_stripe.event("charge.refunded", charge_of(fake_stripe, intent))

        await deliver(stripe_api, fake_stripe, event)
        await deliver(stripe_api, fake_stripe, event)
        await handle_events(db, stripe_client)

        assert len(await refunds_in_ledger(db, world)) == 1
        assert len(await emails(db, "refund_receipt")) == 1
        assert (await our_refund(db, asked["id"])).status == "succeeded"

    async def test_the_event_before_the_jobs_commit_finds_ours_by_metadata(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        asked = ok(await ask(stripe_api, world, entry, 40_000), 202)
        refund = await our_refund(db, asked["id"])
        # The job's call reached Stripe, then its transaction was lost.
        await stripe_client.create_refund(
            refund_id=asked["id"],
            payment_intent=intent,
            amount=40_000,
            refund_application_fee=True,
            metadata={
                "refund_id": asked["id"],
                "payment_id": str(refund.online_payment_id),
                "lease_id": world.lease["id"],
            },
        )
        event = fake_stripe.event("charge.refunded", charge_of(fake_stripe, intent))

        await deliver(stripe_api, fake_stripe, event)
        await handle_events(db, stripe_client)
        await run_jobs(db, ctx, CREATE_REFUND)

        settled = await our_refund(db, asked["id"])
        made = [o for o in fake_stripe.objects.values() if o["object"] == "refund"]
        assert len(made) == 1
        assert settled.stripe_refund_id == made[0]["id"]
        assert settled.status == "succeeded"
        assert len(await refunds_in_ledger(db, world)) == 1
        assert len(list(await db.scalars(select(StripeRefund)))) == 1

    async def test_a_refund_made_in_stripes_dashboard_is_recorded_once(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        made = await stripe_client.create_refund(
            refund_id="made-in-the-dashboard",
            payment_intent=intent,
            amount=25_000,
            refund_application_fee=False,
            metadata={},
        )
        event = fake_stripe.event("charge.refunded", charge_of(fake_stripe, intent))

        await deliver(stripe_api, fake_stripe, event)
        await handle_events(db, stripe_client)
        again = fake_stripe.event("charge.refunded", charge_of(fake_stripe, intent))
        await deliver(stripe_api, fake_stripe, again)
        await handle_events(db, stripe_client)

        [recorded] = await refunds_in_ledger(db, world)
        [ours] = await db.scalars(select(StripeRefund))
        assert recorded.external_id == made["id"]
        assert recorded.amount == 25_000
        assert ours.requested_by_id is None
        assert ours.status == "succeeded"
        assert ours.reason == "Refunded in Stripe's dashboard"
        assert len(await emails(db, "refund_receipt")) == 1
        shown = await parts(stripe_api, world)
        assert shown["balance"] == 25_000
        assert balanced(shown)

    async def test_a_whole_refund_leaves_the_ledger_balanced_and_rent_owed(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        assert balanced(await parts(stripe_api, world))

        ok(await ask(stripe_api, world, entry, RENT), 202)
        await run_jobs(db, ctx, CREATE_REFUND)

        shown = await parts(stripe_api, world)
        assert shown == {"balance": RENT, "open": RENT, "unapplied": 0}
        assert balanced(shown)
        assert await count_entries(db, world, entry_type="refund") == 1
        nothing_left = await ask(stripe_api, world, entry, 1)
        assert nothing_left.json()["refundable_amount"] == 0

    async def test_a_partial_refund_of_an_overpayment_leaves_credit_balanced(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)

        ok(await ask(stripe_api, world, entry, 60_000), 202)
        await run_jobs(db, ctx, CREATE_REFUND)

        shown = await parts(stripe_api, world)
        assert shown == {"balance": 60_000, "open": 60_000, "unapplied": 0}
        assert balanced(shown)
        [receipt] = await emails(db, "refund_receipt")
        assert receipt.context["amount"] == "600.00 USD"
        assert receipt.context["balance"] == "600.00 USD"
        assert receipt.context["payment_id"] == str(entry.id)

    async def test_a_refund_that_fails_after_it_succeeded_is_reversed(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        asked = ok(await ask(stripe_api, world, entry, RENT), 202)
        await run_jobs(db, ctx, CREATE_REFUND)
        refund = await our_refund(db, asked["id"])
        assert refund.stripe_refund_id is not None
        at_stripe = fake_stripe.objects[refund.stripe_refund_id]
        at_stripe["status"] = "failed"
        at_stripe["failure_reason"] = "lost_or_stolen_card"

        await deliver(
            stripe_api,
            fake_stripe,
            fake_stripe.event("charge.refund.updated", at_stripe),
        )
        await handle_events(db, stripe_client)

        failed = await our_refund(db, asked["id"])
        assert failed.status == "failed"
        assert failed.failure_message == "lost_or_stolen_card"
        shown = await parts(stripe_api, world)
        assert shown == {"balance": 0, "open": 0, "unapplied": 0}
        assert balanced(shown)
        assert await count_entries(db, world, entry_type="refund") == 2
