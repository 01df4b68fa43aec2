"""An organization connects its Stripe account; Stripe's word on it, in any
order, decides whether its tenants can pay online; admins set its fee."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.models import AuditEvent, Organization, SecurityEvent, StripeEvent
from asset_anchor.payments import events
from asset_anchor.settings import Settings
from tests.payments.conftest import RENT, World, deliver, handle_events, start
from tests.portfolio.conftest import Account, make_landlord, make_user, ok
from tests.support.fake_stripe import CONNECT_WEBHOOK_SECRET, FakeStripe


def stripe_path(organization_id: uuid.UUID | None) -> str:
    return f"/api/v1/organizations/{organization_id}/stripe"


def fee_path(organization_id: uuid.UUID | None) -> str:
    return f"/api/v1/admin/organizations/{organization_id}"


async def onboard(api: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await api.post(
        f"{stripe_path(account.organization_id)}/onboarding", headers=account.headers
    )


async def connection(api: httpx.AsyncClient, world: World) -> dict[str, Any]:
    return ok(  # type: ignore[no-any-return]
        await api.get(
            stripe_path(world.owner.organization_id), headers=world.owner.headers
        )
    )


async def unconnected(db: AsyncSession, world: World) -> Organization:
    """The world's organization before it ever met Stripe."""
    organization = await db.get(Organization, world.owner.organization_id)
    assert organization is not None
    organization.stripe_account_id = None
    organization.stripe_charges_enabled = False
    await db.flush()
    return organization


async def tell(
    api: httpx.AsyncClient,
    db: AsyncSession,
    fake: FakeStripe,
    stripe: StripeClient,
    event: dict[str, Any],
) -> list[str]:
    """Deliver an event to the Connect endpoint and handle it, as the worker would."""
    ok(await deliver(api, fake, event, CONNECT_WEBHOOK_SECRET))
    return await handle_events(db, stripe)


async def onboarded(
    api: httpx.AsyncClient,
    db: AsyncSession,
    fake: FakeStripe,
    stripe: StripeClient,
    world: World,
) -> str:
    """The organization onboarded through the API, and Stripe has enabled it."""
    await unconnected(db, world)
    ok(await onboard(api, world.owner))
    account_id = str((await connection(api, world))["account_id"])
    enabled = fake.update_account(
        account_id, charges_enabled=True, payouts_enabled=True, details_submitted=True
    )
    await tell(api, db, fake, stripe, enabled)
    return account_id


async def audit_events(db: AsyncSession, world: World, action: str) -> list[AuditEvent]:
    rows = await db.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.organization_id == world.owner.organization_id,
            AuditEvent.action == action,
        )
        .order_by(AuditEvent.created_at)
    )
    return list(rows)


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


