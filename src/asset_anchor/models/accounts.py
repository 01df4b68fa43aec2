"""People, their sign-in sessions, one-time tokens, MFA and security events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.kit.time import utc_now
from asset_anchor.models.base import Base, CreatedAt, Timestamps, UUIDPrimaryKey


class User(UUIDPrimaryKey, Timestamps, Base):
    """Anyone who signs in: staff, tenants and platform admins.

    ``email`` is stored as given (trimmed); ``email_normalized`` (lower case)
    is what sign-in matches and what is unique. ``password_hash`` is None for
    an account whose owner has not chosen a password yet (made by an admin).
    """

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None]
    is_platform_admin: Mapped[bool] = mapped_column(server_default=text("false"))
    deactivated_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]


class PendingRegistration(UUIDPrimaryKey, CreatedAt, Base):
    """A sign-up waiting for the worker, which makes the account or warns.

    Every sign-up request writes exactly this row and its job, whether or not
    the address has an account, so the request's work (and time) tells
    nothing; the job decides. The row goes once the job has run.
    """

    __tablename__ = "pending_registrations"

    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str] = mapped_column(String(200))
    organization_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    client_address: Mapped[str | None] = mapped_column(INET)
    request_id: Mapped[str | None] = mapped_column(String(128))


class AuthSession(UUIDPrimaryKey, CreatedAt, Base):
    """One sign-in on one device: a refresh-token family.

    Access tokens name their session (``sid``); a request is authenticated
    only while its session is neither revoked nor past ``expires_at`` (the
    absolute lifetime, which refreshing never extends).
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (
        Index("ix_auth_sessions_user_id", "user_id"),
        Index(
            "uq_auth_sessions_mfa_challenge_id",
            "mfa_challenge_id",
            unique=True,
            postgresql_where=text("mfa_challenge_id IS NOT NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    mfa_verified: Mapped[bool] = mapped_column(server_default=text("false"))
    # The MFA challenge this sign-in used up: unique, so a challenge earns
    # one session at most.
    mfa_challenge_id: Mapped[str | None] = mapped_column(String(32))
    client_address: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(300))


class RefreshToken(UUIDPrimaryKey, CreatedAt, Base):
    """A refresh token, stored only as its SHA-256; used at most once.

    Using one sets ``used_at`` and issues its successor in the same session.
    Presenting a used one again means it was stolen (or replayed): the whole
    session is revoked.
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_session_id", "session_id"),)

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE")
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    used_at: Mapped[datetime | None]


class UserToken(UUIDPrimaryKey, CreatedAt, Base):
    """A single-use token sent by email: verify, reset, set password, change.

    Stored only as its SHA-256. ``new_email`` is the address an email-change
    token confirms.
    """

    __tablename__ = "user_tokens"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'set_password',"
            " 'change_email')",
            name="purpose",
        ),
        Index("ix_user_tokens_user_id_purpose", "user_id", "purpose"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(320))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class UserMfa(CreatedAt, Base):
    """A user's TOTP authenticator; the secret is encrypted at rest.

    ``confirmed_at`` is None while enrolment waits for the first code.
    ``last_used_step`` is the TOTP time step last accepted, so a code cannot be
    used twice.
    """

    __tablename__ = "user_mfa"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None]
    last_used_step: Mapped[int | None] = mapped_column(Integer)


class MfaRecoveryCode(UUIDPrimaryKey, CreatedAt, Base):
    """A one-time recovery code, stored only as its SHA-256."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (Index("ix_mfa_recovery_codes_user_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    used_at: Mapped[datetime | None]


class SecurityEvent(UUIDPrimaryKey, CreatedAt, Base):
    """Something that matters to an account's security, for its owner and us.

    ``user_id`` is None for events about no known account (a failed sign-in
    for an unknown address). ``detail`` never holds a secret.
    """

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_user_id_created_at", "user_id", "created_at"),
    )

    # The clock at the event, not the transaction's start: several events of
    # one request keep their order.
    created_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=text("now()")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(48))
    client_address: Mapped[str | None] = mapped_column(INET)
    request_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
