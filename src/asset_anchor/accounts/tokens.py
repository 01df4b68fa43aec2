"""Access tokens (signed JWTs) and opaque one-time tokens (stored as hashes).

Access tokens are HS256 JWTs, at most 15 minutes long, carrying ``iss``,
``aud``, ``sub`` (the user), ``sid`` (the sign-in session), ``iat``, ``exp`` and
``typ``. The header's ``kid`` names the secret that signed it, so that after a
rotation tokens signed with a previous secret (``JWT_PREVIOUS_SECRETS``) still
verify until they expire. The accepted algorithm list is fixed: a token that
names any other algorithm, ``none`` included, is refused before its signature
is looked at.

Everything else handed to a user (refresh tokens, email links, recovery codes)
is an opaque random value; the database keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from asset_anchor.kit.time import utc_now
from asset_anchor.settings import Settings

ALGORITHM = "HS256"
TokenType = Literal["access", "mfa_challenge"]
MFA_CHALLENGE_SECONDS = 300
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TokenInvalid(Exception):
    """The token is not one of ours, or not of the expected type."""


class TokenExpired(TokenInvalid):
    """The token was ours but its time is up."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    issued_at: datetime
    expires_at: datetime
    # An MFA challenge names the password it was earned with (see
    # ``password_version``); access tokens carry none.
    password_version: int | None = None
    token_id: str | None = None
    """An MFA challenge's ``jti``: a challenge earns one session at most."""


def password_version(changed_at: datetime | None) -> int:
    """Which password a challenge was earned with: when it was set, in µs.

    Exact where a JWT's whole-second ``iat`` is not: a password set in the
    same second as a challenge is told apart from one set just after it.
    """
    if changed_at is None:
        return 0
    return (changed_at - _EPOCH) // timedelta(microseconds=1)


def key_id(secret: str) -> str:
    """A public name for a secret: 16 hex digits of its SHA-256."""
    return hashlib.sha256(b"asset-anchor jwt kid\x00" + secret.encode()).hexdigest()[
        :16
    ]


def _encode(
    settings: Settings,
    *,
    kind: TokenType,
    subject: uuid.UUID,
    lifetime_seconds: int,
    extra: dict[str, Any],
) -> tuple[str, datetime]:
    secret = settings.jwt_secret_value()
    issued = utc_now().replace(microsecond=0)
    expires = issued + timedelta(seconds=lifetime_seconds)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(subject),
        "iat": issued,
        "exp": expires,
        "typ": kind,
        **extra,
    }
    token = jwt.encode(
        claims, secret, algorithm=ALGORITHM, headers={"kid": key_id(secret)}
    )
    return token, expires


def issue_access_token(
    settings: Settings, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[str, datetime]:
    """A signed access token for one session; returns it and its expiry."""
    return _encode(
        settings,
        kind="access",
        subject=user_id,
        lifetime_seconds=settings.access_token_ttl_seconds,
        extra={"sid": str(session_id)},
    )


def issue_mfa_challenge(
    settings: Settings, *, user_id: uuid.UUID, password_changed_at: datetime | None
) -> str:
    """The proof, good for five minutes, that a password was just right.

    It names that password, so that a change or reset of the password voids
    every challenge earned with the old one.
    """
    token, _ = _encode(
        settings,
        kind="mfa_challenge",
        subject=user_id,
        lifetime_seconds=MFA_CHALLENGE_SECONDS,
        extra={
            "jti": secrets.token_hex(8),
            "pwv": password_version(password_changed_at),
        },
    )
    return token


def read_token(settings: Settings, token: str, *, expected: TokenType) -> AccessClaims:
    """Verify a token of ours and return its claims; raise ``TokenInvalid``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise TokenInvalid("malformed") from error
    secrets_by_kid = {key_id(s): s for s in settings.jwt_verification_secrets()}
    secret = secrets_by_kid.get(str(header.get("kid")))
    if secret is None:
        raise TokenInvalid("unknown key")
    required = ["iss", "aud", "sub", "iat", "exp", "typ"]
    required.append("sid" if expected == "access" else "pwv")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": required},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as error:
        raise TokenExpired("expired") from error
    except jwt.PyJWTError as error:
        raise TokenInvalid(type(error).__name__) from error
    if claims.get("typ") != expected:
        raise TokenInvalid("wrong type")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
        session_id = uuid.UUID(str(claims["sid"])) if "sid" in claims else None
        issued = datetime.fromtimestamp(int(claims["iat"]), tz=utc_now().tzinfo)
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=utc_now().tzinfo)
        version = int(claims["pwv"]) if "pwv" in claims else None
        token_id = str(claims["jti"]) if "jti" in claims else None
    except (TypeError, ValueError) as error:
        raise TokenInvalid("bad claims") from error
    if expected == "mfa_challenge" and not token_id:
        raise TokenInvalid("challenge without an id")
    return AccessClaims(user_id, session_id, issued, expires, version, token_id)


def new_opaque_token() -> str:
    """256 random bits, URL-safe: for refresh tokens and email links."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the database keeps of an opaque token."""
    return hashlib.sha256(token.encode()).digest()