class TestOnboarding:
    async def test_the_first_call_makes_an_express_account_and_answers_a_link(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        organization = await unconnected(db, world)

        answer = ok(await onboard(stripe_api, world.owner))

        [created] = fake_stripe.sent("POST", "/v1/accounts")
        [linked] = fake_stripe.sent("POST", "/v1/account_links")
        sent = form_of(created)
        account_id = organization.stripe_account_id
        assert account_id is not None
        assert created.headers["idempotency-key"] == f"account-{organization.id}"
        assert sent["type"] == "express"
        assert sent["country"] == stripe_settings.stripe_connect_country
        assert sent["email"] == organization.contact_email
        assert sent["metadata[organization_id]"] == str(organization.id)
        settings_page = f"{stripe_settings.frontend_url}/settings/payments"
        assert form_of(linked) == {
            "account": account_id,
            "refresh_url": f"{settings_page}?refresh=1",
            "return_url": f"{settings_page}?return=1",
            "type": "account_onboarding",
        }
        assert answer["url"] == f"https://connect.stripe.test/setup/{account_id}"
        assert answer["expires_at"].endswith(("Z", "+00:00"))
        [audited] = await audit_events(db, world, "stripe.onboarding_started")
        assert audited.actor_id == world.owner.user_id
        assert audited.changes == {
            "stripe_account_id": {"from": None, "to": account_id}
        }

    async def test_a_second_call_answers_a_fresh_link_for_the_same_account(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
    ) -> None:
        await unconnected(db, world)

        first = ok(await onboard(stripe_api, world.owner))
        second = ok(await onboard(stripe_api, world.owner))

        accounts = [o for o in fake_stripe.objects.values() if o["object"] == "account"]
        links = fake_stripe.sent("POST", "/v1/account_links")
        [account] = accounts
        assert len(fake_stripe.sent("POST", "/v1/accounts")) == 1
        assert [form_of(link)["account"] for link in links] == [account["id"]] * 2
        assert first["url"] == second["url"]
        shown = await connection(stripe_api, world)
        assert shown["account_id"] == account["id"]

    async def test_a_retry_after_a_lost_answer_finds_the_same_account(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
    ) -> None:
        organization = await unconnected(db, world)
        fake_stripe.fail_next("/v1/account_links", httpx.ConnectError("reset"))

        lost = await onboard(stripe_api, world.owner)
        again = ok(await onboard(stripe_api, world.owner))

        keys = {
            r.headers["idempotency-key"]
            for r in fake_stripe.sent("POST", "/v1/accounts")
        }
        accounts = [o for o in fake_stripe.objects.values() if o["object"] == "account"]
        assert lost.status_code == 503
        assert lost.json()["code"] == "payment_provider_unavailable"
        assert keys == {f"account-{organization.id}"}
        assert len(accounts) == 1
        assert again["url"].endswith(accounts[0]["id"])

    async def test_an_account_stored_meanwhile_by_another_request_is_kept(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        organization = await unconnected(db, world)
        create_account = StripeClient.create_account

        async def racing(self: StripeClient, **params: Any) -> dict[str, Any]:
            # The other request stores its account while ours is being made.
            answer = await create_account(self, **params)
            await db.execute(
                update(Organization)
                .where(Organization.id == organization.id)
                .values(stripe_account_id="acct_stored_first")
                .execution_options(synchronize_session=False)
            )
            return answer

        monkeypatch.setattr(StripeClient, "create_account", racing)

        answer = ok(await onboard(stripe_api, world.owner))

        [linked] = fake_stripe.sent("POST", "/v1/account_links")
        assert form_of(linked)["account"] == "acct_stored_first"
        assert answer["url"].endswith("acct_stored_first")
        shown = await connection(stripe_api, world)
        assert shown["account_id"] == "acct_stored_first"

    async def test_stripes_refusal_is_a_provider_error_and_stores_nothing(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
    ) -> None:
        organization = await unconnected(db, world)
        fake_stripe.fail_next(
            "/v1/accounts",
            FakeStripe.error(
                400, "invalid_request_error", "Not here.", "country_unsupported"
            ),
        )

        answer = await onboard(stripe_api, world.owner)

        assert answer.status_code == 502
        assert answer.json()["code"] == "payment_provider_error"
        assert answer.json()["provider_code"] == "country_unsupported"
        await db.refresh(organization)
        assert organization.stripe_account_id is None

    async def test_a_manager_is_refused(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        settings: Settings,
    ) -> None:
        await unconnected(db, world)
        manager = await make_landlord(
            db, settings, organization_id=world.owner.organization_id, role="manager"
        )

        answer = await onboard(stripe_api, manager)

        assert answer.status_code == 403
        assert answer.json()["code"] == "owner_only"
        assert fake_stripe.requests == []

    async def test_another_organization_does_not_exist_for_the_caller(
        self,
        stripe_api: httpx.AsyncClient,
        world: World,
        fake_stripe: FakeStripe,
        db: AsyncSession,
        settings: Settings,
    ) -> None:
        outsider = await make_landlord(db, settings)
        path = stripe_path(world.owner.organization_id)

        onboarding = await stripe_api.post(
            f"{path}/onboarding", headers=outsider.headers
        )
        reading = await stripe_api.get(path, headers=outsider.headers)

        assert [onboarding.status_code, reading.status_code] == [404, 404]
        assert {onboarding.json()["code"], reading.json()["code"]} == {
            "organization_not_found"
        }
        assert fake_stripe.requests == []

    async def test_without_stripe_keys_onboarding_is_not_configured(
        self, api: httpx.AsyncClient, db: AsyncSession, world: World
    ) -> None:
        await unconnected(db, world)

        answer = await onboard(api, world.owner)

        assert answer.status_code == 503
        assert answer.json()["code"] == "payments_not_configured"

    async def test_after_a_disconnection_onboarding_makes_a_new_account(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        old = await onboarded(stripe_api, db, fake_stripe, stripe_client, world)
        await tell(
            stripe_api, db, fake_stripe, stripe_client, fake_stripe.deauthorize(old)
        )

        answer = ok(await onboard(stripe_api, world.owner))

        shown = await connection(stripe_api, world)
        new = shown["account_id"]
        keys = [
            r.headers["idempotency-key"]
            for r in fake_stripe.sent("POST", "/v1/accounts")
        ]
        organization_id = world.owner.organization_id
        assert new not in (None, old)
        assert answer["url"].endswith(new)
        assert keys == [
            f"account-{organization_id}",
            f"account-{organization_id}-after-{old}",
        ]
        assert shown["connected"] is True
        assert shown["disconnected_at"] is None
        assert shown["charges_enabled"] is False
        assert (await start(stripe_api, world)).status_code == 409


class TestAccountEvents:
    async def test_an_account_update_enables_payments(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        await unconnected(db, world)
        ok(await onboard(stripe_api, world.owner))
        account_id = (await connection(stripe_api, world))["account_id"]
        before = await start(stripe_api, world, key="before")
        enabled = fake_stripe.update_account(
            account_id,
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
        )

        outcomes = await tell(stripe_api, db, fake_stripe, stripe_client, enabled)
        after = ok(await start(stripe_api, world, key="after"), 201)

        assert before.status_code == 409
        assert before.json()["code"] == "organization_not_connected"
        assert outcomes == [
            "charges_enabled False -> True, payouts_enabled False -> True,"
            " details_submitted False -> True"
        ]
        shown = await connection(stripe_api, world)
        assert shown["connected"] is True
        assert shown["charges_enabled"] is True
        assert shown["payouts_enabled"] is True
        assert shown["details_submitted"] is True
        [intent] = fake_stripe.sent("POST", "/v1/payment_intents")
        assert form_of(intent)["transfer_data[destination]"] == account_id
        assert after["status"] == "pending"
        [audited] = await audit_events(db, world, "stripe.account_updated")
        assert audited.actor_id is None
        assert audited.changes["stripe_charges_enabled"] == {
            "from": False,
            "to": True,
        }

    async def test_an_older_update_after_a_newer_one_changes_nothing(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        await unconnected(db, world)
        ok(await onboard(stripe_api, world.owner))
        account_id = (await connection(stripe_api, world))["account_id"]
        older = fake_stripe.update_account(account_id, charges_enabled=True)
        newer = fake_stripe.update_account(account_id, charges_enabled=False)

        first = await tell(stripe_api, db, fake_stripe, stripe_client, newer)
        late = await tell(stripe_api, db, fake_stripe, stripe_client, older)

        assert first == ["unchanged"]
        assert late == ["older than the state held; ignored"]
        assert len(fake_stripe.sent("GET", f"/v1/accounts/{account_id}")) == 1
        assert (await connection(stripe_api, world))["charges_enabled"] is False
        assert (await start(stripe_api, world)).status_code == 409

    async def test_an_unknown_account_is_acknowledged_and_changes_nothing(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        someone = fake_stripe.event(
            "account.updated",
            {"id": "acct_someone_else", "object": "account"},
            account="acct_someone_else",
        )
        gone = fake_stripe.deauthorize("acct_someone_else")

        outcomes = await tell(stripe_api, db, fake_stripe, stripe_client, someone)
        outcomes += await tell(stripe_api, db, fake_stripe, stripe_client, gone)

        assert outcomes == ["unknown account", "unknown account"]
        assert fake_stripe.sent("GET", "/v1/accounts") == []
        assert (await connection(stripe_api, world))["charges_enabled"] is True

    async def test_a_deauthorization_stops_payments(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        before = ok(await start(stripe_api, world, key="before"), 201)

        outcomes = await tell(
            stripe_api,
            db,
            fake_stripe,
            stripe_client,
            fake_stripe.deauthorize(world.account_id),
        )
        after = await start(stripe_api, world, key="after")

        assert before["status"] == "pending"
        assert outcomes == ["disconnected"]
        assert after.status_code == 409
        assert after.json()["code"] == "organization_not_connected"
        shown = await connection(stripe_api, world)
        assert shown["connected"] is False
        assert shown["account_id"] == world.account_id
        assert shown["charges_enabled"] is False
        assert shown["disconnected_at"] is not None
        [audited] = await audit_events(db, world, "stripe.account_disconnected")
        assert audited.actor_id is None
        assert audited.changes["stripe_charges_enabled"] == {"from": True, "to": False}

    async def test_a_deauthorization_delivered_twice_is_handled_once(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        event = fake_stripe.deauthorize(world.account_id)

        first = await deliver(stripe_api, fake_stripe, event, CONNECT_WEBHOOK_SECRET)
        again = await deliver(stripe_api, fake_stripe, event, CONNECT_WEBHOOK_SECRET)
        outcomes = await handle_events(db, stripe_client)
        replayed = await events.process(db, stripe_client, event["id"])

        assert [first.json()["duplicate"], again.json()["duplicate"]] == [False, True]
        assert outcomes == ["disconnected"]
        assert replayed == "disconnected"
        count = await db.scalar(select(func.count()).select_from(StripeEvent))
        assert count == 1
        assert len(await audit_events(db, world, "stripe.account_disconnected")) == 1

    async def test_no_update_reconnects_a_deauthorized_account(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        stripe_client: StripeClient,
    ) -> None:
        account_id = await onboarded(stripe_api, db, fake_stripe, stripe_client, world)
        gone = fake_stripe.deauthorize(account_id)
        late = fake_stripe.update_account(account_id, charges_enabled=True)

        outcomes = await tell(stripe_api, db, fake_stripe, stripe_client, gone)
        outcomes += await tell(stripe_api, db, fake_stripe, stripe_client, late)

        assert outcomes == ["disconnected", "account disconnected; ignored"]
        assert (await connection(stripe_api, world))["charges_enabled"] is False
        assert (await start(stripe_api, world)).status_code == 409


class TestPlatformFee:
    async def admin(self, db: AsyncSession, settings: Settings) -> Account:
        user, headers = await make_user(db, settings, full_name="Sam Admin")
        user.is_platform_admin = True
        await db.flush()
        return Account(user.id, user.email, user.full_name, None, headers)

    async def test_an_admins_fee_sets_the_next_payments_application_fee(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        fake_stripe: FakeStripe,
        settings: Settings,
    ) -> None:
        admin = await self.admin(db, settings)

        answer = ok(
            await stripe_api.patch(
                fee_path(world.owner.organization_id),
                json={"platform_fee_bps": 250},
                headers=admin.headers,
            )
        )
        ok(await start(stripe_api, world), 201)

        [intent] = fake_stripe.sent("POST", "/v1/payment_intents")
        assert form_of(intent)["application_fee_amount"] == str(RENT * 250 // 10_000)
        assert answer["platform_fee_bps"] == 250
        assert (await connection(stripe_api, world))["platform_fee_bps"] == 250
        [security] = await db.scalars(
            select(SecurityEvent).where(
                SecurityEvent.user_id == admin.user_id,
                SecurityEvent.kind == "platform_fee_set",
            )
        )
        assert security.detail == {
            "organization_id": str(world.owner.organization_id),
            "platform_fee_bps": {"from": 100, "to": 250},
        }
        [audited] = await audit_events(db, world, "organization.platform_fee_changed")
        assert audited.actor_id == admin.user_id
        assert audited.changes == {"platform_fee_bps": {"from": 100, "to": 250}}

    async def test_the_owner_cannot_set_their_own_fee(
        self, stripe_api: httpx.AsyncClient, db: AsyncSession, world: World
    ) -> None:
        answer = await stripe_api.patch(
            fee_path(world.owner.organization_id),
            json={"platform_fee_bps": 0},
            headers=world.owner.headers,
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "admin_only"
        assert (await connection(stripe_api, world))["platform_fee_bps"] == 100
        assert await audit_events(db, world, "organization.platform_fee_changed") == []

    async def test_a_fee_out_of_range_or_an_unknown_organization_is_refused(
        self,
        stripe_api: httpx.AsyncClient,
        db: AsyncSession,
        world: World,
        settings: Settings,
    ) -> None:
        admin = await self.admin(db, settings)

        too_much = await stripe_api.patch(
            fee_path(world.owner.organization_id),
            json={"platform_fee_bps": 10_001},
            headers=admin.headers,
        )
        nowhere = await stripe_api.patch(
            fee_path(uuid.uuid4()), json={"platform_fee_bps": 10}, headers=admin.headers
        )

        assert too_much.status_code == 422
        assert nowhere.status_code == 404
        assert nowhere.json()["code"] == "organization_not_found"
        assert (await connection(stripe_api, world))["platform_fee_bps"] == 100
