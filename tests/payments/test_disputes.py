"""A card payment disputed: taken back while open, given back when won, in
whatever order Stripe's events come."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.models import LedgerEntry, OnlinePayment, OutboxJob, StripeDispute
from asset_anchor.settings import Settings
from tests.payments.conftest import RENT, World, deliver, handle_events
from tests.payments.stripe_support import (
    balanced,
    charge_of,
    emails,
    job_context,
    parts,
    pay,
    run_jobs,
)
from tests.portfolio.conftest import ok
from tests.support.fake_stripe import FakeStripe


async def payment_rows(db: AsyncSession, world: World) -> list[tuple[int, bool, str]]:
    """The lease's payment rows as (balance effect, is a reversal, key)."""
    rows = await db.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.lease_id == uuid.UUID(world.lease["id"]),
            LedgerEntry.entry_type.in_(("payment", "refund")),
        )
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    )
    return [
        (row.balance_effect, row.reverses_id is not None, row.external_id or "")
        for row in rows
    ]


async def deliver_all(
    api: httpx.AsyncClient,
    db: AsyncSession,
    fake: FakeStripe,
    stripe: StripeClient,
    *events: dict[str, Any],
) -> None:
    for event in events:
        await deliver(api, fake, event)
        await handle_events(db, stripe)


class TestOpened:
    async def test_the_payment_is_reversed_and_everyone_told_once(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]

        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened, opened)
        again = fake_stripe.event(
            "charge.dispute.created", fake_stripe.objects[dispute]
        )
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, again)

        assert await payment_rows(db, world) == [
            (-RENT, False, intent),
            (RENT, True, f"{dispute}:opened"),
        ]
        reversal = await db.scalar(
            select(LedgerEntry).where(LedgerEntry.external_id == f"{dispute}:opened")
        )
        assert reversal is not None
        assert reversal.reason == "Disputed by the cardholder (fraudulent)"
        shown = await parts(stripe_api, world)
        assert shown == {"balance": RENT, "open": RENT, "unapplied": 0}
        assert balanced(shown)
        [tenant] = await emails(db, "payment_disputed")
        [staff] = await emails(db, "payment_disputed_staff")
        assert tenant.to_address == world.tenant.email
        assert staff.to_address == world.owner.email
        assert staff.context["reason"] == "fraudulent"

    async def test_a_disputed_payment_cannot_be_refunded(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened)

        refused = await stripe_api.post(
            f"/api/v1/entries/{entry.id}/refunds",
            json={"amount": 1_000, "reason": "Goodwill"},
            headers=world.owner.headers,
        )

        assert refused.status_code == 409
        assert refused.json()["code"] == "entry_not_reversible"

    async def test_an_inquiry_moves_no_money(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        inquiry = fake_stripe.dispute(
            charge_of(fake_stripe, intent)["id"], status="warning_needs_response"
        )

        await deliver_all(stripe_api, db, fake_stripe, stripe_client, inquiry)

        assert await payment_rows(db, world) == [(-RENT, False, intent)]
        assert await emails(db, "payment_disputed") == []


class TestClosed:
    async def test_a_dispute_won_records_the_payment_again(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, first = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened)

        won = fake_stripe.close_dispute(dispute, "won")
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, won, won)

        assert await payment_rows(db, world) == [
            (-RENT, False, intent),
            (RENT, True, f"{dispute}:opened"),
            (-RENT, False, f"{dispute}:won"),
        ]
        shown = await parts(stripe_api, world)
        assert shown == {"balance": 0, "open": 0, "unapplied": 0}
        assert balanced(shown)
        payment = await db.scalar(
            select(OnlinePayment).execution_options(populate_existing=True)
        )
        assert payment is not None
        again = await db.get(LedgerEntry, payment.ledger_entry_id)
        assert again is not None
        assert again.external_id == f"{dispute}:won"
        refundable = await stripe_api.post(
            f"/api/v1/entries/{again.id}/refunds",
            json={"amount": 1_000, "reason": "Goodwill"},
            headers=world.owner.headers,
        )
        assert refundable.status_code == 202
        assert first.id != again.id

    async def test_a_dispute_lost_leaves_the_payment_reversed(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        lost = fake_stripe.close_dispute(dispute, "lost")

        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened, lost)

        assert await payment_rows(db, world) == [
            (-RENT, False, intent),
            (RENT, True, f"{dispute}:opened"),
        ]
        shown = await parts(stripe_api, world)
        assert shown == {"balance": RENT, "open": RENT, "unapplied": 0}
        assert balanced(shown)


