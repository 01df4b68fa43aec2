"""Password reset by emailed link, and password change knowing the current one."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.app import create_app, lifespan
from asset_anchor.kit.time import utc_now
from asset_anchor.models import (
    Email,
    Organization,
    OrganizationMembership,
    OutboxJob,
    PendingRegistration,
    SecurityEvent,
    User,
    UserToken,
)
from asset_anchor.settings import Settings
from tests.accounts.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    bearer,
    emails_to,
    last_token,
    login,
    new_email,
    register,
    run_reset_jobs,
    signed_in,
    user_with,
)
from tests.conftest import (
    REDIS_PREFIX,
    client_at,
    complete_registrations,
    email_secrets,
    make_settings,
    random_address,
)

REQUEST = "/api/v1/auth/password-reset/request"
CONFIRM = "/api/v1/auth/password-reset/confirm"
CHANGE = "/api/v1/auth/password/change"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/me"
WEAK_PASSWORD = "password123"
WRONG_PASSWORD = "not-the-password-at-all"


async def reset_jobs_for(db: AsyncSession, email: str) -> list[OutboxJob]:
    rows = await db.scalars(
        select(OutboxJob).where(OutboxJob.job_name == "accounts.send_password_reset")
    )
    return [row for row in rows if row.arguments.get("email") == email.lower()]


async def email_count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Email)) or 0)


async def reset_token(
    api: httpx.AsyncClient, db: AsyncSession, settings: Settings, email: str
) -> str:
    """Ask for a reset, run the worker's job, and read the emailed token."""
    answer = await api.post(REQUEST, json={"email": email})
    assert answer.status_code == 202, answer.text
    assert await run_reset_jobs(db, settings) >= 1
    return await last_token(db, email, "password_reset")


