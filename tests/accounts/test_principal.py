"""Handlers get an already-checked principal: verified, admin, or refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.auth import AdminPrincipal, VerifiedPrincipal
from asset_anchor.settings import Settings
from tests.accounts.conftest import bearer, last_token, signed_in, user_with
from tests.conftest import app_on, client_at

router = APIRouter(prefix="/api/v1/probe", tags=["probe"])


@router.post("/money")
async def move_money(caller: VerifiedPrincipal) -> dict[str, str]:
    return {"user_id": str(caller.user_id)}


@router.get("/admin")
async def admin_only(caller: AdminPrincipal) -> dict[str, bool]:
    return {"admin": caller.is_platform_admin}


@pytest.fixture
async def probe(
    settings: Settings, db: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_on(settings, db) as app:
        app.include_router(router)
        async with client_at(app) as client:
            yield client


class TestVerifiedPrincipal:
    async def test_an_unverified_user_signs_in_but_cannot_move_money(
        self, probe: httpx.AsyncClient
    ) -> None:
        tokens = await signed_in(probe)

        answer = await probe.post(
            "/api/v1/probe/money", headers=bearer(tokens["access_token"])
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "email_not_verified"

    async def test_once_verified_the_same_token_may(
        self, probe: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(probe)
        token = await last_token(db, tokens["email"], "verify_email")
        await probe.post("/api/v1/auth/verify-email", json={"token": token})

        answer = await probe.post(
            "/api/v1/probe/money", headers=bearer(tokens["access_token"])
        )

        user = await user_with(db, tokens["email"])
        assert answer.status_code == 200
        assert answer.json() == {"user_id": str(user.id)}

    async def test_no_token_is_a_401_not_a_403(self, probe: httpx.AsyncClient) -> None:
        answer = await probe.post("/api/v1/probe/money")

        assert answer.status_code == 401


class TestAdminPrincipal:
    async def test_only_platform_admins_pass(
        self, probe: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(probe)
        headers = bearer(tokens["access_token"])

        refused = await probe.get("/api/v1/probe/admin", headers=headers)
        user = await user_with(db, tokens["email"])
        user.is_platform_admin = True
        await db.flush()
        allowed = await probe.get("/api/v1/probe/admin", headers=headers)

        assert refused.status_code == 403
        assert refused.json()["code"] == "admin_only"
        assert allowed.status_code == 200
        assert allowed.json() == {"admin": True}
