"""Client addresses behind proxies: only the entries our proxies wrote count."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import SecurityEvent
from asset_anchor.proxy import ForwardedHeadersMiddleware, client_from_forwarded
from asset_anchor.settings import Settings
from tests.accounts.conftest import new_email
from tests.conftest import app_on


class TestTheForwardedList:
    @pytest.mark.parametrize(
        ("values", "hops", "client"),
        [
            (["203.0.113.7"], 1, "203.0.113.7"),
            (["198.51.100.1, 203.0.113.7"], 1, "203.0.113.7"),
            (["198.51.100.1", "203.0.113.7"], 1, "203.0.113.7"),
            (["198.51.100.1, 203.0.113.7, 10.0.0.2"], 2, "203.0.113.7"),
            (["203.0.113.7"], 2, "203.0.113.7"),
            (["2001:db8::1"], 1, "2001:db8::1"),
        ],
        ids=[
            "one-entry",
            "forged-entry-first",
            "two-headers",
            "two-proxies",
            "fewer-entries-than-hops",
            "ipv6",
        ],
    )
    def test_the_client_is_counted_from_the_right(
        self, values: list[str], hops: int, client: str
    ) -> None:
        assert client_from_forwarded(values, hops) == client

    @pytest.mark.parametrize("values", [[], [""], ["unknown"], ["1.2.3.4, <script>"]])
    def test_nothing_usable_gives_none(self, values: list[str]) -> None:
        assert client_from_forwarded(values, 1) is None


def echo_app(trusted: str, hops: int = 1) -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, str | None]:
        return {
            "client": request.client.host if request.client else None,
            "scheme": request.url.scheme,
        }

    app.add_middleware(ForwardedHeadersMiddleware, trusted=trusted, hops=hops)
    return app


async def ask(app: FastAPI, peer: str, headers: dict[str, str]) -> dict[str, str]:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        answer: dict[str, str] = (await api.get("/who", headers=headers)).json()
        return answer


class TestTheMiddleware:
    async def test_a_forged_left_entry_is_ignored_behind_a_trusted_proxy(
        self,
    ) -> None:
        app = echo_app("*")

        seen = await ask(
            app,
            "10.1.2.3",
            {
                "X-Forwarded-For": "198.51.100.99, 203.0.113.7",
                "X-Forwarded-Proto": "https",
            },
        )

        assert seen == {"client": "203.0.113.7", "scheme": "https"}

    async def test_an_untrusted_peer_cannot_claim_another_address(self) -> None:
        app = echo_app("10.0.0.0/8")

        seen = await ask(
            app,
            "192.0.2.50",
            {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        )

        assert seen == {"client": "192.0.2.50", "scheme": "http"}

    async def test_a_peer_in_a_trusted_network_is_believed(self) -> None:
        app = echo_app("10.0.0.0/8, 127.0.0.1")

        seen = await ask(app, "10.9.8.7", {"X-Forwarded-For": "203.0.113.7"})

        assert seen["client"] == "203.0.113.7"

    async def test_without_the_header_the_peer_stays(self) -> None:
        app = echo_app("*")

        seen = await ask(app, "10.1.2.3", {})

        assert seen["client"] == "10.1.2.3"


class TestTheSetting:
    def test_a_malformed_trusted_entry_is_refused_at_start(self) -> None:
        with pytest.raises(ValidationError, match="not an IP address or CIDR"):
            Settings(environment="test", forwarded_allow_ips="10.0.0.0/8, proxy.local")


class TestTheApp:
    async def test_security_events_record_the_address_our_proxy_saw(
        self, settings: Settings, db: AsyncSession
    ) -> None:
        behind_proxy = settings.model_copy(update={"forwarded_allow_ips": "*"})
        email = new_email()
        async with app_on(behind_proxy, db) as app:
            transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://api"
            ) as api:
                await api.post(
                    "/api/v1/auth/login",
                    json={"email": email, "password": "not-the-password-at-all"},
                    headers={"X-Forwarded-For": "198.51.100.99, 203.0.113.7"},
                )

        event = await db.scalar(
            select(SecurityEvent)
            .where(SecurityEvent.kind == "login_failed")
            .order_by(SecurityEvent.created_at.desc())
            .limit(1)
        )
        assert event is not None
        assert str(event.client_address) == "203.0.113.7"
