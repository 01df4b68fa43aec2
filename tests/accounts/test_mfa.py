"""Two-step verification through the API: enrolment, sign-in, recovery, lockout."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts import mfa, service, tokens
from asset_anchor.kit import totp
from asset_anchor.kit.time import utc_now
from asset_anchor.models import MfaRecoveryCode, UserMfa
from asset_anchor.settings import Settings
from tests.accounts.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    bearer,
    emails_to,
    login,
    new_email,
    signed_in,
    user_with,
)

ME = "/api/v1/me"
MFA = "/api/v1/auth/mfa"
SETUP = f"{MFA}/setup"
CONFIRM = f"{MFA}/confirm"
VERIFY = f"{MFA}/verify"
DISABLE = f"{MFA}/disable"
RECOVERY_CODES = f"{MFA}/recovery-codes"

BASE32 = re.compile(r"[A-Z2-7]{32}")
# 16 base32 characters (80 bits) in four groups of four.
RECOVERY_CODE = re.compile(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}")
WRONG_PASSWORD = "not-the-password-at-all"


class Authenticator:
    """What an authenticator app shows: a code of a step not used yet.

    The server accepts one step either side of now and never a step at or
    before the last one it accepted; so the first code is this step's and the
    next one the following step's (still inside the window). A test needs at
    most two codes per 30 seconds this way, and never waits for the clock.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.last_step: int | None = None

    def code(self) -> str:
        now = totp.current_step()
        if self.last_step is None or self.last_step < now:
            step = now
        else:
            step = self.last_step + 1
        assert step <= now + 1, "no unused step left in the window"
        self.last_step = step
        return totp.code_at(self.secret, step)

    def wrong_code(self) -> str:
        """Six digits that match no step anywhere near now."""
        now = totp.current_step()
        near = {totp.code_at(self.secret, step) for step in range(now - 3, now + 4)}
        return next(
            candidate
            for candidate in (f"{digit}" * 6 for digit in range(10))
            if candidate not in near
        )


@dataclass
class Enrolled:
    email: str
    access_token: str
    refresh_token: str
    authenticator: Authenticator
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


