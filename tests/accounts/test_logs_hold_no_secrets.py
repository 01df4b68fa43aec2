"""Logs captured through every auth flow contain no password, token, hash or secret.

One account goes through sign-up, sign-in, refresh, email confirmation, a
password change, a password reset, two-step verification and sign-out, with
everything logged at DEBUG. Every secret value seen on the way is collected
and looked for in every captured record: its message, its event fields, its
arguments, all its attributes, and the lines both of our formatters make of it.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.tokens import token_hash
from asset_anchor.kit import totp
from asset_anchor.logging import ConsoleFormatter, JsonFormatter
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
    user_with,
)
from tests.conftest import email_secrets

OTHER_PASSWORD = "lantern-meadow-cobalt-ripple"
WRONG_PASSWORD = "not-the-password-at-all-7"
RESET_PASSWORD = "saffron-glacier-pivot-harbor"


class Secrets:
    """Every secret value seen, by a name that says where it came from."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, name: str, value: object) -> None:
        assert isinstance(value, str), f"{name} is not a string: {value!r}"
        assert len(value) >= 6, f"{name} is too short to look for: {value!r}"
        self.values[name] = value

    def add_opaque(self, name: str, value: object) -> None:
        """An opaque token, and the hex of the hash the database keeps of it."""
        self.add(name, value)
        assert isinstance(value, str)
        self.add(f"{name} (sha256)", token_hash(value).hex())

    def add_pair(self, name: str, pair: dict[str, Any]) -> None:
        self.add(f"{name} access token", pair["access_token"])
        self.add_opaque(f"{name} refresh token", pair["refresh_token"])

    async def add_password_hash(self, db: AsyncSession, name: str, email: str) -> None:
        user = await user_with(db, email)
        assert user.password_hash is not None
        self.add(f"password hash {name}", user.password_hash)


def texts_of(record: logging.LogRecord) -> dict[str, str]:
    """Everything a log line could be made of, as text."""
    texts = {
        "message": record.getMessage(),
        "msg": str(record.msg),
        "args": repr(record.args),
        "attributes": repr(vars(record)),
        "json": JsonFormatter().format(record),
        "console": ConsoleFormatter().format(record),
    }
    fields = getattr(record, "event_fields", None)
    if fields is not None:
        texts["event_fields"] = repr(fields)
        texts["event_field_values"] = " ".join(str(v) for v in dict(fields).values())
    return texts


def ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_no_secret_reaches_the_logs(
    api: httpx.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen = Secrets()
    seen.add("JWT secret", settings.jwt_secret_value())
    current_key, _ = settings.mfa_keys()
    seen.add("MFA encryption key", current_key)
    for name, password in {
        "password": PASSWORD,
        "other password": OTHER_PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "new password": NEW_PASSWORD,
        "reset password": RESET_PASSWORD,
    }.items():
        seen.add(name, password)
    email = new_email()

    # Sign-up: a new address, then the same one again.
    ok(await register(api, email), 202)
    await seen.add_password_hash(db, "at sign-up", email)
    ok(await register(api, email, password=OTHER_PASSWORD), 202)

    # Sign-in: a wrong password, the right one, a refresh, the account.
    ok(await login(api, email, WRONG_PASSWORD), 401)
    first = ok(await login(api, email))
    seen.add_pair("first sign-in", first)
    refreshed = ok(
        await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
    )
    seen.add_pair("refreshed", refreshed)
    headers = bearer(refreshed["access_token"])
    ok(await api.get("/api/v1/me", headers=headers))

    # The emailed link confirms the address.
    verification = await last_token(db, email, "verify_email")
    ok(await api.post("/api/v1/auth/verify-email", json={"token": verification}))

    # A password change, knowing the current one.
    ok(
        await api.post(
            "/api/v1/auth/password/change",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        )
    )
    await seen.add_password_hash(db, "after the change", email)

    # A password reset through the emailed link (and one for no account).
    for address in (email, new_email()):
        ok(
            await api.post(
                "/api/v1/auth/password-reset/request", json={"email": address}
            ),
            202,
        )
    assert await run_reset_jobs(db, settings) >= 2
    reset = await last_token(db, email, "password_reset")
    ok(
        await api.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": reset, "new_password": RESET_PASSWORD},
        )
    )
    await seen.add_password_hash(db, "after the reset", email)
    after_reset = ok(await login(api, email, RESET_PASSWORD))
    seen.add_pair("after the reset", after_reset)

    # Two-step verification: setup, confirmation, sign-in with either factor.
    mfa_headers = bearer(after_reset["access_token"])
    setup = ok(await api.post("/api/v1/auth/mfa/setup", headers=mfa_headers))
    secret = setup["secret"]
    seen.add("TOTP secret", secret)
    seen.add("otpauth URI", setup["otpauth_uri"])
    step = totp.current_step()
    confirming = totp.code_at(secret, step)
    seen.add("confirming code", confirming)
    confirmed = ok(
        await api.post(
            "/api/v1/auth/mfa/confirm", json={"code": confirming}, headers=mfa_headers
        )
    )
    for number, code in enumerate(confirmed["recovery_codes"], 1):
        seen.add(f"recovery code {number}", code)
        seen.add(f"recovery code {number} (typed)", code.replace("-", "").upper())
        seen.add(f"recovery code {number} (sha256)", token_hash(code).hex())
        seen.add(f"recovery code {number} (spaced)", code.replace("-", " "))
    by_code = ok(await login(api, email, RESET_PASSWORD))
    seen.add("first challenge", by_code["challenge_token"])
    signing_code = totp.code_at(secret, step + 1)
    seen.add("sign-in code", signing_code)
    with_code = ok(
        await api.post(
            "/api/v1/auth/mfa/verify",
            json={"challenge_token": by_code["challenge_token"], "code": signing_code},
        )
    )
    seen.add_pair("MFA sign-in with a code", with_code)
    by_recovery = ok(await login(api, email, RESET_PASSWORD))
    seen.add("second challenge", by_recovery["challenge_token"])
    ok(
        await api.post(
            "/api/v1/auth/mfa/verify",
            json={
                "challenge_token": by_recovery["challenge_token"],
                "code": signing_code,
            },
        ),
        400,
    )
    with_recovery = ok(
        await api.post(
            "/api/v1/auth/mfa/verify",
            json={
                "challenge_token": by_recovery["challenge_token"],
                # Typed loosely, as a person would: spaces for dashes.
                "recovery_code": confirmed["recovery_codes"][0].replace("-", " "),
            },
        )
    )
    seen.add_pair("MFA sign-in with a recovery code", with_recovery)

    # Signing out: this session, then every session.
    ok(await api.post("/api/v1/auth/logout", headers=bearer(with_code["access_token"])))
    ok(
        await api.post(
            "/api/v1/auth/logout-all", headers=bearer(with_recovery["access_token"])
        )
    )

    # Every token that went out by email.
    for sent in await emails_to(db, email):
        if sent.secret_context is not None:
            token = email_secrets(sent)["token"]
            seen.add_opaque(f"{sent.kind} email token", token)
    assert {"verify_email email token", "password_reset email token"} <= set(
        seen.values
    )

    records = caplog.records
    events = [
        (record.getMessage(), getattr(record, "event_fields", {}).get("kind"))
        for record in records
    ]
    for kind in (
        "account_created",
        "signup_existing_address",
        "login_failed",
        "login",
        "email_verified",
        "password_changed",
        "password_reset_requested",
        "password_reset",
        "mfa_enabled",
        "login_password_accepted",
        "mfa_failed",
        "logout",
        "logout_all",
    ):
        assert ("security.event", kind) in events, f"no security.event for {kind}"
    requests = [record for record in records if record.getMessage() == "http.request"]
    assert len(requests) >= 20

    leaks = [
        f"{name} in the {part} of {record.name}:{record.getMessage()}"
        for record in records
        for part, text in texts_of(record).items()
        for name, value in seen.values.items()
        if value in text
    ]
    assert leaks == []
    assert not [name for name, value in seen.values.items() if value in caplog.text]
