"""What the refund, dispute and reconciliation tests share: a paid rent, the
ledger's parts from the API, and the worker's jobs run inside the test's
transaction."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.jobs.runner import run_outbox_job
from asset_anchor.models import (
    Email,
    LedgerEntry,
    OnlinePayment,
    OutboxJob,
    StripeEvent,
    StripeRefund,
)
from asset_anchor.settings import Settings
from tests.payments.conftest import RENT, World, deliver, handle_events, start
from tests.portfolio.conftest import ok
from tests.support.fake_stripe import FakeStripe


def job_context(db: AsyncSession, settings: Settings, http: httpx.AsyncClient) -> Any:
    """What the worker gives its jobs and crons, with every "commit" a
    savepoint of the test's transaction (so it is all rolled back after)."""
    sessions = async_sessionmaker(
        bind=db.bind, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    return {"settings": settings, "sessionmaker": sessions, "http": http}


async def run_jobs(db: AsyncSession, ctx: dict[str, Any], job_name: str) -> int:
    """Run each pending outbox job of that name once, as the worker would."""
    pending = list(
        await db.scalars(
            select(OutboxJob.id).where(
                OutboxJob.job_name == job_name,
                OutboxJob.completed_at.is_(None),
                OutboxJob.dead_at.is_(None),
            )
        )
    )
    for outbox_id in pending:
        await run_outbox_job(ctx, str(outbox_id))
    return len(pending)


async def pay(
    api: httpx.AsyncClient,
    db: AsyncSession,
    world: World,
    fake: FakeStripe,
    stripe: StripeClient,
    amount: int = RENT,
) -> tuple[str, LedgerEntry]:
    """The tenant pays by card and Stripe says so: the PaymentIntent's id and
    the ledger's payment."""
    answer = ok(await start(api, world, amount), 201)
    intent = str(answer["client_secret"]).split("_secret")[0]
    await deliver(api, fake, fake.succeed(intent))
    await handle_events(db, stripe)
    payment = await db.scalar(
        select(OnlinePayment).where(OnlinePayment.stripe_payment_intent_id == intent)
    )
    assert payment is not None
    assert payment.ledger_entry_id is not None
    entry = await db.get(LedgerEntry, payment.ledger_entry_id)
    assert entry is not None
    return intent, entry


def charge_of(fake: FakeStripe, intent: str) -> dict[str, Any]:
    return fake.objects[fake.objects[intent]["latest_charge"]]


async def parts(api: httpx.AsyncClient, world: World) -> dict[str, int]:
    """The lease's balance and its parts, as staff see them."""
    shown = ok(
        await api.get(
            f"/api/v1/leases/{world.lease['id']}/balance", headers=world.owner.headers
        )
    )
    return {
        "balance": shown["balance_amount"],
        "open": shown["open_charges_amount"],
        "unapplied": shown["unapplied_amount"],
    }


def balanced(shown: dict[str, int]) -> bool:
    """Every row accounted for: what is owed is what is open less what waits."""
    return shown["balance"] == shown["open"] - shown["unapplied"]


async def emails(db: AsyncSession, kind: str) -> list[Email]:
    return list(await db.scalars(select(Email).where(Email.kind == kind)))


async def count_entries(db: AsyncSession, world: World, **where: Any) -> int:
    statement = select(func.count()).where(
        LedgerEntry.lease_id == uuid.UUID(world.lease["id"]),
        *(getattr(LedgerEntry, name) == value for name, value in where.items()),
    )
    return int(await db.scalar(statement) or 0)


async def forget(
    session: AsyncSession,
    *,
    address: str,
    payment_id: uuid.UUID,
    event_ids: list[str],
) -> None:
    """What a committed test made that no organization holds (and so is not
    deleted with it): its events, the tenant's emails, and their jobs."""
    emails = [
        str(email_id)
        for email_id in await session.scalars(
            select(Email.id).where(Email.to_address == address)
        )
    ]
    asked = [
        str(refund_id)
        for refund_id in await session.scalars(
            select(StripeRefund.id).where(StripeRefund.online_payment_id == payment_id)
        )
    ]
    await session.execute(
        delete(OutboxJob).where(
            or_(
                OutboxJob.arguments["email_id"].astext.in_(emails),
                OutboxJob.arguments["event_id"].astext.in_(event_ids),
                OutboxJob.arguments["refund_id"].astext.in_(asked),
            )
        )
    )
    await session.execute(delete(Email).where(Email.to_address == address))
    await session.execute(delete(StripeEvent).where(StripeEvent.id.in_(event_ids)))
