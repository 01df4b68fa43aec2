"""Reading online payments: the tenant's own, and the organization's view of a
lease's, with the refunds asked of Stripe."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.models import OnlinePayment
from asset_anchor.settings import Settings
from tests.payments.conftest import World, deliver, handle_events, start
from tests.payments.stripe_support import pay
from tests.portfolio.conftest import make_landlord, ok, statements_run
from tests.support.fake_stripe import FakeStripe


def intent_of(answer: dict[str, Any]) -> str:
    return str(answer["client_secret"]).split("_secret")[0]


async def staff_list(
    api: httpx.AsyncClient, world: World, headers: dict[str, str], query: str = ""
) -> httpx.Response:
    return await api.get(
        f"/api/v1/leases/{world.lease['id']}/online-payments{query}", headers=headers
    )


class TestTheTenantsList:
    async def test_it_pages_newest_first(
        self, stripe_api: httpx.AsyncClient, world: World
    ) -> None:
        made = [
            ok(await start(stripe_api, world, 10_000 + n, key=f"k{n}"), 201)["id"]
            for n in range(3)
        ]
        path = f"/api/v1/me/leases/{world.lease['id']}/payments"

        mine = world.tenant.headers
        first = ok(await stripe_api.get(f"{path}?limit=2", headers=mine))
        rest = ok(
            await stripe_api.get(
                f"{path}?limit=2&cursor={first['next_cursor']}", headers=mine
            )
        )

        # Newest first, then by id: these were all made in the test's one
        # transaction, at one database time, so the id orders them.
        newest_first = sorted(made, key=uuid.UUID, reverse=True)
        assert [p["id"] for p in first["items"] + rest["items"]] == newest_first
        assert rest["next_cursor"] is None


class TestTheOrganizationsList:
    async def test_it_shows_what_the_ledger_does_not_and_the_refunds(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        intent, entry = await pay(
            stripe_api, db, world, fake_stripe, stripe_client, 50_000
        )
        paid_id = await db.scalar(
            select(OnlinePayment.id).where(
                OnlinePayment.stripe_payment_intent_id == intent
            )
        )
        asked = ok(
            await stripe_api.post(
                f"/api/v1/entries/{entry.id}/refunds",
                json={"amount": 2_000, "reason": "Paid twice"},
                headers=world.owner.headers,
            ),
            202,
        )
        clearing = ok(
            await start(stripe_api, world, 30_000, key="ach", method="us_bank_account"),
            201,
        )
        await deliver(stripe_api, fake_stripe, fake_stripe.process(intent_of(clearing)))
        await handle_events(db, stripe_client)

        shown = ok(await staff_list(stripe_api, world, world.owner.headers))

        by_id = {one["id"]: one for one in shown["items"]}
        newest, paid = by_id[clearing["id"]], by_id[str(paid_id)]
        assert newest["status"] == "processing"
        assert newest["method"] == "us_bank_account"
        assert newest["payment_entry_id"] is None
        assert newest["refunds"] == []
        assert newest["payer_id"] == str(world.tenant.user_id)
        assert paid["status"] == "succeeded"
        assert paid["payment_entry_id"] == str(entry.id)
        assert paid["application_fee_amount"] == 500  # 1 % of 500.00
        assert [(r["id"], r["amount"], r["status"]) for r in paid["refunds"]] == [
            (asked["id"], 2_000, "requested")
        ]

    async def test_its_statements_do_not_grow_with_the_page(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        _, entry = await pay(stripe_api, db, world, fake_stripe, stripe_client, 50_000)
        for n in range(2):
            ok(
                await stripe_api.post(
                    f"/api/v1/entries/{entry.id}/refunds",
                    json={"amount": 1_000, "reason": f"Refund {n}"},
                    headers=world.owner.headers,
                ),
                202,
            )

        for n in range(4):
            ok(await start(stripe_api, world, 10_000 + n, key=f"more-{n}"), 201)
        owner = world.owner.headers
        with statements_run(db) as one:
            first = ok(await staff_list(stripe_api, world, owner, "?limit=1"))
        with statements_run(db) as many:
            shown = ok(await staff_list(stripe_api, world, owner))

        assert len(first["items"]) == 1
        assert len(shown["items"]) == 5
        assert sum(len(p["refunds"]) for p in shown["items"]) == 2
        # The principal, the lease, the page, the page's refunds.
        assert len(many) == len(one) <= 4

    async def test_another_organization_and_the_tenant_find_no_such_lease(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        settings: Settings,
    ) -> None:
        outsider = await make_landlord(db, settings)

        theirs = await staff_list(stripe_api, world, outsider.headers)
        tenants = await stripe_api.get(
            f"/api/v1/leases/{world.lease['id']}/online-payments",
            headers=world.tenant.headers,
        )
        made_up = await stripe_api.get(
            f"/api/v1/leases/{uuid.uuid4()}/online-payments",
            headers=world.tenant.headers,
        )

        assert theirs.status_code == 404
        assert theirs.json()["code"] == "lease_not_found"
        # Someone in no organization: the same answer as for a made-up id.
        assert tenants.status_code == made_up.status_code == 404
        assert tenants.json()["code"] == made_up.json()["code"]