class TestOutOfOrder:
    async def test_won_handled_before_created_ends_as_in_order(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        won = fake_stripe.close_dispute(dispute, "won")

        await deliver_all(stripe_api, db, fake_stripe, stripe_client, won, opened)

        assert await payment_rows(db, world) == [
            (-RENT, False, intent),
            (RENT, True, f"{dispute}:opened"),
            (-RENT, False, f"{dispute}:won"),
        ]
        shown = await parts(stripe_api, world)
        assert shown == {"balance": 0, "open": 0, "unapplied": 0}
        assert balanced(shown)
        # Won by the time we heard of it: nothing is owed again, nobody told.
        assert await emails(db, "payment_disputed") == []

    async def test_lost_handled_before_created_ends_as_in_order(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        lost = fake_stripe.close_dispute(dispute, "lost")

        await deliver_all(stripe_api, db, fake_stripe, stripe_client, lost, opened)

        assert await payment_rows(db, world) == [
            (-RENT, False, intent),
            (RENT, True, f"{dispute}:opened"),
        ]
        assert balanced(await parts(stripe_api, world))
        assert len(await emails(db, "payment_disputed")) == 1

    async def test_a_dispute_before_the_payments_success_catches_it_up(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        answer = ok(
            await stripe_api.post(
                f"/api/v1/me/leases/{world.lease['id']}/payments",
                json={"amount": RENT, "method": "card"},
                headers={**world.tenant.headers, "Idempotency-Key": "late"},
            ),
            201,
        )
        intent = str(answer["client_secret"]).split("_secret")[0]
        succeeded = fake_stripe.succeed(intent)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]

        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened, succeeded)

        assert await payment_rows(db, world) == [
            (-RENT, False, intent),
            (RENT, True, f"{dispute}:opened"),
        ]
        assert balanced(await parts(stripe_api, world))


class TestPartlyRefunded:
    @pytest.fixture
    def ctx(
        self, db: AsyncSession, stripe_settings: Settings, fake_stripe: FakeStripe
    ) -> Any:
        return job_context(db, stripe_settings, fake_stripe.client())

    async def test_only_the_disputed_part_is_taken_back_and_given_back(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        ok(
            await stripe_api.post(
                f"/api/v1/entries/{entry.id}/refunds",
                json={"amount": 50_000, "reason": "Rent reduced"},
                headers=world.owner.headers,
            ),
            202,
        )
        await run_jobs(db, ctx, "stripe.create_refund")
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        fake_stripe.objects[dispute]["amount"] = RENT - 50_000

        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened)

        shown = await parts(stripe_api, world)
        assert shown == {"balance": RENT, "open": RENT, "unapplied": 0}
        assert balanced(shown)

        won = fake_stripe.close_dispute(dispute, "won")
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, won)

        shown = await parts(stripe_api, world)
        assert shown == {"balance": 50_000, "open": 50_000, "unapplied": 0}
        assert balanced(shown)


DISPUTE_MONEY = "stripe.dispute_money"


@pytest.fixture
def ctx(db: AsyncSession, stripe_settings: Settings, fake_stripe: FakeStripe) -> Any:
    return job_context(db, stripe_settings, fake_stripe.client())


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


def transfer_of(fake: FakeStripe, intent: str) -> dict[str, Any]:
    """The transfer that paid the charge out to the organization's account."""
    return fake.objects[charge_of(fake, intent)["transfer"]]


def transfers_out(fake: FakeStripe, intent: str) -> list[dict[str, Any]]:
    """Transfers made after the charge's own, from its funds."""
    charge = charge_of(fake, intent)
    return [
        one
        for one in fake.objects.values()
        if one["object"] == "transfer"
        and one["source_transaction"] == charge["id"]
        and one["id"] != charge["transfer"]
    ]


