"""``asset-anchor stripe reconcile``: reconciliation by hand, from a given day.

The command commits and talks HTTP, so its world is committed (and deleted
afterwards) and the fake Stripe is served on a local port. Redis is a port
nothing listens on: the jobs the command queues wait for the worker's sweep.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.kit.time import utc_now
from asset_anchor.models import (
    Email,
    LedgerEntry,
    OnlinePayment,
    Organization,
    StripeCheckpoint,
    User,
)
from asset_anchor.settings import Settings
from tests.billing.schedule_support import make_lease, make_organization
from tests.payments.conftest import RENT
from tests.payments.stripe_support import forget
from tests.support.fake_stripe import API_URL, SECRET_KEY, WEBHOOK_SECRET, FakeStripe
from tests.support.proxy import free_port
from tests.test_cli import run_command


def serve(fake: FakeStripe) -> tuple[ThreadingHTTPServer, str]:
    """The fake Stripe on a local port, for a process of its own to call."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = httpx.Request(
                self.command,
                f"{API_URL}{self.path}",
                headers=dict(self.headers.items()),
                content=self.rfile.read(length),
            )
            response = fake.handle(request)
            self.send_response(response.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def stripe_url(fake_stripe: FakeStripe) -> Iterator[str]:
    server, url = serve(fake_stripe)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, stripe_url: str
) -> None:
    """The command's environment: this run's database, the fake Stripe."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_URL", stripe_url)


@dataclass
class World:
    lease_id: uuid.UUID
    payment_id: uuid.UUID
    intent: str


@pytest.fixture
async def world(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    fake_stripe: FakeStripe,
    stripe_client: StripeClient,
) -> AsyncIterator[World]:
    """A tenant who paid by card ten minutes ago; the webhook never came."""
    address = f"dana.{uuid.uuid4().hex[:10]}@example.test"
    fake_stripe.now -= 600
    ten_minutes_ago = utc_now() - timedelta(minutes=10)
    async with committed_sessionmaker() as session:
        checkpoint = await session.get(StripeCheckpoint, "events")
        before = checkpoint.reached_at if checkpoint else None
    async with committed_sessionmaker.begin() as session:
        place = await make_organization(session)
        lease = await make_lease(
            session,
            place,
            start=date(2026, 1, 1),
            rent=RENT,
            tenants=(("Dana Tenant", address),),
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
                created_at=ten_minutes_ago,
                updated_at=ten_minutes_ago,
            )
        )
    fake_stripe.succeed(intent["id"])
    try:
        yield World(lease.id, payment_id, intent["id"])
    finally:
        async with committed_sessionmaker.begin() as session:
            await forget(
                session,
                address=address,
                payment_id=payment_id,
                event_ids=[event["id"] for event in fake_stripe.events],
            )
            await session.execute(
                delete(Organization).where(Organization.id == place.organization.id)
            )
            await session.execute(delete(User).where(User.id == place.owner.user_id))
            if before is None:
                await session.execute(delete(StripeCheckpoint))
            else:
                await session.merge(StripeCheckpoint(name="events", reached_at=before))


async def paid(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> tuple[int, int]:
    """The lease's payments in the ledger, and the receipts queued."""
    async with sessions() as session:
        payments = await session.scalar(
            select(func.count()).where(
                LedgerEntry.lease_id == world.lease_id,
                LedgerEntry.entry_type == "payment",
            )
        )
        receipts = await session.scalar(
            select(func.count()).where(Email.kind == "payment_receipt")
        )
    return int(payments or 0), int(receipts or 0)


def yesterday() -> str:
    return (utc_now().date() - timedelta(days=1)).isoformat()


async def test_the_missed_payment_is_repaired_and_said(
    world: World,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    fake_stripe: FakeStripe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [missed] = [e for e in fake_stripe.events if e["type"].startswith("payment")]

    code = run_command(["stripe", "reconcile", "--since", yesterday()])

    out = capsys.readouterr().out
    assert code == 0
    assert f"since {yesterday()} 00:00Z" in out
    assert "1 missed event(s) stored and queued:" in out
    assert f"{missed['id']}  payment_intent.succeeded" in out
    assert "1 payment(s) brought up to date:" in out
    assert f"{world.payment_id}  pending -> succeeded, recorded in the ledger" in out
    assert await paid(committed_sessionmaker, world) == (1, 1)


async def test_running_it_again_repairs_nothing_more(
    world: World,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_command(["stripe", "reconcile", "--since", yesterday()])
    capsys.readouterr()

    code = run_command(["stripe", "reconcile", "--since", yesterday()])

    out = capsys.readouterr().out
    assert code == 0
    assert "0 missed event(s) stored and queued:" in out
    assert "0 payment(s) brought up to date:" in out
    assert await paid(committed_sessionmaker, world) == (1, 1)
    async with committed_sessionmaker() as session:
        reached = await session.scalar(
            select(StripeCheckpoint.reached_at).where(StripeCheckpoint.name == "events")
        )
    assert reached is not None
    assert reached > utc_now() - timedelta(minutes=5)


def test_without_a_stripe_key_it_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_SECRET_KEY")

    code = run_command(["stripe", "reconcile"])

    assert code == 2
    assert "STRIPE_SECRET_KEY is not set" in capsys.readouterr().err
