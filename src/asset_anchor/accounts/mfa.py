"""Two-step verification: TOTP authenticator apps and one-time recovery codes.

Enrolment is two steps: ``begin_setup`` makes a secret (encrypted at rest with
``MFA_ENCRYPTION_KEY``) and shows it once as an ``otpauth://`` URI;
``confirm_setup`` turns it on when the first code is right and hands out the
recovery codes, which are stored only as hashes. From then on a password alone
earns an MFA challenge, which ``complete_login`` exchanges for tokens given a
current code or an unused recovery code. Each accepted TOTP time step is
remembered, so a code cannot be used twice.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.errors import (
    InvalidMfaChallenge,
    InvalidMfaCode,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaSetupMissing,
)
from asset_anchor.accounts.limits import AuthGuard
from asset_anchor.accounts.service import (
    Client,
    IssuedTokens,
    get_user,
    record_event,
    start_session,
    wrong_password,
)
from asset_anchor.accounts.tokens import (
    TokenInvalid,
    password_version,
    read_token,
    token_hash,
)
from asset_anchor.email.service import queue_email
from asset_anchor.kit import totp
from asset_anchor.kit.passwords import verify_password
from asset_anchor.kit.secretbox import SecretBox
from asset_anchor.kit.time import utc_now
from asset_anchor.models import AuthSession, MfaRecoveryCode, User, UserMfa
from asset_anchor.settings import Settings

ISSUER = "Asset Anchor"
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_BYTES = 10  # 80 bits: 16 base32 characters, no padding
RECOVERY_CODE_LENGTH = 16
RECOVERY_CODE_GROUP = 4


@dataclass(frozen=True)
class MfaSetup:
    secret: str
    otpauth_uri: str


def secret_box(settings: Settings) -> SecretBox:
    current, previous = settings.mfa_keys()
    return SecretBox(current, previous)


def _grouped(raw: str) -> str:
    return "-".join(
        raw[start : start + RECOVERY_CODE_GROUP]
        for start in range(0, len(raw), RECOVERY_CODE_GROUP)
    )


def _new_recovery_code() -> str:
    """16 lower-case base32 characters in groups of four: 80 bits, one use.

    For example ``k3mf-q7xa-p2zd-w4nr``. At 80 bits a leaked table of their
    (unsalted) SHA-256 hashes cannot be searched offline; base32 has no 0/O
    or 1/l to mistype (its digits are 2-7).
    """
    raw = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode()
    return _grouped(raw.lower())


def _normalize_recovery_code(code: str) -> str:
    """The code as issued, however it was typed (case, spaces, dashes)."""
    cleaned = "".join(code.split()).replace("-", "").lower()
    return _grouped(cleaned) if len(cleaned) == RECOVERY_CODE_LENGTH else cleaned


async def _enrolment(session: AsyncSession, user_id: uuid.UUID) -> UserMfa | None:
    found: UserMfa | None = await session.scalar(
        select(UserMfa).where(UserMfa.user_id == user_id).with_for_update()
    )
    return found


async def begin_setup(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> MfaSetup:
    """A new, unconfirmed authenticator secret (replacing an unconfirmed one)."""
    user = await get_user(session, user_id)
    assert user is not None
    enrolment = await _enrolment(session, user_id)
    if enrolment is not None and enrolment.confirmed_at is not None:
        raise MfaAlreadyEnabled
    secret = totp.new_secret()
    encrypted = secret_box(settings).encrypt(secret)
    if enrolment is None:
        session.add(UserMfa(user_id=user_id, secret_encrypted=encrypted))
    else:
        enrolment.secret_encrypted = encrypted
        enrolment.last_used_step = None
    return MfaSetup(
        secret=secret,
        otpauth_uri=totp.provisioning_uri(
            secret, account_name=user.email, issuer=ISSUER
        ),
    )


async def _replace_recovery_codes(
    session: AsyncSession, user_id: uuid.UUID
) -> list[str]:
    await session.execute(
        delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id)
    )
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(
        MfaRecoveryCode(id=uuid.uuid4(), user_id=user_id, code_hash=token_hash(code))
        for code in codes
    )
    return codes


def _accept_code(settings: Settings, enrolment: UserMfa, code: str) -> bool:
    secret = secret_box(settings).decrypt(enrolment.secret_encrypted)
    step = totp.match_step(secret, code, after_step=enrolment.last_used_step)
    if step is None:
        return False
    enrolment.last_used_step = step
    return True


def _notify(session: AsyncSession, user: User, *, enabled: bool) -> None:
    queue_email(
        session,
        kind="mfa_changed",
        to_address=user.email,
        to_name=user.full_name,
        context={"enabled": enabled, "changed_at": utc_now().isoformat()},
    )


async def confirm_setup(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    code: str,
    client: Client,
) -> list[str]:
    """Turn MFA on with the first right code; return the recovery codes."""
    enrolment = await _enrolment(session, user_id)
    if enrolment is None:
        raise MfaSetupMissing
    if enrolment.confirmed_at is not None:
        raise MfaAlreadyEnabled
    if not _accept_code(settings, enrolment, code):
        record_event(session, "mfa_setup_failed", user_id=user_id, client=client)
        raise InvalidMfaCode
    enrolment.confirmed_at = utc_now()
    auth_session = await session.get(AuthSession, session_id)
    if auth_session is not None:
        auth_session.mfa_verified = True
    codes = await _replace_recovery_codes(session, user_id)
    user = await get_user(session, user_id)
    assert user is not None
    _notify(session, user, enabled=True)
    record_event(session, "mfa_enabled", user_id=user_id, client=client)
    return codes


async def _check_second_factor(
    session: AsyncSession,
    settings: Settings,
    enrolment: UserMfa,
    *,
    code: str | None,
    recovery_code: str | None,
) -> str | None:
    """Which factor passed ("totp" or "recovery_code"), or None."""
    if code and _accept_code(settings, enrolment, code):
        return "totp"
    if recovery_code:
        row = await session.scalar(
            select(MfaRecoveryCode)
            .where(
                MfaRecoveryCode.user_id == enrolment.user_id,
                MfaRecoveryCode.code_hash
                == token_hash(_normalize_recovery_code(recovery_code)),
                MfaRecoveryCode.used_at.is_(None),
            )
            .with_for_update()
        )
        if row is not None:
            row.used_at = utc_now()
            return "recovery_code"
    return None


async def complete_login(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    *,
    challenge_token: str,
    code: str | None,
    recovery_code: str | None,
    client: Client,
) -> IssuedTokens:
    """Exchange an MFA challenge and a second factor for tokens."""
    try:
        claims = read_token(settings, challenge_token, expected="mfa_challenge")
    except TokenInvalid as error:
        raise InvalidMfaChallenge from error
    user = await get_user(session, claims.user_id)
    if user is None or user.deactivated_at is not None:
        raise InvalidMfaChallenge
    if claims.password_version != password_version(user.password_changed_at):
        raise InvalidMfaChallenge
    if await session.scalar(
        select(exists().where(AuthSession.mfa_challenge_id == claims.token_id))
    ):
        raise InvalidMfaChallenge("This challenge was used already; sign in again.")
    await guard.check_mfa_allowed(user.id)
    enrolment = await _enrolment(session, user.id)
    if enrolment is None or enrolment.confirmed_at is None:
        raise InvalidMfaChallenge
    factor = await _check_second_factor(
        session, settings, enrolment, code=code, recovery_code=recovery_code
    )
    if factor is None:
        record_event(session, "mfa_failed", user_id=user.id, client=client)
        await guard.mfa_failed(user.id)
        raise InvalidMfaCode
    await guard.mfa_succeeded(user.id)
    tokens = await start_session(
        session,
        settings,
        user,
        client,
        mfa_verified=True,
        mfa_challenge_id=claims.token_id,
    )

    record_event(
        session,
        "login",
        user_id=user.id,
        client=client,
        session_id=str(tokens.session_id),
        second_factor=factor,
    )
    return tokens


async def disable(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    *,
    user_id: uuid.UUID,
    password: str,
    code: str | None,
    recovery_code: str | None,
    client: Client,
) -> None:
    """Turn MFA off: needs the password and a second factor.

    Both are checked under their locks (the sign-in lock for the password,
    the MFA lock for the code), and a wrong one counts towards it.
    """
    user = await get_user(session, user_id)
    assert user is not None
    enrolment = await _enrolment(session, user_id)
    if enrolment is None or enrolment.confirmed_at is None:
        raise MfaNotEnabled
    await guard.check_login_allowed(user.email_normalized, client.address)
    await guard.check_mfa_allowed(user_id)
    if user.password_hash is None or not await verify_password(
        user.password_hash, password
    ):
        record_event(session, "mfa_disable_failed", user_id=user_id, client=client)
        await wrong_password(session, guard, user, client)
    await guard.login_succeeded(user.email_normalized)
    factor = await _check_second_factor(
        session, settings, enrolment, code=code, recovery_code=recovery_code
    )
    if factor is None:
        record_event(session, "mfa_disable_failed", user_id=user_id, client=client)
        await guard.mfa_failed(user_id)
        raise InvalidMfaCode
    await guard.mfa_succeeded(user_id)
    await session.delete(enrolment)
    await session.execute(
        delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id)
    )
    _notify(session, user, enabled=False)
    record_event(session, "mfa_disabled", user_id=user_id, client=client)


async def regenerate_recovery_codes(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    *,
    user_id: uuid.UUID,
    code: str,
    client: Client,
) -> list[str]:
    """New recovery codes for a current TOTP code; the old ones stop working.

    The code is checked under the MFA lock, and a wrong one counts towards it.
    """
    enrolment = await _enrolment(session, user_id)
    if enrolment is None or enrolment.confirmed_at is None:
        raise MfaNotEnabled
    await guard.check_mfa_allowed(user_id)
    if not _accept_code(settings, enrolment, code):
        record_event(session, "mfa_failed", user_id=user_id, client=client)
        await guard.mfa_failed(user_id)
        raise InvalidMfaCode
    await guard.mfa_succeeded(user_id)
    codes = await _replace_recovery_codes(session, user_id)
    record_event(session, "mfa_recovery_codes_replaced", user_id=user_id, client=client)
    return codes


async def status(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, int]:
    """Whether MFA is on, and how many recovery codes are left."""
    enrolment = await session.get(UserMfa, user_id)
    if enrolment is None or enrolment.confirmed_at is None:
        return False, 0
    left = await session.scalars(
        select(MfaRecoveryCode.id).where(
            MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None)
        )
    )
    return True, len(list(left))
