"""Reconciliation repairs what Stripe's webhooks missed, exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.kit.time import utc_now
from asset_anchor.models import (
    LedgerEntry,
    OnlinePayment,
    Organization,
    OutboxJob,
    StripeCheckpoint,
    StripeEvent,
)
from asset_anchor.payments import reconcile
from asset_anchor.payments.tasks import reconcile_stripe
from asset_anchor.settings import Settings
from tests.payments.conftest import RENT, World, deliver, handle_events, start
from tests.payments.stripe_support import emails, job_context, parts
from tests.portfolio.conftest import ok
from tests.support.fake_stripe import FakeStripe


@pytest.fixture
def ctx(db: AsyncSession, stripe_settings: Settings, fake_stripe: FakeStripe) -> Any:
    return job_context(db, stripe_settings, fake_stripe.client())


def later() -> datetime:
    """An instant at which what the test just did is old enough to repair."""
    return utc_now() + timedelta(minutes=10)


def an_hour_ago() -> datetime:
    return utc_now() - timedelta(hours=1)


async def started(api: httpx.AsyncClient, world: World, **kw: Any) -> str:
    answer = ok(await start(api, world, **kw), 201)
    return str(answer["client_secret"]).split("_secret")[0]


async def payments_of(db: AsyncSession, world: World) -> list[LedgerEntry]:
    rows = await db.scalars(
        select(LedgerEntry).where(
            LedgerEntry.lease_id == uuid.UUID(world.lease["id"]),
            LedgerEntry.entry_type == "payment",
        )
    )
    return list(rows)


class TestMissedWebhooks:
    async def test_a_missed_success_is_repaired_exactly_once(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent = await started(stripe_api, world)
        missed = fake_stripe.succeed(intent)  # never delivered

        first = await reconcile.reconcile(
            ctx, stripe_client, since=an_hour_ago(), now=later()
        )
        await handle_events(db, stripe_client)
        second = await reconcile.reconcile(
            ctx, stripe_client, since=an_hour_ago(), now=later()
        )
        await handle_events(db, stripe_client)

        assert first.events_stored == [(missed["id"], "payment_intent.succeeded")]
        assert [outcome for _, outcome in first.payments_repaired] == [
            "pending -> succeeded, recorded in the ledger"
        ]
        assert second.events_stored == []
        assert second.payments_repaired == []
        [paid] = await payments_of(db, world)
        assert paid.external_id == intent
        assert len(await emails(db, "payment_receipt")) == 1
        stored = await db.get(StripeEvent, missed["id"])
        assert stored is not None
        assert stored.source == "reconciliation"
        assert stored.processed_at is not None
        assert (await parts(stripe_api, world))["balance"] == 0

    async def test_a_missed_refund_event_is_stored_and_handled(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent = await started(stripe_api, world)
        await deliver(stripe_api, fake_stripe, fake_stripe.succeed(intent))
        await handle_events(db, stripe_client)
        await stripe_client.create_refund(
            refund_id="dashboard",
            payment_intent=intent,
            amount=RENT,
            refund_application_fee=False,
            metadata={},
        )
        charge = fake_stripe.objects[fake_stripe.objects[intent]["latest_charge"]]
        fake_stripe.event("charge.refunded", charge)  # never delivered

        report = await reconcile.reconcile(
            ctx, stripe_client, since=an_hour_ago(), now=later()
        )
        outcomes = await handle_events(db, stripe_client)

        assert [kind for _, kind in report.events_stored] == ["charge.refunded"]
        assert len(outcomes) == 1
        assert "recorded in the ledger" in outcomes[0]
        assert (await parts(stripe_api, world))["balance"] == RENT

    async def test_events_the_webhook_brought_change_nothing(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent = await started(stripe_api, world)
        await deliver(stripe_api, fake_stripe, fake_stripe.succeed(intent))
        await handle_events(db, stripe_client)
        jobs_before = await db.scalar(select(func.count()).select_from(OutboxJob))

        report = await reconcile.reconcile(
            ctx, stripe_client, since=an_hour_ago(), now=later()
        )

        assert report.events_seen == 1
        assert report.events_stored == []
        assert report.payments_repaired == []
        jobs_after = await db.scalar(select(func.count()).select_from(OutboxJob))
        assert jobs_after == jobs_before

    async def test_a_young_event_is_left_to_the_webhook(
        self,
        db: AsyncSession,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        fake_stripe.event("customer.created", {"id": "cus_1", "object": "customer"})

        report = await reconcile.reconcile(ctx, stripe_client, since=an_hour_ago())

        assert report.events_seen == 1
        assert report.events_stored == []

    async def test_every_page_of_events_is_read(
        self,
        db: AsyncSession,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)
        made = [
            fake_stripe.event("customer.created", {"id": f"cus_{n}"})["id"]
            for n in range(5)
        ]

        report = await reconcile.reconcile(
            ctx, stripe_client, since=an_hour_ago(), now=later()
        )

        assert sorted(event_id for event_id, _ in report.events_stored) == sorted(made)
        pages = fake_stripe.sent("GET", "/v1/events")
        assert len(pages) == 3
        assert pages[1].url.params["starting_after"] == made[-2]


class TestOpenPayments:
    async def test_a_bank_payment_whose_failure_was_missed_is_repaired(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        intent = await started(stripe_api, world, method="us_bank_account")
        await deliver(stripe_api, fake_stripe, fake_stripe.process(intent))
        await handle_events(db, stripe_client)
        fake_stripe.fail(intent, "Account closed.")
        fake_stripe.events.clear()  # beyond what Stripe still lists

        report = await reconcile.reconcile(
            ctx, stripe_client, since=an_hour_ago(), now=later()
        )

        payment = await db.scalar(
            select(OnlinePayment).execution_options(populate_existing=True)
        )
        assert payment is not None
        assert payment.status == "failed"
        assert [outcome for _, outcome in report.payments_repaired] == [
            "processing -> failed, tenants and staff told"
        ]

    async def test_an_unchanged_payment_is_checked_and_left_alone(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        await started(stripe_api, world)

        report = await reconcile.reconcile(
            ctx, stripe_client, since=an_hour_ago(), now=later()
        )

        assert report.payments_checked == 1
        assert report.payments_repaired == []

    async def test_a_payment_changed_moments_ago_is_not_checked(
        self,
        stripe_api: httpx.AsyncClient,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        await started(stripe_api, world)

        report = await reconcile.reconcile(ctx, stripe_client, since=an_hour_ago())

        assert report.payments_checked == 0
        assert fake_stripe.sent("GET", "/v1/payment_intents/") == []


class TestWaitingAccounts:
    async def waiting_account(
        self, db: AsyncSession, world: World, fake: FakeStripe
    ) -> tuple[Organization, str]:
        """The organization's owner finished Stripe's form, but the
        ``account.updated`` saying so never came."""
        account = fake._create_account({"type": "express", "country": "US"})
        organization = await db.get(Organization, world.owner.organization_id)
        assert organization is not None
        organization.stripe_account_id = account["id"]
        organization.stripe_charges_enabled = False
        organization.stripe_payouts_enabled = False
        await db.flush()
        account.update(charges_enabled=True, payouts_enabled=True)
        return organization, str(account["id"])

    async def test_an_account_whose_update_was_missed_is_repaired_once(
        self,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        organization, account_id = await self.waiting_account(db, world, fake_stripe)

        first = await reconcile.reconcile(ctx, stripe_client, now=later())
        second = await reconcile.reconcile(ctx, stripe_client, now=later())

        await db.refresh(organization)
        assert organization.stripe_charges_enabled is True
        assert organization.stripe_payouts_enabled is True
        assert [one for one, _ in first.accounts_repaired] == [organization.id]
        assert first.accounts_checked == 1
        # Enabled now: the next run does not even look.
        assert second.accounts_checked == 0
        assert second.accounts_repaired == []
        assert len(fake_stripe.sent("GET", f"/v1/accounts/{account_id}")) == 1

    async def test_a_disconnected_account_is_left_alone(
        self,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
        ctx: Any,
    ) -> None:
        organization, _ = await self.waiting_account(db, world, fake_stripe)
        organization.stripe_disconnected_at = utc_now()
        await db.flush()

        report = await reconcile.reconcile(ctx, stripe_client, now=later())

        await db.refresh(organization)
        assert report.accounts_checked == 0
        assert organization.stripe_charges_enabled is False
        assert fake_stripe.sent("GET", "/v1/accounts") == []


class TestCheckpoint:
    async def test_the_next_run_starts_where_the_last_reached_less_the_overlap(
        self, db: AsyncSession, stripe_client: StripeClient, ctx: Any
    ) -> None:
        now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        await db.merge(
            StripeCheckpoint(name="events", reached_at=now - timedelta(hours=2))
        )
        await db.flush()

        first = await reconcile.reconcile(ctx, stripe_client, now=now)
        second = await reconcile.reconcile(
            ctx, stripe_client, now=now + timedelta(minutes=15)
        )

        assert first.since == now - timedelta(hours=2) - reconcile.OVERLAP
        assert second.since == now - reconcile.GRACE - reconcile.OVERLAP
        reached = await db.scalar(
            select(StripeCheckpoint.reached_at)
            .where(StripeCheckpoint.name == "events")
            .execution_options(populate_existing=True)
        )
        assert reached == now + timedelta(minutes=15) - reconcile.GRACE

    async def test_the_checkpoint_never_moves_back(
        self, db: AsyncSession, stripe_client: StripeClient, ctx: Any
    ) -> None:
        ahead = utc_now() + timedelta(days=1)
        await db.merge(StripeCheckpoint(name="events", reached_at=ahead))
        await db.flush()

        await reconcile.reconcile(ctx, stripe_client, since=an_hour_ago())

        reached = await db.scalar(
            select(StripeCheckpoint.reached_at)
            .where(StripeCheckpoint.name == "events")
            .execution_options(populate_existing=True)
        )
        assert reached == ahead

    async def test_more_than_thirty_days_back_starts_at_stripes_edge(
        self, fake_stripe: FakeStripe, stripe_client: StripeClient, ctx: Any
    ) -> None:
        now = utc_now()

        report = await reconcile.reconcile(
            ctx, stripe_client, since=now - timedelta(days=45), now=now
        )

        [listed] = fake_stripe.sent("GET", "/v1/events")
        assert report.clamped
        assert report.since > now - timedelta(days=30)
        assert int(listed.url.params["created[gte]"]) == int(report.since.timestamp())


class TestTheCron:
    async def test_without_stripe_keys_it_does_nothing(
        self, db: AsyncSession, settings: Settings, fake_stripe: FakeStripe
    ) -> None:
        done = await reconcile_stripe(job_context(db, settings, fake_stripe.client()))

        assert done == 0
        assert fake_stripe.requests == []

    async def test_it_counts_its_repairs(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        ctx: Any,
    ) -> None:
        await db.merge(StripeCheckpoint(name="events", reached_at=an_hour_ago()))
        await db.flush()
        fake_stripe.now -= 600  # the events are ten minutes old
        intent = await started(stripe_api, world)
        fake_stripe.succeed(intent)

        done = await reconcile_stripe(ctx)

        assert done == 1  # the event; the payment changed moments ago
