"""The platform admin's user actions: find, unlock, deactivate, reactivate."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import SecurityEvent
from tests.accounts.conftest import (
    PASSWORD,
    bearer,
    login,
    new_email,
    signed_in,
    user_with,
)

ME = "/api/v1/me"
REFRESH = "/api/v1/auth/refresh"
WRONG_PASSWORD = "not-the-password-at-all"


USERS = "/api/v1/admin/users"


def action(user_id: uuid.UUID | str, verb: str) -> str:
    return f"{USERS}/{user_id}/{verb}"


async def admin_signed_in(api: httpx.AsyncClient, db: AsyncSession) -> dict[str, Any]:
    """A signed-in platform admin: its token pair, ``email`` and ``id``."""
    tokens = await signed_in(api)
    user = await user_with(db, tokens["email"])
    user.is_platform_admin = True
    await db.flush()
    return {**tokens, "id": user.id}


async def events_of(
    db: AsyncSession, user_id: uuid.UUID, kind: str
) -> list[SecurityEvent]:
    return list(
        await db.scalars(
            select(SecurityEvent).where(
                SecurityEvent.user_id == user_id, SecurityEvent.kind == kind
            )
        )
    )


class TestWhoMay:
    @pytest.mark.parametrize("verb", ["unlock", "deactivate", "reactivate"])
    async def test_a_user_who_is_not_an_admin_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession, verb: str
    ) -> None:
        caller = await signed_in(api)
        target = await signed_in(api)
        target_user = await user_with(db, target["email"])

        answer = await api.post(
            action(target_user.id, verb), headers=bearer(caller["access_token"])
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "admin_only"
        await db.refresh(target_user)
        assert target_user.deactivated_at is None
        assert await events_of(db, target_user.id, "account_deactivated") == []

    async def test_without_a_token_the_answer_is_401(
        self, api: httpx.AsyncClient
    ) -> None:
        answer = await api.post(action(uuid.uuid4(), "deactivate"))

        assert answer.status_code == 401

    async def test_a_user_who_is_not_an_admin_cannot_find_users(
        self, api: httpx.AsyncClient
    ) -> None:
        caller = await signed_in(api)
        target = await signed_in(api)

        answer = await api.get(
            USERS,
            params={"email": target["email"]},
            headers=bearer(caller["access_token"]),
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "admin_only"
        assert target["email"] not in answer.text

    async def test_finding_without_a_token_is_401(self, api: httpx.AsyncClient) -> None:
        answer = await api.get(USERS, params={"email": new_email()})

        assert answer.status_code == 401
        assert answer.json()["code"] == "not_authenticated"

    @pytest.mark.parametrize("verb", ["unlock", "deactivate", "reactivate"])
    async def test_an_unknown_user_is_404(
        self, api: httpx.AsyncClient, db: AsyncSession, verb: str
    ) -> None:
        admin = await admin_signed_in(api, db)

        answer = await api.post(
            action(uuid.uuid4(), verb), headers=bearer(admin["access_token"])
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "user_not_found"


class TestUnlock:
    async def test_unlock_lifts_a_lockout(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)
        target = await signed_in(api)
        user = await user_with(db, target["email"])
        for _ in range(5):
            await login(api, target["email"], WRONG_PASSWORD)
        locked = await login(api, target["email"], PASSWORD)
        assert locked.status_code == 429
        assert locked.json()["code"] == "account_locked"

        answer = await api.post(
            action(user.id, "unlock"), headers=bearer(admin["access_token"])
        )

        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "id": str(user.id),
            "email": target["email"],
            "full_name": "Jordan Riley",
            "is_platform_admin": False,
            "deactivated": False,
            "locked": False,
        }
        assert (await login(api, target["email"], PASSWORD)).status_code == 200
        [event] = await events_of(db, user.id, "account_unlocked")
        assert event.detail["by"] == str(admin["id"])


class TestFind:
    async def test_an_admin_finds_a_user_by_address_however_it_is_written(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)
        target = await signed_in(api)
        user = await user_with(db, target["email"])

        answer = await api.get(
            USERS,
            params={"email": f"  {target['email'].upper()} "},
            headers=bearer(admin["access_token"]),
        )

        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "id": str(user.id),
            "email": target["email"],
            "full_name": "Jordan Riley",
            "is_platform_admin": False,
            "deactivated": False,
            "locked": False,
        }

    async def test_the_answer_says_whether_sign_in_is_locked(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)
        target = await signed_in(api)
        for _ in range(5):
            await login(api, target["email"], WRONG_PASSWORD)
        headers = bearer(admin["access_token"])

        locked = await api.get(
            USERS, params={"email": target["email"]}, headers=headers
        )
        unlocked = await api.post(
            action(locked.json()["id"], "unlock"), headers=headers
        )

        assert locked.status_code == 200, locked.text
        assert locked.json()["locked"] is True
        assert unlocked.status_code == 200, unlocked.text
        assert unlocked.json()["locked"] is False

    async def test_an_unknown_address_is_404(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)

        answer = await api.get(
            USERS, params={"email": new_email()}, headers=bearer(admin["access_token"])
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "user_not_found"

    async def test_the_address_must_match_exactly(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)
        target = await signed_in(api)
        local, _, domain = target["email"].partition("@")

        answers = [
            await api.get(
                USERS, params={"email": email}, headers=bearer(admin["access_token"])
            )
            for email in (local, f"{local[:-1]}@{domain}", domain)
        ]

        assert [answer.status_code for answer in answers] == [404] * 3


class TestDeactivate:
    async def test_a_deactivated_account_is_shut_out_at_once(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)
        target = await signed_in(api)
        user = await user_with(db, target["email"])
        assert (await api.get(ME, headers=bearer(target["access_token"]))).is_success

        answer = await api.post(
            action(user.id, "deactivate"), headers=bearer(admin["access_token"])
        )

        assert answer.status_code == 200, answer.text
        assert answer.json()["deactivated"] is True
        me = await api.get(ME, headers=bearer(target["access_token"]))
        assert me.status_code == 401
        refreshed = await api.post(
            REFRESH, json={"refresh_token": target["refresh_token"]}
        )
        assert refreshed.status_code == 401
        assert refreshed.json()["code"] == "invalid_refresh_token"
        [event] = await events_of(db, user.id, "account_deactivated")
        assert event.detail["by"] == str(admin["id"])

    async def test_signing_in_answers_as_for_a_wrong_password(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)
        target = await signed_in(api)
        user = await user_with(db, target["email"])
        await api.post(
            action(user.id, "deactivate"), headers=bearer(admin["access_token"])
        )

        deactivated = await login(api, target["email"], PASSWORD)
        wrong = await login(api, new_email(), WRONG_PASSWORD)

        assert deactivated.status_code == wrong.status_code == 401
        assert deactivated.json()["code"] == "invalid_credentials"
        assert deactivated.json()["detail"] == wrong.json()["detail"]

    async def test_reactivation_lets_the_account_sign_in_again(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)
        target = await signed_in(api)
        user = await user_with(db, target["email"])
        await api.post(
            action(user.id, "deactivate"), headers=bearer(admin["access_token"])
        )
        assert (await login(api, target["email"], PASSWORD)).status_code == 401

        answer = await api.post(
            action(user.id, "reactivate"), headers=bearer(admin["access_token"])
        )

        assert answer.status_code == 200, answer.text
        assert answer.json()["deactivated"] is False
        signed = await login(api, target["email"], PASSWORD)
        assert signed.status_code == 200
        fresh = signed.json()["access_token"]
        assert (await api.get(ME, headers=bearer(fresh))).status_code == 200
        # The sessions ended by the deactivation stay ended.
        old = await api.get(ME, headers=bearer(target["access_token"]))
        assert old.status_code == 401
        [event] = await events_of(db, user.id, "account_reactivated")
        assert event.detail["by"] == str(admin["id"])

    async def test_every_admin_action_is_recorded_with_the_admin(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        admin = await admin_signed_in(api, db)
        target = await signed_in(api)
        user = await user_with(db, target["email"])
        headers = bearer(admin["access_token"])

        for verb in ("unlock", "deactivate", "reactivate"):
            assert (await api.post(action(user.id, verb), headers=headers)).is_success

        events = list(
            await db.scalars(
                select(SecurityEvent)
                .where(
                    SecurityEvent.user_id == user.id,
                    SecurityEvent.kind.in_(
                        [
                            "account_unlocked",
                            "account_deactivated",
                            "account_reactivated",
                        ]
                    ),
                )
                .order_by(SecurityEvent.created_at)
            )
        )
        assert sorted(event.kind for event in events) == [
            "account_deactivated",
            "account_reactivated",
            "account_unlocked",
        ]
        assert {event.detail["by"] for event in events} == {str(admin["id"])}
        assert all(event.client_address is not None for event in events)
