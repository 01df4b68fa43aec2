"""Access tokens are refused unless exactly right; sessions end when told to."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.accounts.tokens import (
    TokenInvalid,
    issue_access_token,
    key_id,
    read_token,
)
from asset_anchor.app import create_app, lifespan
from asset_anchor.kit.time import utc_now
from asset_anchor.models import AuthSession, SecurityEvent
from asset_anchor.settings import Settings
from tests.accounts.conftest import bearer, signed_in, user_with
from tests.conftest import app_on, client_at, make_settings

ME = "/api/v1/me"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def forge(settings: Settings, claims: dict[str, Any], **header: Any) -> str:
    """A token signed with our real secret, with whatever claims a test needs."""
    secret = settings.jwt_secret_value()
    return jwt.encode(
        claims,
        secret,
        algorithm=header.pop("alg", "HS256"),
        headers={"kid": key_id(secret), **header},
    )


def unsigned(settings: Settings, claims: dict[str, Any]) -> str:
    """An ``alg: none`` token naming our real key, so that only the algorithm
    list can refuse it (an unknown ``kid`` would be refused before)."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = {"alg": "none", "typ": "JWT", "kid": key_id(settings.jwt_secret_value())}
    return f"{part(header)}.{part(claims)}."


class TestAccessTokens:
    async def test_the_issued_token_carries_the_documented_claims(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        tokens = await signed_in(api)

        header = jwt.get_unverified_header(tokens["access_token"])
        claims = claims_of(tokens["access_token"])

        assert header["alg"] == "HS256"
        assert header["kid"] == key_id(settings.jwt_secret_value())
        assert claims["iss"] == settings.jwt_issuer
        assert claims["aud"] == settings.jwt_audience
        assert claims["typ"] == "access"
        assert {"sub", "sid", "iat", "exp"} <= claims.keys()
        assert claims["exp"] - claims["iat"] == 900

    async def test_a_good_token_works(self, api: httpx.AsyncClient) -> None:
        tokens = await signed_in(api)

        answer = await api.get(ME, headers=bearer(tokens["access_token"]))

        assert answer.status_code == 200

    @pytest.mark.parametrize(
        "tamper",
        [
            "alg_none",
            "hs512",
            "bad_signature",
            "expired",
            "wrong_audience",
            "wrong_issuer",
            "wrong_type",
            "unknown_kid",
            "no_sid",
        ],
    )
    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    async def test_a_tampered_token_is_refused(
        self, api: httpx.AsyncClient, settings: Settings, tamper: str
    ) -> None:
        tokens = await signed_in(api)
        good = claims_of(tokens["access_token"])
        now = int(utc_now().timestamp())
        variants: dict[str, Callable[[], str]] = {
            "alg_none": lambda: unsigned(settings, good),
            "hs512": lambda: forge(settings, good, alg="HS512"),
            "bad_signature": lambda: tokens["access_token"][:-4] + "AAAA",
            "expired": lambda: forge(
                settings, {**good, "iat": now - 3600, "exp": now - 1800}
            ),
            "wrong_audience": lambda: forge(settings, {**good, "aud": "another-api"}),
            "wrong_issuer": lambda: forge(settings, {**good, "iss": "someone-else"}),
            "wrong_type": lambda: forge(settings, {**good, "typ": "mfa_challenge"}),
            "unknown_kid": lambda: forge(settings, good, kid="0123456789abcdef"),
            "no_sid": lambda: forge(
                settings, {k: v for k, v in good.items() if k != "sid"}
            ),
        }
        token = variants[tamper]()

        answer = await api.get(ME, headers=bearer(token))

        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        expected = "token_expired" if tamper == "expired" else "not_authenticated"
        assert answer.json()["code"] == expected

    @pytest.mark.parametrize("alg", ["none", "HS512"])
    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    def test_only_the_algorithm_list_refuses_another_algorithm(
        self, settings: Settings, alg: str
    ) -> None:
        good, _ = issue_access_token(
            settings, user_id=uuid.uuid4(), session_id=uuid.uuid4()
        )
        claims = claims_of(good)
        token = (
            unsigned(settings, claims)
            if alg == "none"
            else forge(settings, claims, alg=alg)
        )

        with pytest.raises(TokenInvalid) as refused:
            read_token(settings, token, expected="access")

        assert jwt.get_unverified_header(token)["kid"] == key_id(
            settings.jwt_secret_value()
        )
        assert str(refused.value) == "InvalidAlgorithmError"
        assert read_token(settings, good, expected="access").user_id is not None

    async def test_a_refresh_token_is_not_an_access_token(
        self, api: httpx.AsyncClient
    ) -> None:
        tokens = await signed_in(api)

        answer = await api.get(ME, headers=bearer(tokens["refresh_token"]))

        assert answer.status_code == 401
        assert answer.json()["code"] == "not_authenticated"

    @pytest.mark.parametrize(
        "header", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer  ", "token abc"]
    )
    async def test_a_missing_or_malformed_header_is_refused(
        self, api: httpx.AsyncClient, header: str | None
    ) -> None:
        headers = {} if header is None else {"Authorization": header}

        answer = await api.get(ME, headers=headers)

        assert answer.status_code == 401
        assert answer.json()["code"] == "not_authenticated"

    async def test_a_token_for_another_users_session_is_refused(
        self, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        mine = claims_of((await signed_in(api))["access_token"])
        theirs = claims_of((await signed_in(api))["access_token"])

        mixed = forge(settings, {**mine, "sid": theirs["sid"]})

        assert (await api.get(ME, headers=bearer(mixed))).status_code == 401


class TestSecretRotation:
    async def test_tokens_signed_with_the_previous_secret_keep_working(
        self, db: AsyncSession, database_url: str, redis_url: str
    ) -> None:
        old_secret = "the-old-signing-secret-of-at-least-32-chars"
        new_secret = "the-new-signing-secret-of-at-least-32-chars"
        before = make_settings(database_url, redis_url, jwt_secret=old_secret)
        after = make_settings(
            database_url,
            redis_url,
            jwt_secret=new_secret,
            jwt_previous_secrets=old_secret,
        )
        async with app_on(before, db) as old_app, client_at(old_app) as old_api:
            tokens = await signed_in(old_api)

        async with app_on(after, db) as new_app, client_at(new_app) as new_api:
            still = await new_api.get(ME, headers=bearer(tokens["access_token"]))
            renewed = await new_api.post(
                "/api/v1/auth/refresh",
                json={"refresh_token": tokens["refresh_token"]},
            )
        dropped = make_settings(database_url, redis_url, jwt_secret=new_secret)
        async with app_on(dropped, db) as last_app, client_at(last_app) as last_api:
            gone = await last_api.get(ME, headers=bearer(tokens["access_token"]))
            fresh = await last_api.get(
                ME, headers=bearer(renewed.json()["access_token"])
            )

        assert still.status_code == 200
        assert renewed.status_code == 200
        new_header = jwt.get_unverified_header(renewed.json()["access_token"])
        assert new_header["kid"] == key_id(new_secret)
        assert gone.status_code == 401
        assert fresh.status_code == 200


class TestRefresh:
    async def test_each_refresh_gives_a_new_pair_in_the_same_session(
        self, api: httpx.AsyncClient
    ) -> None:
        tokens = await signed_in(api)

        answer = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )

        renewed = answer.json()
        assert answer.status_code == 200
        assert renewed["refresh_token"] != tokens["refresh_token"]
        assert (
            claims_of(renewed["access_token"])["sid"]
            == claims_of(tokens["access_token"])["sid"]
        )
        assert (await api.get(ME, headers=bearer(renewed["access_token"]))).is_success

    async def test_reusing_a_rotated_token_ends_the_whole_family(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(api)
        first = tokens["refresh_token"]
        second = (
            await api.post("/api/v1/auth/refresh", json={"refresh_token": first})
        ).json()

        replay = await api.post("/api/v1/auth/refresh", json={"refresh_token": first})

        assert replay.status_code == 401
        assert replay.json()["code"] == "invalid_refresh_token"
        # The thief's replay also ended the legitimate holder's tokens.
        later = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert later.status_code == 401
        me = await api.get(ME, headers=bearer(second["access_token"]))
        assert me.status_code == 401
        user = await user_with(db, tokens["email"])
        kinds = await db.scalars(
            select(SecurityEvent.kind).where(SecurityEvent.user_id == user.id)
        )
        assert "refresh_token_reused" in list(kinds)

    async def test_a_session_past_its_absolute_lifetime_cannot_refresh(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        tokens = await signed_in(api)
        sid = uuid.UUID(claims_of(tokens["access_token"])["sid"])
        await db.execute(
            update(AuthSession)
            .where(AuthSession.id == sid)
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )

        answer = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )

        assert answer.status_code == 401
        assert (
            await api.get(ME, headers=bearer(tokens["access_token"]))
        ).status_code == 401

    async def test_an_unknown_refresh_token_is_refused(
        self, api: httpx.AsyncClient
    ) -> None:
        answer = await api.post("/api/v1/auth/refresh", json={"refresh_token": "nope"})

        assert answer.status_code == 401
        assert answer.json()["code"] == "invalid_refresh_token"


class TestEndingSessions:
    async def test_logout_makes_the_access_token_useless_at_once(
        self, api: httpx.AsyncClient
    ) -> None:
        tokens = await signed_in(api)
        headers = bearer(tokens["access_token"])

        out = await api.post("/api/v1/auth/logout", headers=headers)

        assert out.status_code == 200
        assert (await api.get(ME, headers=headers)).status_code == 401
        refreshed = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401

    async def test_logout_all_ends_every_session(self, api: httpx.AsyncClient) -> None:
        first = await signed_in(api)
        second = (
            await api.post(
                "/api/v1/auth/login",
                json={
                    "email": first["email"],
                    "password": "velvet-orbit-canyon-mosaic",
                },
            )
        ).json()

        await api.post(
            "/api/v1/auth/logout-all", headers=bearer(second["access_token"])
        )

        for tokens in (first, second):
            answer = await api.get(ME, headers=bearer(tokens["access_token"]))
            assert answer.status_code == 401

    async def test_sessions_are_listed_and_one_can_be_ended(
        self, api: httpx.AsyncClient
    ) -> None:
        first = await signed_in(api)
        second = (
            await api.post(
                "/api/v1/auth/login",
                json={
                    "email": first["email"],
                    "password": "velvet-orbit-canyon-mosaic",
                },
                headers={"User-Agent": "Phone/1.0"},
            )
        ).json()
        headers = bearer(second["access_token"])

        listed = (await api.get("/api/v1/auth/sessions", headers=headers)).json()
        other = next(s for s in listed["items"] if not s["current"])
        ended = await api.delete(
            f"/api/v1/auth/sessions/{other['id']}", headers=headers
        )

        assert len(listed["items"]) == 2
        assert [s["user_agent"] for s in listed["items"] if s["current"]] == [
            "Phone/1.0"
        ]
        assert ended.status_code == 200
        gone = await api.get(ME, headers=bearer(first["access_token"]))
        assert gone.status_code == 401
        assert (await api.get(ME, headers=headers)).status_code == 200

    async def test_another_users_session_cannot_be_ended(
        self, api: httpx.AsyncClient
    ) -> None:
        victim = await signed_in(api)
        attacker = await signed_in(api)
        victim_sid = claims_of(victim["access_token"])["sid"]

        answer = await api.delete(
            f"/api/v1/auth/sessions/{victim_sid}",
            headers=bearer(attacker["access_token"]),
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "session_not_found"
        assert (await api.get(ME, headers=bearer(victim["access_token"]))).is_success


class TestFailuresAreSavedWithTheirAnswer:
    async def test_a_failed_sign_in_is_committed_by_the_real_session(
        self,
        settings: Settings,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        """The request's own session commits a ``keeps_work`` error's writes."""
        email = f"kept.{uuid.uuid4().hex[:8]}@example.test"
        app = create_app(settings)
        async with lifespan(app), client_at(app) as api:
            answer = await api.post(
                "/api/v1/auth/login",
                json={"email": email, "password": "some-wrong-password"},
            )
        async with committed_sessionmaker() as session:
            rows = list(
                await session.scalars(
                    select(SecurityEvent).where(
                        SecurityEvent.kind == "login_failed",
                        SecurityEvent.detail["email_domain"].astext == "example.test",
                        SecurityEvent.request_id == answer.headers["x-request-id"],
                    )
                )
            )
            for row in rows:
                await session.delete(row)
            await session.commit()

        assert answer.status_code == 401
        assert len(rows) == 1