class TestTheMoney:
    """Stripe takes a disputed destination charge from the platform; the
    worker takes it back from the organization, and pays it again if won."""

    async def test_an_open_dispute_takes_the_money_back_from_the_organization_once(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened, opened)

        assert await run_jobs(db, ctx, DISPUTE_MONEY) == 1
        [sent] = fake_stripe.sent("POST", "/v1/transfers/")
        row = await db.scalar(
            select(StripeDispute).execution_options(populate_existing=True)
        )
        assert row is not None
        transfer = transfer_of(fake_stripe, intent)
        assert sent.url.path == f"/v1/transfers/{transfer['id']}/reversals"
        assert sent.headers["idempotency-key"] == f"dispute-{dispute}-reversal"
        assert form_of(sent)["amount"] == str(RENT)
        assert form_of(sent)["refund_application_fee"] == "true"
        assert transfer_of(fake_stripe, intent)["amount_reversed"] == RENT
        assert row.transfer_reversal_id is not None
        assert row.reversed_amount == RENT
        assert row.status == "needs_response"

        # The job again (delivered twice by the queue): nothing more is asked.
        [job_id] = await db.scalars(
            select(OutboxJob.id).where(OutboxJob.job_name == DISPUTE_MONEY)
        )
        job = await db.get(OutboxJob, job_id, populate_existing=True)
        assert job is not None
        job.completed_at = None
        await db.flush()
        await run_jobs(db, ctx, DISPUTE_MONEY)
        assert len(fake_stripe.sent("POST", "/v1/transfers/")) == 1
        assert transfer_of(fake_stripe, intent)["amount_reversed"] == RENT

    async def test_a_won_dispute_pays_the_organization_again_once(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened)
        await run_jobs(db, ctx, DISPUTE_MONEY)

        won = fake_stripe.close_dispute(dispute, "won")
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, won, won)
        assert await run_jobs(db, ctx, DISPUTE_MONEY) == 1
        await run_jobs(db, ctx, DISPUTE_MONEY)

        [again] = transfers_out(fake_stripe, intent)
        [sent] = [
            r
            for r in fake_stripe.sent("POST", "/v1/transfers")
            if r.url.path == "/v1/transfers"
        ]
        assert again["amount"] == RENT
        assert again["destination"] == world.account_id
        assert sent.headers["idempotency-key"] == f"dispute-{dispute}-return"
        row = await db.scalar(
            select(StripeDispute).execution_options(populate_existing=True)
        )
        assert row is not None
        assert row.return_transfer_id == again["id"]
        assert row.status == "won"

    async def test_a_lost_dispute_leaves_the_money_taken_back(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened)
        await run_jobs(db, ctx, DISPUTE_MONEY)

        lost = fake_stripe.close_dispute(dispute, "lost")
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, lost)
        assert await run_jobs(db, ctx, DISPUTE_MONEY) == 1

        assert transfer_of(fake_stripe, intent)["amount_reversed"] == RENT
        assert transfers_out(fake_stripe, intent) == []

    async def test_won_before_the_job_ran_moves_nothing(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        dispute = opened["data"]["object"]["id"]
        won = fake_stripe.close_dispute(dispute, "won")
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened, won)

        await run_jobs(db, ctx, DISPUTE_MONEY)

        assert transfer_of(fake_stripe, intent)["amount_reversed"] == 0
        assert transfers_out(fake_stripe, intent) == []

    async def test_an_inquiry_moves_no_money(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        inquiry = fake_stripe.dispute(
            charge_of(fake_stripe, intent)["id"], status="warning_needs_response"
        )
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, inquiry)

        assert await run_jobs(db, ctx, DISPUTE_MONEY) == 0
        assert fake_stripe.sent("POST", "/v1/transfers") == []

    async def test_stripe_refusing_the_reversal_leaves_a_dead_job_to_replay(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened)
        fake_stripe.fail_next(
            "/v1/transfers/",
            FakeStripe.error(400, "invalid_request_error", "Transfer not reversible."),
            method="POST",
        )

        await run_jobs(db, ctx, DISPUTE_MONEY)

        [job] = await db.scalars(
            select(OutboxJob)
            .where(OutboxJob.job_name == DISPUTE_MONEY)
            .execution_options(populate_existing=True)
        )
        row = await db.scalar(select(StripeDispute))
        assert job.dead_at is not None
        assert "not reversible" in (job.last_error or "")
        assert row is not None
        assert row.transfer_reversal_id is None
        assert transfer_of(fake_stripe, intent)["amount_reversed"] == 0

    async def test_a_replay_after_stripes_key_expired_reverses_once(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent, _ = await pay(stripe_api, db, world, fake_stripe, stripe_client)
        opened = fake_stripe.dispute(charge_of(fake_stripe, intent)["id"])
        await deliver_all(stripe_api, db, fake_stripe, stripe_client, opened)
        await run_jobs(db, ctx, DISPUTE_MONEY)
        # The first try's answer is lost (its row is as before it), and the
        # job is replayed after Stripe forgot its key.
        row = await db.scalar(select(StripeDispute))
        assert row is not None
        made = row.transfer_reversal_id
        row.transfer_reversal_id = None
        row.reversed_amount = 0
        [job] = await db.scalars(
            select(OutboxJob).where(OutboxJob.job_name == DISPUTE_MONEY)
        )
        job.completed_at = None
        await db.flush()
        fake_stripe.forget_keys()

        await run_jobs(db, ctx, DISPUTE_MONEY)

        await db.refresh(row)
        assert len(fake_stripe.sent("POST", "/v1/transfers/")) == 1
        assert transfer_of(fake_stripe, intent)["amount_reversed"] == RENT
        assert row.transfer_reversal_id == made
        assert row.reversed_amount == RENT
