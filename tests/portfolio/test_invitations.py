"""Invitations end to end: the worker writes the email, the link is accepted."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.kit.time import utc_now
from asset_anchor.models import (
    Email,
    Invitation,
    Lease,
    LeaseTenant,
    OrganizationMembership,
    User,
)
from asset_anchor.settings import Settings
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    deliver_mail,
    link_token,
    mailbox,
    make_landlord,
    make_tenant,
    ok,
)

ACCEPT = "/api/v1/invitations/accept"
PREVIEW = "/api/v1/invitations/preview"
PASSWORD = "lantern-orbit-velvet-quarry"


def invitee() -> str:
    return f"casey.{secrets.token_hex(4)}@example.test"


async def make_lease(
    api: httpx.AsyncClient, db: AsyncSession, owner: Account, *, status: str = "active"
) -> Lease:
    prop = await create_property(api, owner, name="Birch House")
    unit = await create_unit(api, owner, prop["id"], label="Apt 4")
    lease = Lease(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        unit_id=unit["id"],
        property_id=prop["id"],
        status=status,
        start_date=date(2026, 1, 1),
        rent_amount=150_000,
        currency="USD",
        due_day=1,
    )
    db.add(lease)
    await db.flush()
    return lease


async def invite_tenant(
    api: httpx.AsyncClient, owner: Account, lease: Lease, email: str, **extra: Any
) -> httpx.Response:
    return await api.post(
        f"/api/v1/leases/{lease.id}/invitations",
        json={"email": email, "full_name": "Casey Tenant", **extra},
        headers=owner.headers,
    )


async def emailed_token(db: AsyncSession, settings: Settings, email: str) -> str:
    """Deliver the queued mail as the worker would, and read the newest link."""
    await deliver_mail(db, settings)
    messages = mailbox(settings, email)
    assert messages, f"nothing was written to {email}"
    return link_token(messages[-1], "/invitations/accept")


async def accept(
    api: httpx.AsyncClient,
    token: str,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    return await api.post(ACCEPT, json={"token": token, **body}, headers=headers or {})


class TestTenantInvitation:
    async def test_a_new_person_accepts_by_choosing_a_password(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        email = invitee()
        made = ok(await invite_tenant(api, owner, lease, email), 201)
        token = await emailed_token(db, mail_settings, email)

        answer = ok(
            await accept(api, token, full_name="Casey Tenant", password=PASSWORD)
        )

        assert made["status"] == "pending"
        assert answer["kind"] == "tenant"
        assert answer["lease_id"] == str(lease.id)
        assert answer["tokens"]["token_type"] == "bearer"
        user = await db.scalar(select(User).where(User.email_normalized == email))
        assert user is not None
        assert user.email_verified_at is not None
        tenant = await db.get(LeaseTenant, made["lease_tenant_id"])
        assert tenant is not None
        assert tenant.user_id == user.id
        assert tenant.full_name == "Casey Tenant"
        me = ok(
            await api.get(
                "/api/v1/me",
                headers={"Authorization": f"Bearer {answer['tokens']['access_token']}"},
            )
        )
        assert me["email"] == email
        signed_in = await api.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert signed_in.status_code == 200

    async def test_the_email_names_the_lease_and_the_token_is_stored_as_a_hash(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings, full_name="Olive Owner")
        lease = await make_lease(api, db, owner)
        email = invitee()
        made = ok(await invite_tenant(api, owner, lease, email), 201)

        token = await emailed_token(db, mail_settings, email)

        [message] = mailbox(mail_settings, email)
        text = message.get_body(preferencelist=("plain",))
        assert text is not None
        assert "Olive Owner" in text.get_content()
        assert "Apt 4 at Birch House" in text.get_content()
        stored = await db.get(Invitation, made["id"])
        assert stored is not None
        assert stored.token_hash == hashlib.sha256(token.encode()).digest()
        [sent] = list(await db.scalars(select(Email).where(Email.to_address == email)))
        assert sent.sent_at is not None
        assert sent.secret_context is None
        assert token not in str(sent.context)

    async def test_an_existing_user_accepts_while_signed_in(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        person = await make_tenant(db, settings)
        made = ok(await invite_tenant(api, owner, lease, person.email), 201)
        token = await emailed_token(db, mail_settings, person.email)

        answer = ok(await accept(api, token, person.headers))

        assert answer["tokens"] is None
        tenant = await db.get(LeaseTenant, made["lease_tenant_id"])
        assert tenant is not None
        assert tenant.user_id == person.user_id

    async def test_an_existing_address_must_sign_in_first(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        person = await make_tenant(db, settings)
        ok(await invite_tenant(api, owner, lease, person.email), 201)
        token = await emailed_token(db, mail_settings, person.email)

        preview = ok(await api.post(PREVIEW, json={"token": token}))
        answer = await accept(api, token, password=PASSWORD)

        assert preview["account_exists"] is True
        assert preview["unit_label"] == "Apt 4"
        assert answer.status_code == 401
        assert answer.json()["code"] == "sign_in_required"

    async def test_another_account_cannot_take_an_invitation_for_an_existing_one(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        person = await make_tenant(db, settings)
        intruder = await make_tenant(db, settings)
        made = ok(await invite_tenant(api, owner, lease, person.email), 201)
        token = await emailed_token(db, mail_settings, person.email)

        answer = await accept(api, token, intruder.headers)

        assert answer.status_code == 403
        assert answer.json()["code"] == "invitation_for_another_account"
        tenant = await db.get(LeaseTenant, made["lease_tenant_id"])
        assert tenant is not None
        assert tenant.user_id is None

    async def test_a_new_account_needs_a_strong_password(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        email = invitee()
        ok(await invite_tenant(api, owner, lease, email), 201)
        token = await emailed_token(db, mail_settings, email)

        missing = await accept(api, token)
        weak = await accept(api, token, password="password123")
        good = await accept(api, token, password=PASSWORD)

        assert missing.status_code == 422
        assert missing.json()["code"] == "password_required"
        assert weak.status_code == 422
        assert weak.json()["code"] == "weak_password"
        assert good.status_code == 200

    async def test_a_person_already_on_the_lease_is_the_one_invited(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        email = invitee()
        named = LeaseTenant(
            organization_id=owner.organization_id,
            lease_id=lease.id,
            full_name="Casey On The Lease",
            email=email.upper(),
        )
        db.add(named)
        await db.flush()

        made = ok(await invite_tenant(api, owner, lease, email), 201)

        assert made["lease_tenant_id"] == str(named.id)
        tenants = list(
            await db.scalars(
                select(LeaseTenant).where(LeaseTenant.lease_id == lease.id)
            )
        )
        assert len(tenants) == 1

    async def test_an_ended_lease_takes_no_invitations(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner, status="ended")

        answer = await invite_tenant(api, owner, lease, invitee())

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_closed"

    async def test_a_second_pending_invitation_to_one_address_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        email = invitee()
        first = ok(await invite_tenant(api, owner, lease, email), 201)

        second = await invite_tenant(api, owner, lease, email.upper())

        assert second.status_code == 409
        assert second.json()["code"] == "invitation_pending"
        assert second.json()["invitation_id"] == first["id"]


class TestOnceAndNoMore:
    async def invited(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> tuple[Account, dict[str, Any], str]:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        email = invitee()
        made = ok(await invite_tenant(api, owner, lease, email), 201)
        return owner, made, await emailed_token(db, mail_settings, email)

    async def test_a_link_works_once(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        _, _, token = await self.invited(api, db, settings, mail_settings)
        first = await accept(api, token, password=PASSWORD)

        again = await accept(
            api,
            token,
            {"Authorization": f"Bearer {first.json()['tokens']['access_token']}"},
        )

        assert first.status_code == 200
        assert again.status_code == 409
        assert again.json()["code"] == "invitation_already_accepted"

    async def test_an_expired_link_is_refused(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        _, made, token = await self.invited(api, db, settings, mail_settings)
        await db.execute(
            update(Invitation)
            .where(Invitation.id == made["id"])
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )

        answer = await accept(api, token, password=PASSWORD)
        preview = ok(await api.post(PREVIEW, json={"token": token}))

        assert answer.status_code == 409
        assert answer.json()["code"] == "invitation_expired"
        assert preview["status"] == "expired"
        assert await db.scalar(select(User).where(User.email == made["email"])) is None

    async def test_a_revoked_link_is_refused(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner, made, token = await self.invited(api, db, settings, mail_settings)
        revoked = ok(
            await api.post(
                f"/api/v1/invitations/{made['id']}/revoke", headers=owner.headers
            )
        )

        answer = await accept(api, token, password=PASSWORD)

        assert revoked["status"] == "revoked"
        assert answer.status_code == 409
        assert answer.json()["code"] == "invitation_revoked"

    async def test_a_resent_link_replaces_the_old_one(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner, made, old_token = await self.invited(api, db, settings, mail_settings)
        resent = ok(
            await api.post(
                f"/api/v1/invitations/{made['id']}/resend", headers=owner.headers
            )
        )
        new_token = await emailed_token(db, mail_settings, made["email"])

        old = await accept(api, old_token, password=PASSWORD)
        new = await accept(api, new_token, password=PASSWORD)

        assert resent["send_count"] == 2
        assert new_token != old_token
        assert old.status_code == 404
        assert old.json()["code"] == "invitation_not_found"
        assert new.status_code == 200

    async def test_resending_is_limited_to_three_an_hour(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        made = ok(await invite_tenant(api, owner, lease, invitee()), 201)
        resend = f"/api/v1/invitations/{made['id']}/resend"

        answers = [await api.post(resend, headers=owner.headers) for _ in range(4)]

        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["code"] == "rate_limited"

    async def test_a_made_up_token_is_not_found(self, api: httpx.AsyncClient) -> None:
        answer = await accept(api, "not-a-real-invitation-token", password=PASSWORD)

        assert answer.status_code == 404
        assert answer.json()["code"] == "invitation_not_found"


class TestManagerInvitation:
    async def test_a_new_person_becomes_a_manager(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        email = invitee()
        ok(
            await api.post(
                f"/api/v1/organizations/{owner.organization_id}/invitations",
                json={"email": email, "full_name": "Morgan Manager"},
                headers=owner.headers,
            ),
            201,
        )
        token = await emailed_token(db, mail_settings, email)

        answer = ok(await accept(api, token, password=PASSWORD))
        headers = {"Authorization": f"Bearer {answer['tokens']['access_token']}"}
        properties = await api.get("/api/v1/properties", headers=headers)

        assert answer["kind"] == "manager"
        membership = await db.scalar(
            select(OrganizationMembership)
            .join(User, User.id == OrganizationMembership.user_id)
            .where(User.email_normalized == email)
        )
        assert membership is not None
        assert membership.organization_id == owner.organization_id
        assert membership.role == "manager"
        assert properties.status_code == 200

    async def test_staff_of_another_organization_cannot_join_a_second(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        mail_settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        elsewhere = await make_landlord(db, settings)
        ok(
            await api.post(
                f"/api/v1/organizations/{owner.organization_id}/invitations",
                json={"email": elsewhere.email},
                headers=owner.headers,
            ),
            201,
        )
        token = await emailed_token(db, mail_settings, elsewhere.email)

        answer = await accept(api, token, elsewhere.headers)

        assert answer.status_code == 409
        assert answer.json()["code"] == "already_in_organization"

    async def test_a_manager_cannot_invite_managers(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        manager = await make_landlord(
            db, settings, organization_id=owner.organization_id, role="manager"
        )

        answer = await api.post(
            f"/api/v1/organizations/{owner.organization_id}/invitations",
            json={"email": invitee()},
            headers=manager.headers,
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "owner_only"

    async def test_a_current_member_is_not_invited_again(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        manager = await make_landlord(
            db, settings, organization_id=owner.organization_id, role="manager"
        )

        answer = await api.post(
            f"/api/v1/organizations/{owner.organization_id}/invitations",
            json={"email": manager.email},
            headers=owner.headers,
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "already_member"


class TestListing:
    @pytest.mark.parametrize("status", ["pending", "revoked"])
    async def test_the_list_filters_by_status(
        self,
        status: str,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        lease = await make_lease(api, db, owner)
        kept = ok(await invite_tenant(api, owner, lease, invitee()), 201)
        gone = ok(await invite_tenant(api, owner, lease, invitee()), 201)
        ok(
            await api.post(
                f"/api/v1/invitations/{gone['id']}/revoke", headers=owner.headers
            )
        )

        listed = ok(
            await api.get(
                "/api/v1/invitations", params={"status": status}, headers=owner.headers
            )
        )

        expected = kept if status == "pending" else gone
        assert [item["id"] for item in listed["items"]] == [expected["id"]]
