"""Stripe's word handled twice at once still moves the money once.

These run on real, committed transactions (the row locks are what they
prove), in an organization of their own that is deleted afterwards with the
events, jobs and emails its tests made.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.billing import ledger
from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.models import (
    Email,
    LedgerEntry,
    OnlinePayment,
    Organization,
    StripeRefund,
    User,
)
from asset_anchor.payments import events, refunds
from asset_anchor.settings import Settings
from tests.billing.schedule_support import make_lease, make_organization
from tests.payments.conftest import RENT
from tests.payments.stripe_support import forget
from tests.support.fake_stripe import FakeStripe


@dataclass
class World:
    lease_id: uuid.UUID
    payment_id: uuid.UUID
    intent: str
    tenant_address: str
    event_ids: list[str]


@pytest.fixture
async def world(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    stripe_client: StripeClient,
) -> AsyncIterator[World]:
    address = f"dana.{secrets.token_hex(5)}@example.test"
    async with committed_sessionmaker.begin() as session:
        place = await make_organization(session)
        place.organization.stripe_account_id = "acct_fake_landlord"
        place.organization.stripe_charges_enabled = True
        lease = await make_lease(
            session,
            place,
            start=date(2026, 1, 1),
            rent=RENT,
            tenants=(("Dana Tenant", address),),
        )
        session.add(
            LedgerEntry(
                id=uuid.uuid4(),
                organization_id=lease.organization_id,
                lease_id=lease.id,
                entry_type="charge",
                category="rent",
                amount=RENT,
                currency="USD",
                effective_on=date(2026, 1, 1),
                rent_period=date(2026, 1, 1),
                period_start=date(2026, 1, 1),
                period_end=date(2026, 1, 31),
            )
        )
        payment_id = uuid.uuid4()
        intent = await stripe_client.create_payment_intent(
            payment_id=str(payment_id),
            amount=RENT,
            currency="USD",
            method="card",
            destination="acct_fake_landlord",
            application_fee_amount=0,
            description="Rent",
            metadata={"payment_id": str(payment_id)},
        )
        session.add(
            OnlinePayment(
                id=payment_id,
                organization_id=lease.organization_id,
                lease_id=lease.id,
                amount=RENT,
                currency="USD",
                method="card",
                status="pending",
                stripe_payment_intent_id=intent["id"],
            )
        )
    made = World(lease.id, payment_id, intent["id"], address, [])
    try:
        yield made
    finally:
        async with committed_sessionmaker.begin() as session:
            await forget(
                session,
                address=address,
                payment_id=payment_id,
                event_ids=made.event_ids,
            )
            # The ledger, the lease, the payment, its refunds, the notices and
            # the audit log go with the organization.
            await session.execute(
                delete(Organization).where(Organization.id == place.organization.id)
            )
            await session.execute(delete(User).where(User.id == place.owner.user_id))


async def stored(
    sessions: async_sessionmaker[AsyncSession], world: World, event: dict[str, Any]
) -> str:
    """The webhook's part: the event kept (committed) for the worker."""
    async with sessions.begin() as session:
        await events.store(session, event)
    world.event_ids.append(event["id"])
    return str(event["id"])


async def handled_at_once(
    sessions: async_sessionmaker[AsyncSession], stripe: StripeClient, *ids: str
) -> list[str]:
    """Two workers handling events at the same moment, each committing."""

    async def handle(event_id: str) -> str:
        async with sessions.begin() as session:
            return await events.process(session, stripe, event_id)

    return list(await asyncio.gather(*(handle(event_id) for event_id in ids)))


async def rows_of(
    sessions: async_sessionmaker[AsyncSession], world: World, entry_type: str
) -> list[LedgerEntry]:
    async with sessions() as session:
        found = await session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.lease_id == world.lease_id,
                LedgerEntry.entry_type == entry_type,
            )
        )
        return list(found)


async def mailed(
    sessions: async_sessionmaker[AsyncSession], world: World, kind: str
) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).where(
                Email.kind == kind, Email.to_address == world.tenant_address
            )
        )
    return int(count or 0)


async def test_one_event_delivered_twice_at_once_pays_once(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    fake_stripe: FakeStripe,
    stripe_client: StripeClient,
) -> None:
    event_id = await stored(
        committed_sessionmaker, world, fake_stripe.succeed(world.intent)
    )

    outcomes = await handled_at_once(
        committed_sessionmaker, stripe_client, event_id, event_id
    )

    assert sorted(outcomes) == ["pending -> succeeded, recorded in the ledger"] * 2
    [paid] = await rows_of(committed_sessionmaker, world, "payment")
    assert paid.external_id == world.intent
    assert await mailed(committed_sessionmaker, world, "payment_receipt") == 1


