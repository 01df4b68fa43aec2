"""Repeated failed sign-ins lock the account and the client address."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.kit.passwords import verify_password
from asset_anchor.models import SecurityEvent
from asset_anchor.settings import Settings
from tests.accounts.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    bearer,
    emails_to,
    login,
    new_email,
    register,
    signed_in,
    user_with,
)
from tests.conftest import app_on, client_at, make_settings, random_address
from tests.support.proxy import free_port

WRONG_PASSWORD = "not-the-password-at-all"


def assert_locked(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == "account_locked"
    assert int(answer.headers["Retry-After"]) >= 1


async def fail(api: httpx.AsyncClient, email: str, times: int) -> list[httpx.Response]:
    return [await login(api, email, WRONG_PASSWORD) for _ in range(times)]


async def change_password(
    api: httpx.AsyncClient, access_token: str, current: str
) -> httpx.Response:
    return await api.post(
        "/api/v1/auth/password/change",
        json={"current_password": current, "new_password": NEW_PASSWORD},
        headers=bearer(access_token),
    )


class TestAccountLockout:
    async def test_five_wrong_passwords_lock_out_even_the_right_one(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        email = new_email()
        await register(api, email)

        failures = await fail(api, email, 5)
        sixth = await login(api, email, PASSWORD)

        assert [answer.status_code for answer in failures[:4]] == [401] * 4
        assert_locked(sixth)
        [notice] = await emails_to(db, email, "account_locked")
        assert notice.context["locked_minutes"] >= 1
        user = await user_with(db, email)
        locks = list(
            await db.scalars(
                select(SecurityEvent).where(
                    SecurityEvent.user_id == user.id,
                    SecurityEvent.kind == "account_locked",
                )
            )
        )
        assert len(locks) == 1
        assert locks[0].detail["seconds"] >= 1

    async def test_a_lock_lasts_from_any_client_address(self, app: FastAPI) -> None:
        email = new_email()
        async with client_at(app) as first:
            await register(first, email)
            await fail(first, email, 5)

        async with client_at(app) as elsewhere:
            assert_locked(await login(elsewhere, email, PASSWORD))

    async def test_an_address_without_an_account_locks_the_same_way(
        self, api: httpx.AsyncClient
    ) -> None:
        known = new_email()
        unknown = new_email()
        await register(api, known)
        await fail(api, known, 5)
        await fail(api, unknown, 5)

        known_after = await login(api, known, PASSWORD)
        unknown_after = await login(api, unknown, PASSWORD)

        assert_locked(known_after)
        assert_locked(unknown_after)
        assert known_after.json()["detail"] == unknown_after.json()["detail"]

    async def test_the_locking_failure_answers_alike_with_or_without_an_account(
        self, api: httpx.AsyncClient
    ) -> None:
        """The fifth failure itself must not tell which addresses have an account."""
        known = new_email()
        unknown = new_email()
        await register(api, known)
        await fail(api, known, 4)
        await fail(api, unknown, 4)

        known_fifth = await login(api, known, WRONG_PASSWORD)
        unknown_fifth = await login(api, unknown, WRONG_PASSWORD)

        assert (known_fifth.status_code, known_fifth.json()["code"]) == (
            unknown_fifth.status_code,
            unknown_fifth.json()["code"],
        )
        assert known_fifth.json()["detail"] == unknown_fifth.json()["detail"]

    async def test_a_success_starts_the_count_afresh(
        self, api: httpx.AsyncClient
    ) -> None:
        email = new_email()
        await register(api, email)

        before = await fail(api, email, 4)
        success = await login(api, email, PASSWORD)
        after = await fail(api, email, 4)
        last = await login(api, email, PASSWORD)

        assert [answer.status_code for answer in before + after] == [401] * 8
        assert success.status_code == 200
        assert last.status_code == 200


class TestSharedAndFailSafe:
    async def test_two_app_instances_on_one_redis_share_the_lock(
        self, app: FastAPI, settings: Settings, db: AsyncSession
    ) -> None:
        email = new_email()
        async with app_on(settings, db) as other_app:
            assert other_app.state.rate_limiter is not app.state.rate_limiter
            assert other_app.state.redis is not app.state.redis
            async with client_at(app) as on_a, client_at(other_app) as on_b:
                await register(on_a, email)
                through_a = await fail(on_a, email, 3)
                through_b = await fail(on_b, email, 2)

                answer = await login(on_a, email, PASSWORD)

        assert [a.status_code for a in through_a] == [401] * 3
        assert through_b[0].status_code == 401
        assert_locked(answer)

    async def test_limits_hold_while_redis_is_unreachable(
        self, database_url: str, db: AsyncSession
    ) -> None:
        no_redis = make_settings(
            database_url,
            f"redis://127.0.0.1:{free_port()}/0",
            redis_timeout_seconds=0.2,
        )
        email = new_email()
        async with app_on(no_redis, db) as app, client_at(app) as api:
            assert (await register(api, email)).status_code == 202
            failures = await fail(api, email, 5)

            answer = await login(api, email, PASSWORD)

        assert [a.status_code for a in failures[:4]] == [401] * 4
        assert_locked(answer)


class TestAddressLockout:
    async def test_thirty_failures_across_accounts_lock_the_client_address(
        self, app: FastAPI
    ) -> None:
        attacker = random_address()
        victim = new_email()
        async with client_at(app) as setup:
            await register(setup, victim)

        async with client_at(app, attacker) as api:
            failures = [
                await login(api, new_email(), WRONG_PASSWORD) for _ in range(30)
            ]
            refused = await login(api, victim, PASSWORD)

        assert [a.status_code for a in failures] == [401] * 30
        assert_locked(refused)
        other = random_address()
        assert other != attacker
        async with client_at(app, other) as elsewhere:
            assert (await login(elsewhere, victim, PASSWORD)).status_code == 200


class TestPasswordChangeLockout:
    """A stolen access token must not be an unlimited way to test passwords."""

    async def test_five_wrong_current_passwords_lock_even_the_right_one(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        pair = await signed_in(api)

        wrong = [
            await change_password(api, pair["access_token"], WRONG_PASSWORD)
            for _ in range(5)
        ]
        right = await change_password(api, pair["access_token"], PASSWORD)

        assert [answer.status_code for answer in wrong[:4]] == [400] * 4
        assert {answer.json()["code"] for answer in wrong[:4]} == {"wrong_password"}
        assert_locked(wrong[4])
        assert_locked(right)
        user = await user_with(db, pair["email"])
        await db.refresh(user)
        assert user.password_hash is not None
        assert await verify_password(user.password_hash, PASSWORD)
        [notice] = await emails_to(db, pair["email"], "account_locked")
        assert notice.context["locked_minutes"] >= 1

    async def test_a_sign_in_lock_holds_for_a_password_change(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        pair = await signed_in(api)
        await fail(api, pair["email"], 5)

        answer = await change_password(api, pair["access_token"], PASSWORD)

        assert_locked(answer)
        user = await user_with(db, pair["email"])
        await db.refresh(user)
        assert user.password_hash is not None
        assert await verify_password(user.password_hash, PASSWORD)

    async def test_wrong_current_passwords_lock_signing_in(
        self, api: httpx.AsyncClient
    ) -> None:
        pair = await signed_in(api)
        for _ in range(5):
            await change_password(api, pair["access_token"], WRONG_PASSWORD)

        answer = await login(api, pair["email"], PASSWORD)

        assert_locked(answer)