async def confirm(
    api: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await api.post(CONFIRM, json={"token": token, "new_password": password})


def distinct_addresses(count: int) -> list[str]:
    addresses: set[str] = set()
    while len(addresses) < count:
        addresses.add(random_address())
    return sorted(addresses)


class TestResetRequest:
    async def test_known_and_unknown_addresses_get_the_same_answer_and_work(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        known = new_email()
        unknown = new_email()
        assert (await register(api, known)).status_code == 202
        emails_before = await email_count(db)

        for_known = await api.post(REQUEST, json={"email": known})
        for_unknown = await api.post(REQUEST, json={"email": unknown})

        assert for_known.status_code == for_unknown.status_code == 202
        assert for_known.json() == for_unknown.json()
        assert for_known.headers["content-type"] == for_unknown.headers["content-type"]
        assert len(await reset_jobs_for(db, known)) == 1
        assert len(await reset_jobs_for(db, unknown)) == 1
        # The email is the worker's decision: the request writes none.
        assert await email_count(db) == emails_before
        assert await emails_to(db, known, "password_reset") == []

    async def test_the_job_emails_a_link_only_to_an_existing_account(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        known = new_email()
        unknown = new_email()
        await register(api, known)
        await api.post(REQUEST, json={"email": known})
        await api.post(REQUEST, json={"email": unknown})

        ran = await run_reset_jobs(db, settings)

        assert ran >= 2
        [link] = await emails_to(db, known, "password_reset")
        assert len(email_secrets(link)["token"]) >= 40
        assert await emails_to(db, unknown) == []

    async def test_the_address_is_matched_without_regard_to_case(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(api, email)

        await api.post(REQUEST, json={"email": email.upper()})
        await run_reset_jobs(db, settings)

        assert len(await emails_to(db, email, "password_reset")) == 1


class TestResetConfirm:
    async def test_the_new_password_works_and_the_old_one_no_longer(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(api, email)
        token = await reset_token(api, db, settings, email)

        answer = await confirm(api, token)

        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "ok"}
        assert (await login(api, email, NEW_PASSWORD)).status_code == 200
        old = await login(api, email, PASSWORD)
        assert old.status_code == 401
        assert old.json()["code"] == "invalid_credentials"

    async def test_every_session_ends(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        first = await signed_in(api)
        email = first["email"]
        second = (await login(api, email)).json()
        assert (await api.get(ME, headers=bearer(first["access_token"]))).is_success
        token = await reset_token(api, db, settings, email)

        assert (await confirm(api, token)).status_code == 200

        for pair in (first, second):
            me = await api.get(ME, headers=bearer(pair["access_token"]))
            assert me.status_code == 401
            refreshed = await api.post(
                REFRESH, json={"refresh_token": pair["refresh_token"]}
            )
            assert refreshed.status_code == 401
            assert refreshed.json()["code"] == "invalid_refresh_token"

    async def test_the_owner_is_told_and_the_address_counts_as_confirmed(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(api, email)
        user = await user_with(db, email)
        assert user.email_verified_at is None
        token = await reset_token(api, db, settings, email)

        assert (await confirm(api, token)).status_code == 200

        [notice] = await emails_to(db, email, "password_changed")
        assert "changed_at" in notice.context
        await db.refresh(user)
        assert user.email_verified_at is not None
        kinds = list(
            await db.scalars(
                select(SecurityEvent.kind).where(SecurityEvent.user_id == user.id)
            )
        )
        assert "password_reset" in kinds

    async def test_the_link_works_once(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(api, email)
        token = await reset_token(api, db, settings, email)

        first = await confirm(api, token)
        again = await confirm(api, token, "another-unusual-phrase-entirely")

        assert first.status_code == 200
        assert again.status_code == 400
        assert again.json()["code"] == "invalid_token"
        assert (await login(api, email, NEW_PASSWORD)).status_code == 200

    async def test_a_second_request_voids_the_first_link(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(api, email)
        earlier = await reset_token(api, db, settings, email)
        later = await reset_token(api, db, settings, email)
        assert later != earlier

        old = await confirm(api, earlier)
        new = await confirm(api, later)

        assert old.status_code == 400
        assert old.json()["code"] == "invalid_token"
        assert new.status_code == 200

    async def test_an_expired_link_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(api, email)
        token = await reset_token(api, db, settings, email)
        user = await user_with(db, email)
        await db.execute(
            update(UserToken)
            .where(
                UserToken.user_id == user.id,
                UserToken.purpose == "reset_password",
            )
            .values(expires_at=utc_now() - timedelta(minutes=1))
        )
        await db.flush()

        answer = await confirm(api, token)

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_token"
        assert (await login(api, email, PASSWORD)).status_code == 200

    async def test_a_made_up_token_is_refused(self, api: httpx.AsyncClient) -> None:
        answer = await confirm(api, "x" * 43)

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_token"

    async def test_a_reset_lifts_a_sign_in_lockout(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        email = new_email()
        await register(api, email)
        for _ in range(5):
            await login(api, email, WRONG_PASSWORD)
        assert (await login(api, email, PASSWORD)).status_code == 429
        token = await reset_token(api, db, settings, email)

        assert (await confirm(api, token)).status_code == 200

        assert (await login(api, email, NEW_PASSWORD)).status_code == 200


# --- a weak password, on an app whose requests commit and roll back for real --


class Committed:
    """Accounts made through a real, committing app; removed again after."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], redis: Redis, prefix: str
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.prefix = prefix
        self.addresses: list[str] = []

    def new_email(self) -> str:
        email = new_email()
        self.addresses.append(email)
        return email

    async def remove_all(self) -> None:
        normalized = [address.lower() for address in self.addresses]
        async with self.sessions.begin() as session:
            user_ids = list(
                await session.scalars(
                    select(User.id).where(User.email_normalized.in_(normalized))
                )
            )
            organization_ids = list(
                await session.scalars(
                    select(OrganizationMembership.organization_id).where(
                        OrganizationMembership.user_id.in_(user_ids)
                    )
                )
            )
            email_ids = [
                str(email_id)
                for email_id in await session.scalars(
                    select(Email.id).where(Email.to_address.in_(self.addresses))
                )
            ]
            await session.execute(
                delete(OutboxJob).where(
                    OutboxJob.arguments["email_id"].astext.in_(email_ids)
                    | OutboxJob.arguments["email"].astext.in_(normalized)
                )
            )
            await session.execute(
                delete(OutboxJob).where(
                    OutboxJob.job_name == "accounts.complete_registration",
                    OutboxJob.completed_at.is_not(None),
                )
            )
            await session.execute(
                delete(PendingRegistration).where(
                    PendingRegistration.email_normalized.in_(normalized)
                )
            )
            await session.execute(
                delete(Email).where(Email.to_address.in_(self.addresses))
            )
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(
                delete(Organization).where(Organization.id.in_(organization_ids))
            )
        keys = [key async for key in self.redis.scan_iter(match=f"*{self.prefix}*")]
        if keys:
            await self.redis.delete(*keys)


@pytest.fixture
async def committed(
    committed_sessionmaker: async_sessionmaker[AsyncSession], redis: Redis
) -> AsyncIterator[Committed]:
    made = Committed(
        committed_sessionmaker, redis, f"{REDIS_PREFIX}reset-{secrets.token_hex(4)}:"
    )
    try:
        yield made
    finally:
        await made.remove_all()


@pytest.fixture
async def real_app(
    committed: Committed, database_url: str, redis_url: str
) -> AsyncIterator[FastAPI]:
    """The API exactly as deployed: each request commits, or rolls back."""
    app = create_app(
        make_settings(database_url, redis_url, redis_key_prefix=committed.prefix)
    )
    async with lifespan(app):
        yield app


class TestWeakPasswordOnReset:
    async def test_a_weak_password_is_refused_and_the_link_still_works(
        self, real_app: FastAPI, committed: Committed, settings: Settings
    ) -> None:
        email = committed.new_email()
        async with client_at(real_app) as api:
            assert (await register(api, email)).status_code == 202
            assert (await api.post(REQUEST, json={"email": email})).status_code == 202
            async with committed.sessions.begin() as session:
                assert await complete_registrations(session, settings) >= 1
                assert await run_reset_jobs(session, settings) >= 1
            async with committed.sessions() as session:
                token = await last_token(session, email, "password_reset")

            weak = await confirm(api, token, WEAK_PASSWORD)

            assert weak.status_code == 422
            assert weak.json()["code"] == "weak_password"
            async with committed.sessions() as session:
                user = await user_with(session, email)
                link = await session.scalar(
                    select(UserToken).where(
                        UserToken.user_id == user.id,
                        UserToken.purpose == "reset_password",
                    )
                )
            assert link is not None
            assert link.used_at is None
            assert (await login(api, email, WEAK_PASSWORD)).status_code == 401

            strong = await confirm(api, token)

            assert strong.status_code == 200, strong.text
            assert (await login(api, email, NEW_PASSWORD)).status_code == 200


class TestResetRateLimit:
    async def test_the_fourth_request_for_one_address_in_an_hour_is_refused(
        self, app: FastAPI, db: AsyncSession
    ) -> None:
        email = new_email()
        senders = distinct_addresses(4)
        answers = []
        for sender in senders:
            async with client_at(app, sender) as api:
                answers.append(await api.post(REQUEST, json={"email": email}))

        assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
        refused = answers[-1]
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        assert len(await reset_jobs_for(db, email)) == 3

    async def test_the_limit_counts_the_address_however_it_is_written(
        self, app: FastAPI
    ) -> None:
        email = new_email()
        spellings = [email, email.upper(), f"  {email}  ", email.title()]
        codes = []
        for spelling, sender in zip(spellings, distinct_addresses(4), strict=True):
            async with client_at(app, sender) as api:
                codes.append(
                    (await api.post(REQUEST, json={"email": spelling})).status_code
                )

        assert codes == [202, 202, 202, 429]

    async def test_another_address_is_not_held_back(self, app: FastAPI) -> None:
        email = new_email()
        async with client_at(app) as api:
            for _ in range(3):
                await api.post(REQUEST, json={"email": email})
            assert (await api.post(REQUEST, json={"email": email})).status_code == 429

            other = await api.post(REQUEST, json={"email": new_email()})

        assert other.status_code == 202


class TestPasswordChange:
    async def test_a_wrong_current_password_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(api)

        answer = await api.post(
            CHANGE,
            json={"current_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(tokens["access_token"]),
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "wrong_password"
        assert (await login(api, tokens["email"], PASSWORD)).status_code == 200
        assert await emails_to(db, tokens["email"], "password_changed") == []

    async def test_other_sessions_end_and_this_one_goes_on(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        this = await signed_in(api)
        email = this["email"]
        other = (await login(api, email)).json()
        assert (await api.get(ME, headers=bearer(other["access_token"]))).is_success

        answer = await api.post(
            CHANGE,
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(this["access_token"]),
        )

        assert answer.status_code == 200, answer.text
        assert (
            await api.get(ME, headers=bearer(other["access_token"]))
        ).status_code == (401)
        refreshed = await api.post(
            REFRESH, json={"refresh_token": other["refresh_token"]}
        )
        assert refreshed.status_code == 401
        assert (
            await api.get(ME, headers=bearer(this["access_token"]))
        ).status_code == 200
        kept = await api.post(REFRESH, json={"refresh_token": this["refresh_token"]})
        assert kept.status_code == 200
        [notice] = await emails_to(db, email, "password_changed")
        assert "changed_at" in notice.context
        assert (await login(api, email, NEW_PASSWORD)).status_code == 200
        assert (await login(api, email, PASSWORD)).status_code == 401

    async def test_a_weak_new_password_is_refused(self, api: httpx.AsyncClient) -> None:
        tokens = await signed_in(api)

        answer = await api.post(
            CHANGE,
            json={"current_password": PASSWORD, "new_password": WEAK_PASSWORD},
            headers=bearer(tokens["access_token"]),
        )

        assert answer.status_code == 422
        assert answer.json()["code"] == "weak_password"
        assert (await login(api, tokens["email"], PASSWORD)).status_code == 200
