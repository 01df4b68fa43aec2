"""Signing up, confirming the address, signing in, and the signed-in user."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.service import complete_registration
from asset_anchor.email.service import is_suppressed, suppress
from asset_anchor.models import (
    Email,
    Organization,
    OrganizationMembership,
    OutboxJob,
    PendingRegistration,
    SecurityEvent,
    User,
)
from asset_anchor.settings import Settings
from tests.accounts.conftest import (
    PASSWORD,
    bearer,
    emails_to,
    last_token,
    login,
    new_email,
    register,
    signed_in,
    user_with,
)
from tests.conftest import app_on, client_at, complete_registrations, email_secrets


async def count(db: AsyncSession, model: type[object]) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


class TestSignUpIsFinishedByTheWorker:
    """The request does the same work for any address; the job decides."""

    @pytest.fixture
    async def deferred(
        self, settings: Settings, db: AsyncSession
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with (
            app_on(settings, db, complete_signups=False) as app,
            client_at(app) as client,
        ):
            yield client

    async def written(self, db: AsyncSession) -> tuple[int, int, int, int]:
        return (
            await count(db, PendingRegistration),
            await count(db, OutboxJob),
            await count(db, User),
            await count(db, Email),
        )

    async def test_a_new_and_a_known_address_write_the_same_rows(
        self, deferred: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        known = new_email()
        await register(deferred, known)
        await complete_registrations(db, settings)
        before = await self.written(db)

        await register(deferred, new_email())
        after_new = await self.written(db)
        await register(deferred, known)
        after_known = await self.written(db)

        step_new = [b - a for a, b in zip(before, after_new, strict=True)]
        step_known = [b - a for a, b in zip(after_new, after_known, strict=True)]
        assert step_new == step_known == [1, 1, 0, 0]

    async def test_signing_in_works_once_the_job_has_run(
        self, deferred: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(deferred, email)

        early = await login(deferred, email)
        ran = await complete_registrations(db, settings)
        later = await login(deferred, email)

        assert early.status_code == 401
        assert ran == 1
        assert later.status_code == 200, later.text
        assert await count(db, PendingRegistration) == 0

    async def test_the_job_run_twice_makes_one_account_and_one_email(
        self, deferred: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(deferred, email)
        [job] = list(
            await db.scalars(
                select(OutboxJob).where(
                    OutboxJob.job_name == "accounts.complete_registration",
                    OutboxJob.completed_at.is_(None),
                )
            )
        )
        registration_id = uuid.UUID(job.arguments["registration_id"])

        first = await complete_registration(db, settings, registration_id)
        second = await complete_registration(db, settings, registration_id)

        assert (first, second) == (True, False)
        assert len(await emails_to(db, email)) == 1
        users = await db.scalars(select(User).where(User.email_normalized == email))
        assert len(list(users)) == 1

    async def test_two_sign_ups_for_one_new_address_make_one_account(
        self, deferred: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(deferred, email, full_name="First Person")
        await register(deferred, email, full_name="Second Person")

        await complete_registrations(db, settings)

        user = await user_with(db, email)
        assert user.full_name == "First Person"
        assert [sent.kind for sent in await emails_to(db, email)] == [
            "verify_email",
            "account_exists",
        ]


class TestRegister:
    async def test_a_new_address_gets_an_account_an_organization_and_a_link(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        email = new_email()

        answer = await register(api, email, organization_name="Riley Homes")

        assert answer.status_code == 202
        user = await user_with(db, email)
        assert user.full_name == "Jordan Riley"
        assert user.email_verified_at is None
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        membership = await db.scalar(
            select(OrganizationMembership).where(
                OrganizationMembership.user_id == user.id
            )
        )
        assert membership is not None
        assert membership.role == "owner"
        organization = await db.get(Organization, membership.organization_id)
        assert organization is not None
        assert organization.name == "Riley Homes"
        [verification] = await emails_to(db, email, "verify_email")
        assert len(email_secrets(verification)["token"]) >= 40

    async def test_an_existing_address_gets_the_same_answer_and_a_warning_email(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        email = new_email()
        first = await register(api, email)
        users_before = await count(db, User)
        organizations_before = await count(db, Organization)

        second = await register(
            api, email.upper(), full_name="Someone Else", organization_name="Other"
        )

        assert second.status_code == first.status_code == 202
        assert second.json() == first.json()
        assert second.headers["content-type"] == first.headers["content-type"]
        assert await count(db, User) == users_before
        assert await count(db, Organization) == organizations_before
        user = await user_with(db, email)
        assert user.full_name == "Jordan Riley"
        assert len(await emails_to(db, email, "account_exists")) == 1
        assert len(await emails_to(db, email, "verify_email")) == 1

    async def test_both_answers_queue_exactly_one_email_job(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        email = new_email()
        jobs = select(func.count()).where(OutboxJob.job_name == "email.send")
        before = await db.scalar(jobs)
        await register(api, email)
        after_new = await db.scalar(jobs)
        await register(api, email)
        after_existing = await db.scalar(jobs)

        assert before is not None
        assert after_new is not None
        assert after_new - before == 1
        assert after_existing is not None
        assert after_existing - after_new == 1

    async def test_a_common_password_is_refused_with_a_reason(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        email = new_email()

        answer = await register(api, email, password="password123")

        assert answer.status_code == 422
        body = answer.json()
        assert body["code"] == "weak_password"
        assert "password123" not in answer.text
        assert await db.scalar(select(User).where(User.email == email)) is None

    async def test_a_password_built_from_the_name_is_refused(
        self, api: httpx.AsyncClient
    ) -> None:
        answer = await register(api, new_email(), password="jordanriley2024")

        assert answer.status_code == 422
        assert answer.json()["code"] == "weak_password"

    async def test_a_short_password_is_refused(self, api: httpx.AsyncClient) -> None:
        answer = await register(api, new_email(), password="Xk9#mQ2")

        assert answer.status_code == 422
        assert answer.json()["code"] == "weak_password"

    async def test_a_malformed_address_is_a_validation_error(
        self, api: httpx.AsyncClient
    ) -> None:
        answer = await register(api, "not-an-address")

        assert answer.status_code == 422
        body = answer.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["loc"] == ["body", "email"]

    async def test_unknown_fields_are_refused(self, api: httpx.AsyncClient) -> None:
        answer = await api.post(
            "/api/v1/auth/register",
            json={
                "email": new_email(),
                "password": PASSWORD,
                "full_name": "Jordan Riley",
                "organization_name": "Riley Homes",
                "is_platform_admin": True,
            },
        )

        assert answer.status_code == 422


class TestLogin:
    async def test_right_password_gives_a_bearer_pair(
        self, api: httpx.AsyncClient
    ) -> None:
        tokens = await signed_in(api)

        assert tokens["token_type"] == "bearer"
        assert tokens["expires_in"] == 900
        assert tokens["access_token"].count(".") == 2
        assert "." not in tokens["refresh_token"]

    async def test_the_email_is_matched_without_regard_to_case(
        self, api: httpx.AsyncClient
    ) -> None:
        email = new_email()
        await register(api, email)

        answer = await login(api, email.upper())

        assert answer.status_code == 200

    async def test_wrong_password_and_unknown_address_answer_alike(
        self, api: httpx.AsyncClient
    ) -> None:
        email = new_email()
        await register(api, email)

        wrong = await login(api, email, "not-the-password-at-all")
        unknown = await login(api, new_email(), "not-the-password-at-all")

        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
        assert wrong.json()["detail"] == unknown.json()["detail"]

    async def test_a_failed_sign_in_is_recorded_although_the_answer_is_an_error(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        email = new_email()
        await register(api, email)
        user = await user_with(db, email)

        await login(api, email, "not-the-password-at-all")

        kinds = list(
            await db.scalars(
                select(SecurityEvent.kind).where(SecurityEvent.user_id == user.id)
            )
        )
        assert "login_failed" in kinds


class TestEmailVerification:
    async def test_the_emailed_token_confirms_the_address_once(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(api)
        email = tokens["email"]
        token = await last_token(db, email, "verify_email")

        first = await api.post("/api/v1/auth/verify-email", json={"token": token})
        again = await api.post("/api/v1/auth/verify-email", json={"token": token})

        assert first.status_code == 200
        assert again.status_code == 400
        assert again.json()["code"] == "invalid_token"
        me = await api.get("/api/v1/me", headers=bearer(tokens["access_token"]))
        assert me.json()["email_verified"] is True

    async def test_resend_voids_the_earlier_link(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(api)
        first = await last_token(db, tokens["email"], "verify_email")

        resent = await api.post(
            "/api/v1/auth/verify-email/resend",
            headers=bearer(tokens["access_token"]),
        )
        second = await last_token(db, tokens["email"], "verify_email")

        assert resent.status_code == 202
        assert second != first
        old = await api.post("/api/v1/auth/verify-email", json={"token": first})
        assert old.status_code == 400
        new = await api.post("/api/v1/auth/verify-email", json={"token": second})
        assert new.status_code == 200

    async def test_a_made_up_token_is_refused(self, api: httpx.AsyncClient) -> None:
        answer = await api.post("/api/v1/auth/verify-email", json={"token": "x" * 43})

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_token"


class TestMe:
    async def test_shows_the_account_and_its_organization(
        self, api: httpx.AsyncClient
    ) -> None:
        tokens = await signed_in(api)

        answer = await api.get("/api/v1/me", headers=bearer(tokens["access_token"]))

        assert answer.status_code == 200
        me = answer.json()
        assert me["email"] == tokens["email"]
        assert me["full_name"] == "Jordan Riley"
        assert me["mfa_enabled"] is False
        assert me["pending_email"] is None
        assert [m["role"] for m in me["memberships"]] == ["owner"]
        assert me["memberships"][0]["organization_name"] == "Riley Homes"
        assert "password_hash" not in answer.text

    async def test_a_new_name_applies_at_once(self, api: httpx.AsyncClient) -> None:
        tokens = await signed_in(api)

        answer = await api.patch(
            "/api/v1/me",
            json={"full_name": "Jordan R. Riley"},
            headers=bearer(tokens["access_token"]),
        )

        assert answer.status_code == 200
        assert answer.json()["full_name"] == "Jordan R. Riley"

    async def test_a_new_email_applies_only_once_confirmed_and_the_old_is_told(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(api)
        old = tokens["email"]
        new = new_email()
        headers = bearer(tokens["access_token"])

        pending = await api.patch("/api/v1/me", json={"email": new}, headers=headers)

        assert pending.json()["email"] == old
        assert pending.json()["pending_email"] == new
        token = await last_token(db, new, "email_change_verify")
        confirmed = await api.post("/api/v1/auth/verify-email", json={"token": token})
        assert confirmed.status_code == 200
        me = (await api.get("/api/v1/me", headers=headers)).json()
        assert me["email"] == new
        assert me["email_verified"] is True
        assert me["pending_email"] is None
        [notice] = await emails_to(db, old, "email_changed")
        assert notice.context["new_email"] == new
        assert (await login(api, new)).status_code == 200
        assert (await login(api, old)).status_code == 401

    async def test_moving_to_a_suppressed_address_mails_it_again(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(api)
        new = new_email()
        await suppress(db, new, reason="HardBounce")

        await api.patch(
            "/api/v1/me", json={"email": new}, headers=bearer(tokens["access_token"])
        )

        assert not await is_suppressed(db, new)
        assert len(await emails_to(db, new, "email_change_verify")) == 1

    async def test_asking_for_an_address_in_use_reveals_nothing(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        taken = (await signed_in(api))["email"]
        tokens = await signed_in(api)

        answer = await api.patch(
            "/api/v1/me",
            json={"email": taken},
            headers=bearer(tokens["access_token"]),
        )

        assert answer.status_code == 200
        assert answer.json()["pending_email"] == taken
        assert await emails_to(db, taken, "email_change_verify") == []
        assert len(await emails_to(db, taken, "account_exists")) == 1

    async def test_security_events_are_listed_newest_first_in_pages(
        self, api: httpx.AsyncClient
    ) -> None:
        tokens = await signed_in(api)
        headers = bearer(tokens["access_token"])
        await login(api, tokens["email"], "a-wrong-password-here")
        await login(api, tokens["email"])

        first = await api.get(
            "/api/v1/me/security-events", params={"limit": 2}, headers=headers
        )
        body = first.json()
        rest = await api.get(
            "/api/v1/me/security-events",
            params={"limit": 50, "cursor": body["next_cursor"]},
            headers=headers,
        )

        kinds = [e["kind"] for e in body["items"] + rest.json()["items"]]
        assert kinds == ["login", "login_failed", "login", "account_created"]
        assert rest.json()["next_cursor"] is None
        assert body["items"][0]["client_address"].startswith("10.")

    async def test_a_forged_cursor_is_a_clear_error(
        self, api: httpx.AsyncClient
    ) -> None:
        tokens = await signed_in(api)

        answer = await api.get(
            "/api/v1/me/security-events",
            params={"cursor": "bm9wZQ"},
            headers=bearer(tokens["access_token"]),
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_cursor"
