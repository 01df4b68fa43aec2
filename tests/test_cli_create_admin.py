"""``asset-anchor create-admin``: a platform admin, and a link to set a password.

The command commits for real: every test removes what it made (users, their
organizations, emails, outbox rows and the Redis keys under its own prefix).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.app import create_app, lifespan
from asset_anchor.cli import main
from asset_anchor.models import (
    Email,
    Organization,
    OrganizationMembership,
    OutboxJob,
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
    login,
    new_email,
    register,
)
from tests.conftest import (
    REDIS_PREFIX,
    client_at,
    complete_registrations,
    email_secrets,
    make_settings,
)
from tests.test_cli import run_command

CONFIRM = "/api/v1/auth/password-reset/confirm"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the real environment may reach the command under test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def prefix(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> str:
    """The command's environment, with Redis keys no other test shares."""
    prefix = f"{REDIS_PREFIX}cli-admin-{secrets.token_hex(4)}:"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    return prefix


class Made:
    """Addresses the test used; everything committed for them goes at the end."""

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
        async with self.sessions.begin() as session:
            user_ids = list(
                await session.scalars(
                    select(User.id).where(User.email_normalized.in_(self.addresses))
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
                )
            )
            await session.execute(
                delete(OutboxJob).where(
                    OutboxJob.job_name == "accounts.complete_registration",
                    OutboxJob.completed_at.is_not(None),
                )
            )
            await session.execute(
                delete(Email).where(Email.to_address.in_(self.addresses))
            )
            # Sessions, tokens and security events go with the user (cascade).
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(
                delete(Organization).where(Organization.id.in_(organization_ids))
            )
        keys = [key async for key in self.redis.scan_iter(match=f"*{self.prefix}*")]
        if keys:
            await self.redis.delete(*keys)


@pytest.fixture
async def made(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    redis_url: str,
    prefix: str,
) -> AsyncIterator[Made]:
    client = Redis.from_url(redis_url)
    tracker = Made(committed_sessionmaker, client, prefix)
    try:
        yield tracker
    finally:
        try:
            await tracker.remove_all()
        finally:
            await client.aclose()


@pytest.fixture
async def real_app(
    made: Made, database_url: str, redis_url: str
) -> AsyncIterator[FastAPI]:
    """The API as deployed, on the same database: its requests commit."""
    app = create_app(
        make_settings(database_url, redis_url, redis_key_prefix=made.prefix)
    )
    async with lifespan(app):
        yield app


async def users_with(made: Made, email: str) -> list[User]:
    async with made.sessions() as session:
        return list(
            await session.scalars(
                select(User).where(User.email_normalized == email.lower())
            )
        )


async def set_password_emails(made: Made, email: str) -> list[Email]:
    async with made.sessions() as session:
        return await emails_to(session, email, "set_password")


def create_admin(email: str, *extra: str) -> int:
    return run_command(["create-admin", "--email", email, *extra])


