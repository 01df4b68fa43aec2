"""Fixtures of the online payment tests: Stripe faked at the HTTP layer.

``stripe_app`` is the API with Stripe's keys set and its outside-world client
pointed at ``FakeStripe``; ``world`` is an organization connected to Stripe
with an active lease, a tenant who has an account on it, and rent owed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient, StripeConfig
from asset_anchor.models import LedgerEntry, Organization, StripeEvent
from asset_anchor.payments import events
from asset_anchor.settings import Settings
from tests.conftest import app_on, client_at
from tests.leases.factories import active_lease, link_tenant
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    make_landlord,
    make_tenant,
)
from tests.support.fake_stripe import (
    API_URL,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    with_stripe,
)

RENT = 150_000


@pytest.fixture
def fake_stripe() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def stripe_settings(settings: Settings) -> Settings:
    return with_stripe(settings)


@pytest.fixture
async def stripe_app(
    stripe_settings: Settings, db: AsyncSession, fake_stripe: FakeStripe
) -> AsyncIterator[FastAPI]:
    async with app_on(stripe_settings, db) as app:
        await app.state.http.aclose()
        app.state.http = fake_stripe.client()
        yield app


@pytest.fixture
async def stripe_api(stripe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(stripe_app) as client:
        yield client


@pytest.fixture
def stripe_client(fake_stripe: FakeStripe) -> StripeClient:
    """What the worker's jobs talk to Stripe with."""
    return StripeClient(fake_stripe.client(), StripeConfig(SECRET_KEY, API_URL))


@dataclass
class World:
    owner: Account
    tenant: Account
    lease: dict[str, Any]
    account_id: str


@pytest.fixture
async def world(
    stripe_api: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> World:
    owner = await make_landlord(db, settings)
    tenant = await make_tenant(db, settings)
    prop = await create_property(stripe_api, owner)
    unit = await create_unit(stripe_api, owner, prop["id"])
    lease = await active_lease(
        stripe_api,
        owner,
        unit["id"],
        rent_amount=RENT,
        tenants=[{"full_name": "Dana Tenant", "email": tenant.email}],
    )
    await link_tenant(db, lease["tenants"][0]["id"], tenant.user_id)
    organization = await db.get(Organization, owner.organization_id)
    assert organization is not None
    organization.stripe_account_id = "acct_fake_landlord"
    organization.stripe_charges_enabled = True
    organization.platform_fee_bps = 100
    db.add(
        LedgerEntry(
            id=uuid.uuid4(),
            organization_id=owner.organization_id,
            lease_id=uuid.UUID(lease["id"]),
            entry_type="charge",
            category="rent",
            amount=RENT,
            currency="USD",
            effective_on=date(2026, 1, 1),
            rent_period=date(2026, 1, 1),
            period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31),
            description="Rent for January 2026",
        )
    )
    await db.flush()
    return World(owner, tenant, lease, "acct_fake_landlord")


async def start(
    api: httpx.AsyncClient,
    world: World,
    amount: int = RENT,
    *,
    key: str | None = "pay-1",
    method: str = "card",
) -> httpx.Response:
    headers = dict(world.tenant.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.post(
        f"/api/v1/me/leases/{world.lease['id']}/payments",
        json={"amount": amount, "method": method},
        headers=headers,
    )


async def deliver(
    api: httpx.AsyncClient,
    fake: FakeStripe,
    event: dict[str, Any],
    secret: str = WEBHOOK_SECRET,
) -> httpx.Response:
    body, headers = fake.signed(event, secret)
    return await api.post("/api/v1/webhooks/stripe", content=body, headers=headers)


async def handle_events(db: AsyncSession, stripe: StripeClient) -> list[str]:
    """Handle every stored, unhandled event, as the worker would."""
    pending = list(
        await db.scalars(
            select(StripeEvent.id)
            .where(StripeEvent.processed_at.is_(None))
            .order_by(StripeEvent.received_at, StripeEvent.id)
        )
    )
    return [await events.process(db, stripe, event_id) for event_id in pending]