async def start_setup(api: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
    answer = await api.post(SETUP, headers=bearer(access_token))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def enrolled(api: httpx.AsyncClient, db: AsyncSession) -> Enrolled:
    """A fresh account with MFA on, signed in (its session from before MFA)."""
    pair = await signed_in(api, new_email())
    setup = await start_setup(api, pair["access_token"])
    authenticator = Authenticator(setup["secret"])
    confirmed = await api.post(
        CONFIRM,
        json={"code": authenticator.code()},
        headers=bearer(pair["access_token"]),
    )
    assert confirmed.status_code == 200, confirmed.text
    return Enrolled(
        email=pair["email"],
        access_token=pair["access_token"],
        refresh_token=pair["refresh_token"],
        authenticator=authenticator,
        recovery_codes=confirmed.json()["recovery_codes"],
    )


async def challenge_for(api: httpx.AsyncClient, email: str) -> str:
    answer = await login(api, email)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["mfa_required"] is True
    token = body["challenge_token"]
    assert isinstance(token, str)
    return token


async def verify(
    api: httpx.AsyncClient, challenge: str, **factor: str
) -> httpx.Response:
    return await api.post(VERIFY, json={"challenge_token": challenge, **factor})


class TestEnrolment:
    async def test_setup_shows_a_secret_and_a_uri_and_mfa_stays_off(
        self, api: httpx.AsyncClient
    ) -> None:
        pair = await signed_in(api)
        headers = bearer(pair["access_token"])

        setup = await start_setup(api, pair["access_token"])

        assert BASE32.fullmatch(setup["secret"])
        uri = urlsplit(setup["otpauth_uri"])
        assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
        assert unquote(uri.path) == f"/Asset Anchor:{pair['email']}"
        query = parse_qs(uri.query)
        assert query["secret"] == [setup["secret"]]
        assert query["issuer"] == ["Asset Anchor"]
        assert query["digits"] == ["6"]
        assert query["period"] == ["30"]
        status = await api.get(MFA, headers=headers)
        assert status.status_code == 200
        assert status.json() == {"enabled": False, "recovery_codes_left": 0}
        me = await api.get(ME, headers=headers)
        assert me.json()["mfa_enabled"] is False

    async def test_a_password_alone_still_signs_in_before_confirmation(
        self, api: httpx.AsyncClient
    ) -> None:
        pair = await signed_in(api)
        await start_setup(api, pair["access_token"])

        answer = await login(api, pair["email"])

        assert answer.status_code == 200
        assert "access_token" in answer.json()
        assert "mfa_required" not in answer.json()

    async def test_confirming_without_setup_is_refused(
        self, api: httpx.AsyncClient
    ) -> None:
        pair = await signed_in(api)

        answer = await api.post(
            CONFIRM, json={"code": "123456"}, headers=bearer(pair["access_token"])
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "mfa_setup_missing"

    async def test_a_wrong_code_does_not_turn_mfa_on(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        pair = await signed_in(api)
        headers = bearer(pair["access_token"])
        setup = await start_setup(api, pair["access_token"])

        answer = await api.post(
            CONFIRM,
            json={"code": Authenticator(setup["secret"]).wrong_code()},
            headers=headers,
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_mfa_code"
        assert (await api.get(MFA, headers=headers)).json()["enabled"] is False
        assert await emails_to(db, pair["email"], "mfa_changed") == []

    async def test_the_right_code_turns_mfa_on_with_ten_recovery_codes(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        pair = await signed_in(api)
        headers = bearer(pair["access_token"])
        setup = await start_setup(api, pair["access_token"])
        code = totp.code_at(setup["secret"], totp.current_step())

        answer = await api.post(CONFIRM, json={"code": code}, headers=headers)

        assert answer.status_code == 200, answer.text
        codes = answer.json()["recovery_codes"]
        assert len(codes) == 10
        assert len(set(codes)) == 10
        assert all(RECOVERY_CODE.fullmatch(code) for code in codes)
        status = await api.get(MFA, headers=headers)
        assert status.json() == {"enabled": True, "recovery_codes_left": 10}
        assert (await api.get(ME, headers=headers)).json()["mfa_enabled"] is True
        [notice] = await emails_to(db, pair["email"], "mfa_changed")
        assert notice.context["enabled"] is True

        user = await user_with(db, pair["email"])
        stored = await db.scalar(
            select(UserMfa.secret_encrypted).where(UserMfa.user_id == user.id)
        )
        assert stored is not None
        assert setup["secret"] not in stored
        assert setup["secret"].lower() not in stored.lower()
        assert mfa.secret_box(settings).decrypt(stored) == setup["secret"]

    async def test_setup_again_once_on_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        again = await api.post(SETUP, headers=account.headers)

        assert again.status_code == 409
        assert again.json()["code"] == "mfa_already_enabled"


class TestSigningIn:
    async def test_a_password_earns_a_challenge_and_no_tokens(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await login(api, account.email)

        assert answer.status_code == 200
        body = answer.json()
        assert set(body) == {"mfa_required", "challenge_token", "expires_in"}
        assert body["mfa_required"] is True
        assert body["expires_in"] == 300
        assert body["challenge_token"].count(".") == 2
        assert "access_token" not in answer.text
        assert "refresh_token" not in answer.text

    async def test_the_challenge_and_a_current_code_give_working_tokens(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        challenge = await challenge_for(api, account.email)

        answer = await verify(api, challenge, code=account.authenticator.code())

        assert answer.status_code == 200, answer.text
        pair = answer.json()
        assert pair["token_type"] == "bearer"
        me = await api.get(ME, headers=bearer(pair["access_token"]))
        assert me.status_code == 200
        assert me.json()["email"] == account.email
        assert me.json()["mfa_enabled"] is True
        refreshed = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refreshed.status_code == 200

    async def test_a_code_works_once(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        code = account.authenticator.code()
        first = await verify(api, await challenge_for(api, account.email), code=code)

        replay = await verify(api, await challenge_for(api, account.email), code=code)

        assert first.status_code == 200, first.text
        assert replay.status_code == 400
        assert replay.json()["code"] == "invalid_mfa_code"
        assert "access_token" not in replay.text

    async def test_the_code_that_confirmed_setup_cannot_sign_in(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        assert account.authenticator.last_step is not None
        confirming = totp.code_at(
            account.authenticator.secret, account.authenticator.last_step
        )

        answer = await verify(
            api, await challenge_for(api, account.email), code=confirming
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_mfa_code"

    async def test_a_wrong_code_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await verify(
            api,
            await challenge_for(api, account.email),
            code=account.authenticator.wrong_code(),
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_mfa_code"


class TestRecoveryCodes:
    async def test_a_recovery_code_works_once(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        code = account.recovery_codes[0]

        first = await verify(
            api, await challenge_for(api, account.email), recovery_code=code
        )
        again = await verify(
            api, await challenge_for(api, account.email), recovery_code=code
        )

        assert first.status_code == 200, first.text
        me = await api.get(ME, headers=bearer(first.json()["access_token"]))
        assert me.status_code == 200
        assert again.status_code == 400
        assert again.json()["code"] == "invalid_mfa_code"
        status = await api.get(MFA, headers=account.headers)
        assert status.json()["recovery_codes_left"] == 9

    @pytest.mark.parametrize(
        "spelling",
        [
            pytest.param(str.upper, id="upper-case"),
            pytest.param(lambda code: code.replace("-", ""), id="without-dash"),
            pytest.param(
                lambda code: code.replace("-", "").upper(), id="upper-without-dash"
            ),
            pytest.param(lambda code: f" {code} ", id="spaces-around"),
            pytest.param(lambda code: code.replace("-", " "), id="spaces-between"),
            pytest.param(
                lambda code: code.replace("-", " ").upper(), id="upper-with-spaces"
            ),
        ],
    )
    async def test_a_recovery_code_may_be_typed_loosely(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        spelling: Callable[[str], str],
    ) -> None:
        account = await enrolled(api, db)
        code = account.recovery_codes[3]
        typed = spelling(code)
        assert typed != code

        first = await verify(
            api, await challenge_for(api, account.email), recovery_code=typed
        )
        as_issued = await verify(
            api, await challenge_for(api, account.email), recovery_code=code
        )

        assert first.status_code == 200, first.text
        assert as_issued.status_code == 400
        assert as_issued.json()["code"] == "invalid_mfa_code"

    async def test_a_made_up_recovery_code_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        made_up = "aaaa-bbbb-cccc-dddd"
        assert made_up not in account.recovery_codes

        answer = await verify(
            api, await challenge_for(api, account.email), recovery_code=made_up
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_mfa_code"

    async def test_new_recovery_codes_void_the_old_ones(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await api.post(
            RECOVERY_CODES,
            json={"code": account.authenticator.code()},
            headers=account.headers,
        )

        assert answer.status_code == 200, answer.text
        fresh = answer.json()["recovery_codes"]
        assert len(fresh) == 10
        assert not set(fresh) & set(account.recovery_codes)
        old = await verify(
            api,
            await challenge_for(api, account.email),
            recovery_code=account.recovery_codes[0],
        )
        assert old.status_code == 400
        assert old.json()["code"] == "invalid_mfa_code"
        new = await verify(
            api, await challenge_for(api, account.email), recovery_code=fresh[0]
        )
        assert new.status_code == 200, new.text

    async def test_new_recovery_codes_need_a_right_code(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await api.post(
            RECOVERY_CODES,
            json={"code": account.authenticator.wrong_code()},
            headers=account.headers,
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_mfa_code"
        still = await verify(
            api,
            await challenge_for(api, account.email),
            recovery_code=account.recovery_codes[0],
        )
        assert still.status_code == 200, still.text


class TestChallengeTokens:
    async def test_a_challenge_is_not_an_access_token(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        challenge = await challenge_for(api, account.email)

        answer = await api.get(ME, headers=bearer(challenge))

        assert answer.status_code == 401
        assert answer.json()["code"] == "not_authenticated"

    async def test_an_access_token_is_not_a_challenge(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await verify(
            api, account.access_token, code=account.authenticator.code()
        )

        assert answer.status_code == 401
        assert answer.json()["code"] == "invalid_mfa_challenge"

    async def test_a_challenge_earns_one_session(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        challenge = await challenge_for(api, account.email)
        first = await verify(api, challenge, code=account.authenticator.code())

        again = await verify(api, challenge, recovery_code=account.recovery_codes[0])

        assert first.status_code == 200, first.text
        assert again.status_code == 401
        assert again.json()["code"] == "invalid_mfa_challenge"
        unused = await db.scalar(
            select(func.count()).where(
                MfaRecoveryCode.user_id == (await user_with(db, account.email)).id,
                MfaRecoveryCode.used_at.is_(None),
            )
        )
        assert unused == len(account.recovery_codes)

    async def test_a_made_up_challenge_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await verify(
            api, "not.a-real.challenge", code=account.authenticator.code()
        )

        assert answer.status_code == 401
        assert answer.json()["code"] == "invalid_mfa_challenge"

    @pytest.mark.parametrize("factor", ["both", "neither"])
    async def test_exactly_one_second_factor_is_required(
        self, api: httpx.AsyncClient, db: AsyncSession, factor: str
    ) -> None:
        account = await enrolled(api, db)
        challenge = await challenge_for(api, account.email)
        body: dict[str, str] = {"challenge_token": challenge}
        if factor == "both":
            body["code"] = account.authenticator.code()
            body["recovery_code"] = account.recovery_codes[0]

        answer = await api.post(VERIFY, json=body)

        assert answer.status_code == 422
        assert answer.json()["code"] == "validation_error"


class TestLockout:
    async def test_five_wrong_codes_pause_verification_even_for_a_right_code(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        challenge = await challenge_for(api, account.email)

        wrong = [
            await verify(api, challenge, code=account.authenticator.wrong_code())
            for _ in range(5)
        ]
        right = await verify(api, challenge, code=account.authenticator.code())

        assert [answer.status_code for answer in wrong[:4]] == [400] * 4
        assert {answer.json()["code"] for answer in wrong[:4]} == {"invalid_mfa_code"}
        # The fifth wrong code is the one that locks; it says so.
        assert wrong[4].status_code == 429
        assert wrong[4].json()["code"] == "account_locked"
        assert right.status_code == 429
        assert right.json()["code"] == "account_locked"
        assert "access_token" not in right.text
        retry_after = int(right.headers["Retry-After"])
        assert 1 <= retry_after <= 5 * 60
        recovery = await verify(
            api,
            await challenge_for(api, account.email),
            recovery_code=account.recovery_codes[0],
        )
        assert recovery.status_code == 429
        assert recovery.json()["code"] == "account_locked"

    async def test_wrong_passwords_to_turn_mfa_off_lock_even_the_right_one(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        guess = {"password": WRONG_PASSWORD, "recovery_code": account.recovery_codes[0]}

        wrong = [
            await api.post(DISABLE, json=guess, headers=account.headers)
            for _ in range(5)
        ]
        right = await api.post(
            DISABLE,
            json={"password": PASSWORD, "code": account.authenticator.code()},
            headers=account.headers,
        )

        assert [answer.status_code for answer in wrong[:4]] == [400] * 4
        assert {answer.json()["code"] for answer in wrong[:4]} == {"wrong_password"}
        assert wrong[4].status_code == 429
        assert wrong[4].json()["code"] == "account_locked"
        assert right.status_code == 429
        assert right.json()["code"] == "account_locked"
        assert (await api.get(MFA, headers=account.headers)).json()["enabled"] is True
        # The same lock as signing in: the guesses paused that too.
        signing_in = await login(api, account.email)
        assert signing_in.status_code == 429
        assert signing_in.json()["code"] == "account_locked"

    async def test_wrong_codes_to_turn_mfa_off_lock_even_a_right_one(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        wrong = [
            await api.post(
                DISABLE,
                json={"password": PASSWORD, "code": account.authenticator.wrong_code()},
                headers=account.headers,
            )
            for _ in range(5)
        ]
        right = await api.post(
            DISABLE,
            json={"password": PASSWORD, "recovery_code": account.recovery_codes[0]},
            headers=account.headers,
        )

        assert [answer.status_code for answer in wrong[:4]] == [400] * 4
        assert {answer.json()["code"] for answer in wrong[:4]} == {"invalid_mfa_code"}
        assert wrong[4].json()["code"] == "account_locked"
        assert right.status_code == 429
        assert right.json()["code"] == "account_locked"
        status = await api.get(MFA, headers=account.headers)
        assert status.json() == {"enabled": True, "recovery_codes_left": 10}

    async def test_wrong_codes_for_new_recovery_codes_lock_even_a_right_one(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        wrong = [
            await api.post(
                RECOVERY_CODES,
                json={"code": account.authenticator.wrong_code()},
                headers=account.headers,
            )
            for _ in range(5)
        ]
        right = await api.post(
            RECOVERY_CODES,
            json={"code": account.authenticator.code()},
            headers=account.headers,
        )

        assert [answer.status_code for answer in wrong[:4]] == [400] * 4
        assert wrong[4].json()["code"] == "account_locked"
        assert right.status_code == 429
        assert right.json()["code"] == "account_locked"
        assert "recovery_codes" not in right.json()
        # The same lock as the sign-in's second step.
        signing_in = await verify(
            api,
            await challenge_for(api, account.email),
            recovery_code=account.recovery_codes[0],
        )
        assert signing_in.status_code == 429
        assert signing_in.json()["code"] == "account_locked"

    async def test_the_lock_is_per_account(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        locked = await enrolled(api, db)
        other = await enrolled(api, db)
        challenge = await challenge_for(api, locked.email)
        for _ in range(5):
            await verify(api, challenge, code=locked.authenticator.wrong_code())

        answer = await verify(
            api,
            await challenge_for(api, other.email),
            code=other.authenticator.code(),
        )

        assert answer.status_code == 200, answer.text


class TestDisable:
    async def test_a_wrong_password_keeps_mfa_on(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await api.post(
            DISABLE,
            json={
                "password": WRONG_PASSWORD,
                "code": account.authenticator.code(),
            },
            headers=account.headers,
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "wrong_password"
        assert (await api.get(MFA, headers=account.headers)).json()["enabled"] is True
        assert (await login(api, account.email)).json()["mfa_required"] is True

    async def test_a_wrong_code_keeps_mfa_on(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await api.post(
            DISABLE,
            json={"password": PASSWORD, "code": account.authenticator.wrong_code()},
            headers=account.headers,
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_mfa_code"
        assert (await api.get(MFA, headers=account.headers)).json()["enabled"] is True

    async def test_password_and_code_turn_mfa_off(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)

        answer = await api.post(
            DISABLE,
            json={"password": PASSWORD, "code": account.authenticator.code()},
            headers=account.headers,
        )

        assert answer.status_code == 200, answer.text
        status = await api.get(MFA, headers=account.headers)
        assert status.json() == {"enabled": False, "recovery_codes_left": 0}
        signed = await login(api, account.email)
        assert signed.status_code == 200
        assert "mfa_required" not in signed.json()
        me = await api.get(ME, headers=bearer(signed.json()["access_token"]))
        assert me.status_code == 200
        assert me.json()["mfa_enabled"] is False
        notices = await emails_to(db, account.email, "mfa_changed")
        assert [notice.context["enabled"] for notice in notices] == [True, False]

    async def test_mfa_off_voids_the_recovery_codes(
        self, api: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        account = await enrolled(api, db)
        disabled = await api.post(
            DISABLE,
            json={"password": PASSWORD, "recovery_code": account.recovery_codes[0]},
            headers=account.headers,
        )
        assert disabled.status_code == 200, disabled.text
        again = await enrolled_again(api, account)

        answer = await verify(
            api,
            await challenge_for(api, account.email),
            recovery_code=account.recovery_codes[1],
        )

        assert again.status_code == 200, again.text
        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_mfa_code"

    async def test_disabling_when_off_is_refused(self, api: httpx.AsyncClient) -> None:
        pair = await signed_in(api)

        answer = await api.post(
            DISABLE,
            json={"password": PASSWORD, "code": "123456"},
            headers=bearer(pair["access_token"]),
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "mfa_not_enabled"


async def enrolled_again(api: httpx.AsyncClient, account: Enrolled) -> httpx.Response:
    """Enrol the same account once more, with a new secret."""
    setup = await start_setup(api, account.access_token)
    account.authenticator = Authenticator(setup["secret"])
    return await api.post(
        CONFIRM, json={"code": account.authenticator.code()}, headers=account.headers
    )


class TestChallengeAndPassword:
    """A challenge is bound to the password that earned it, to the microsecond.

    The accounts clock is fixed so that both events fall in one second: a
    JWT's whole-second ``iat`` cannot tell their order there.
    """

    @staticmethod
    def fixed_clock(monkeypatch: pytest.MonkeyPatch, start: datetime) -> list[datetime]:
        clock = [start]
        for module in (service, tokens, mfa):
            monkeypatch.setattr(module, "utc_now", lambda: clock[0])
        return clock

    async def test_a_challenge_in_the_second_the_password_was_set_works(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        second = utc_now().replace(microsecond=0)
        clock = self.fixed_clock(monkeypatch, second + timedelta(milliseconds=200))
        pair = await signed_in(api, new_email())
        setup = await start_setup(api, pair["access_token"])
        authenticator = Authenticator(setup["secret"])
        confirmed = await api.post(
            CONFIRM,
            json={"code": authenticator.code()},
            headers=bearer(pair["access_token"]),
        )
        user = await user_with(db, pair["email"])
        clock[0] = second + timedelta(milliseconds=700)

        challenge = await challenge_for(api, pair["email"])
        answer = await verify(api, challenge, code=authenticator.code())

        assert confirmed.status_code == 200, confirmed.text
        assert user.password_changed_at == second + timedelta(milliseconds=200)
        assert answer.status_code == 200, answer.text

    async def test_a_password_set_later_in_the_same_second_voids_it(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        second = utc_now().replace(microsecond=0)
        clock = self.fixed_clock(monkeypatch, second + timedelta(milliseconds=100))
        account = await enrolled(api, db)
        challenge = await challenge_for(api, account.email)
        clock[0] = second + timedelta(milliseconds=600)
        changed = await api.post(
            "/api/v1/auth/password/change",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=account.headers,
        )

        answer = await verify(api, challenge, code=account.authenticator.code())

        assert changed.status_code == 200, changed.text
        assert answer.status_code == 401
        assert answer.json()["code"] == "invalid_mfa_challenge"