class TestCreateAdmin:
    async def test_a_new_address_becomes_an_admin_without_a_password(
        self, made: Made, capsys: pytest.CaptureFixture[str]
    ) -> None:
        email = made.new_email()

        code = create_admin(email, "--name", "Ops Team")

        out = capsys.readouterr().out
        assert code == 0
        assert f"{email} is now a platform admin (a new account)" in out
        assert "a link to choose a password is queued" in out
        [user] = await users_with(made, email)
        assert user.is_platform_admin is True
        assert user.password_hash is None
        assert user.full_name == "Ops Team"
        assert user.deactivated_at is None
        [link] = await set_password_emails(made, email)
        assert len(email_secrets(link)["token"]) >= 40
        assert link.context["expires_hours"] == 72
        async with made.sessions() as session:
            jobs = list(
                await session.scalars(
                    select(OutboxJob).where(OutboxJob.job_name == "email.send")
                )
            )
            granted = await session.scalar(
                select(SecurityEvent).where(
                    SecurityEvent.user_id == user.id,
                    SecurityEvent.kind == "admin_granted",
                )
            )
        assert [j for j in jobs if j.arguments["email_id"] == str(link.id)]
        assert granted is not None
        assert granted.detail == {"via": "cli"}

    async def test_the_name_defaults_to_the_local_part_of_the_address(
        self, made: Made
    ) -> None:
        email = made.new_email()

        assert create_admin(email) == 0

        [user] = await users_with(made, email)
        assert user.full_name == email.partition("@")[0]

    async def test_the_emailed_link_sets_the_password(
        self, made: Made, real_app: FastAPI
    ) -> None:
        email = made.new_email()
        assert create_admin(email) == 0
        [link] = await set_password_emails(made, email)

        async with client_at(real_app) as api:
            answer = await api.post(
                CONFIRM,
                json={
                    "token": email_secrets(link)["token"],
                    "new_password": NEW_PASSWORD,
                },
            )
            assert answer.status_code == 200, answer.text
            signed = await login(api, email, NEW_PASSWORD)
            assert signed.status_code == 200, signed.text
            me = await api.get(
                "/api/v1/me", headers=bearer(signed.json()["access_token"])
            )
            again = await api.post(
                CONFIRM,
                json={"token": email_secrets(link)["token"], "new_password": PASSWORD},
            )

        assert me.json()["is_platform_admin"] is True
        assert me.json()["email_verified"] is True
        assert again.status_code == 400
        assert again.json()["code"] == "invalid_token"
        [user] = await users_with(made, email)
        assert user.password_hash is not None

    async def test_running_it_again_keeps_one_account_and_one_live_link(
        self, made: Made, real_app: FastAPI, capsys: pytest.CaptureFixture[str]
    ) -> None:
        email = made.new_email()
        assert create_admin(email) == 0
        capsys.readouterr()

        code = create_admin(email.upper())

        out = capsys.readouterr().out
        assert code == 0
        assert "(an existing account)" in out
        assert "a link to choose a password is queued" in out
        [user] = await users_with(made, email)
        assert user.is_platform_admin is True
        first, second = await set_password_emails(made, email)
        async with made.sessions() as session:
            live = await session.scalar(
                select(func.count()).where(
                    UserToken.user_id == user.id, UserToken.used_at.is_(None)
                )
            )
        assert live == 1
        async with client_at(real_app) as api:
            stale = await api.post(
                CONFIRM,
                json={
                    "token": email_secrets(first)["token"],
                    "new_password": NEW_PASSWORD,
                },
            )
            fresh = await api.post(
                CONFIRM,
                json={
                    "token": email_secrets(second)["token"],
                    "new_password": NEW_PASSWORD,
                },
            )
        assert stale.status_code == 400
        assert fresh.status_code == 200

    async def test_an_account_with_a_password_is_promoted_and_keeps_it(
        self, made: Made, real_app: FastAPI, capsys: pytest.CaptureFixture[str]
    ) -> None:
        email = made.new_email()
        async with client_at(real_app) as api:
            assert (await register(api, email)).status_code == 202
        async with made.sessions.begin() as session:
            assert await complete_registrations(session, real_app.state.settings) >= 1

        code = create_admin(email)

        out = capsys.readouterr().out
        assert code == 0
        assert "(an existing account); it keeps its password" in out
        [user] = await users_with(made, email)
        assert user.is_platform_admin is True
        assert user.password_hash is not None
        assert await set_password_emails(made, email) == []
        async with client_at(real_app) as api:
            assert (await login(api, email, PASSWORD)).status_code == 200

    async def test_a_malformed_address_is_refused_and_nothing_is_made(
        self, made: Made, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = create_admin("ops-at-example.test")

        err = capsys.readouterr().err
        # The CLI's status for refused input (as for send-test-email).
        assert code == 2
        assert "not an email address: 'ops-at-example.test'" in err
        assert await users_with(made, "ops-at-example.test") == []


class TestNoPasswordOnTheCommandLine:
    def test_there_is_no_password_option(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as raised:
            main(
                [
                    "create-admin",
                    "--email",
                    "ops@example.test",
                    "--password",
                    "hunter2-hunter2",
                ]
            )

        assert raised.value.code == 2
        assert "unrecognized arguments: --password" in capsys.readouterr().err

    def test_the_email_is_required(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as raised:
            main(["create-admin"])

        assert raised.value.code == 2
        assert "--email" in capsys.readouterr().err
