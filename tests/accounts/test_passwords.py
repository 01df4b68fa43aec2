"""Passwords in the account flows: checked off the event loop, upgraded at sign-in."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import httpx
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts import service
from asset_anchor.accounts.errors import WeakPassword
from asset_anchor.kit.passwords import needs_rehash, password_problem, verify_password
from tests.accounts.conftest import PASSWORD, login, signed_in, user_with

# Longest a blocked check waits for the other coroutine before giving up, so
# that a check running on the event loop fails the test instead of hanging it.
GIVE_UP_SECONDS = 5


class TestStrengthCheck:
    async def test_other_coroutines_run_while_the_check_is_in_progress(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        started = threading.Event()
        other_ran = threading.Event()
        saw_other: list[bool] = []
        real = password_problem

        def held_check(password: str, *, user_inputs: Sequence[str] = ()) -> str | None:
            # Finishes only once another coroutine has run. Were the check on
            # the event loop, that coroutine could not run before it returned.
            started.set()
            saw_other.append(other_ran.wait(GIVE_UP_SECONDS))
            return real(password, user_inputs=user_inputs)

        async def another_request() -> None:
            other_ran.set()

        monkeypatch.setattr(service, "password_problem", held_check)

        check = asyncio.create_task(
            service.check_password_strength(
                PASSWORD, full_name="Jordan Riley", email="jordan@example.test"
            )
        )
        assert await asyncio.to_thread(started.wait, GIVE_UP_SECONDS)
        await another_request()
        await check

        assert saw_other == [True]

    async def test_a_weak_password_is_still_refused(self) -> None:
        with pytest.raises(WeakPassword):
            await service.check_password_strength(
                "jordanriley2024", full_name="Jordan Riley", email="j@example.test"
            )


class TestRehashAtSignIn:
    async def test_a_hash_with_older_parameters_is_replaced_at_sign_in(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        pair = await signed_in(api)
        user = await user_with(db, pair["email"])
        weaker = PasswordHasher(
            time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID
        )
        old_hash = weaker.hash(PASSWORD)
        user.password_hash = old_hash
        await db.flush()
        assert needs_rehash(old_hash)

        answer = await login(api, pair["email"])

        assert answer.status_code == 200, answer.text
        await db.refresh(user)
        assert user.password_hash is not None
        assert user.password_hash != old_hash
        assert not needs_rehash(user.password_hash)
        assert await verify_password(user.password_hash, PASSWORD)
        assert (await login(api, pair["email"])).status_code == 200

    async def test_a_wrong_password_leaves_the_old_hash(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        pair = await signed_in(api)
        user = await user_with(db, pair["email"])
        old_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
        user.password_hash = old_hash
        await db.flush()

        answer = await login(api, pair["email"], "not-the-password-at-all")

        assert answer.status_code == 401
        await db.refresh(user)
        assert user.password_hash == old_hash