async def test_two_events_about_one_payment_at_once_pay_once(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    fake_stripe: FakeStripe,
    stripe_client: StripeClient,
) -> None:
    succeeded = fake_stripe.succeed(world.intent)
    first = await stored(committed_sessionmaker, world, succeeded)
    copy = fake_stripe.event(
        "payment_intent.succeeded", fake_stripe.objects[world.intent]
    )
    second = await stored(committed_sessionmaker, world, copy)

    outcomes = await handled_at_once(
        committed_sessionmaker, stripe_client, first, second
    )

    assert sorted(outcomes) == [
        "pending -> succeeded, recorded in the ledger",
        "succeeded -> succeeded",
    ]
    assert len(await rows_of(committed_sessionmaker, world, "payment")) == 1
    assert await mailed(committed_sessionmaker, world, "payment_receipt") == 1
    async with committed_sessionmaker() as session:
        owed = await ledger.balance(session, world.lease_id)
    assert owed == 0


async def test_the_refund_job_and_its_event_at_once_refund_once(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    fake_stripe: FakeStripe,
    stripe_client: StripeClient,
    stripe_settings: Settings,
) -> None:
    paid = await stored(
        committed_sessionmaker, world, fake_stripe.succeed(world.intent)
    )
    await handled_at_once(committed_sessionmaker, stripe_client, paid)
    refund_id = uuid.uuid4()
    async with committed_sessionmaker.begin() as session:
        payment = await session.get(OnlinePayment, world.payment_id)
        assert payment is not None
        session.add(
            StripeRefund(
                id=refund_id,
                organization_id=payment.organization_id,
                online_payment_id=payment.id,
                amount=50_000,
                reason="Rent reduced",
                status="requested",
            )
        )
    # The job's first try reached Stripe and its commit was lost; Stripe's
    # event about the refund and the job's second try now come at once.
    await stripe_client.create_refund(
        refund_id=str(refund_id),
        payment_intent=world.intent,
        amount=50_000,
        refund_application_fee=True,
        metadata={
            "refund_id": str(refund_id),
            "payment_id": str(world.payment_id),
            "lease_id": str(world.lease_id),
        },
    )
    charge = fake_stripe.objects[fake_stripe.objects[world.intent]["latest_charge"]]
    refunded = await stored(
        committed_sessionmaker, world, fake_stripe.event("charge.refunded", charge)
    )

    async def job() -> str:
        async with committed_sessionmaker.begin() as session:
            return await refunds.send(
                session, stripe_client, stripe_settings, refund_id
            )

    await asyncio.gather(
        job(), handled_at_once(committed_sessionmaker, stripe_client, refunded)
    )

    [refund] = await rows_of(committed_sessionmaker, world, "refund")
    assert refund.amount == 50_000
    assert await mailed(committed_sessionmaker, world, "refund_receipt") == 1
    assert (
        len([o for o in fake_stripe.objects.values() if o["object"] == "refund"]) == 1
    )
    async with committed_sessionmaker() as session:
        ours = await session.get(StripeRefund, refund_id)
        owed = await ledger.balance(session, world.lease_id)
    assert ours is not None
    assert ours.status == "succeeded"
    assert owed == 50_000


async def test_a_slow_handlers_older_look_never_undoes_a_newer_one(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    fake_stripe: FakeStripe,
    stripe_client: StripeClient,
) -> None:
    # The card is declined, then the tenant pays with another one at once.
    # The decline's handler must not look at Stripe until the payment's row
    # is free, or it would apply the decline after the success.
    declined = await stored(
        committed_sessionmaker, world, fake_stripe.fail(world.intent)
    )
    looks = len(fake_stripe.sent("GET", f"/v1/payment_intents/{world.intent}"))

    async with committed_sessionmaker.begin() as holder:
        await holder.execute(
            select(OnlinePayment.id)
            .where(OnlinePayment.id == world.payment_id)
            .with_for_update()
        )

        async def handle_the_decline() -> str:
            async with committed_sessionmaker.begin() as session:
                return await events.process(session, stripe_client, declined)

        slow = asyncio.create_task(handle_the_decline())
        await asyncio.sleep(0.3)
        looked_while_locked = len(
            fake_stripe.sent("GET", f"/v1/payment_intents/{world.intent}")
        )
        paid = await stored(
            committed_sessionmaker, world, fake_stripe.succeed(world.intent)
        )
        await events.process(holder, stripe_client, paid)
    outcome = await slow

    assert looked_while_locked == looks
    assert outcome == "succeeded -> succeeded"
    [payment] = await rows_of(committed_sessionmaker, world, "payment")
    assert payment.external_id == world.intent
    assert payment.reverses_id is None
    assert await mailed(committed_sessionmaker, world, "payment_failed") == 0
    async with committed_sessionmaker() as session:
        online = await session.get(OnlinePayment, world.payment_id)
        assert online is not None
        assert online.status == "succeeded"
