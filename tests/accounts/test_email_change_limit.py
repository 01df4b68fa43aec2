"""A change of email address sends mail, so each account may ask five an hour."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts.conftest import bearer, emails_to, new_email, signed_in
from tests.conftest import client_at

ME = "/api/v1/me"


async def change_email(
    api: httpx.AsyncClient, access_token: str, email: str, **fields: str
) -> httpx.Response:
    return await api.patch(
        ME, json={"email": email, **fields}, headers=bearer(access_token)
    )


class TestEmailChangeLimit:
    async def test_the_sixth_new_address_in_an_hour_is_refused_and_not_mailed(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        pair = await signed_in(api)
        token = pair["access_token"]
        earlier = [await change_email(api, token, new_email()) for _ in range(5)]
        sixth = new_email()

        answer = await change_email(api, token, sixth, full_name="Jordan R. Riley")

        assert [reply.status_code for reply in earlier] == [200] * 5
        assert answer.status_code == 429
        assert answer.json()["code"] == "rate_limited"
        assert int(answer.headers["Retry-After"]) >= 1
        assert await emails_to(db, sixth) == []
        me = (await api.get(ME, headers=bearer(token))).json()
        assert me["full_name"] == "Jordan Riley"
        assert me["pending_email"] != sixth

    async def test_changes_that_send_nothing_are_not_held_back(
        self, api: httpx.AsyncClient
    ) -> None:
        pair = await signed_in(api)
        token = pair["access_token"]
        for _ in range(5):
            await change_email(api, token, new_email())

        renamed = await api.patch(
            ME, json={"full_name": "Jordan R. Riley"}, headers=bearer(token)
        )
        same = await change_email(api, token, pair["email"].upper())

        assert renamed.status_code == 200, renamed.text
        assert same.status_code == 200, same.text

    async def test_the_limit_is_per_account(self, app: FastAPI) -> None:
        async with client_at(app) as api:
            busy = await signed_in(api)
            other = await signed_in(api)
            for _ in range(5):
                await change_email(api, busy["access_token"], new_email())

            answer = await change_email(api, other["access_token"], new_email())

        assert answer.status_code == 200, answer.text
