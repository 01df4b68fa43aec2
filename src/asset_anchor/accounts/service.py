"""Accounts: signing up, signing in, sessions, email links and passwords.

The service flushes and never commits: the request's session dependency (or
the job runner) commits. Errors that must keep the work done so far (a failed
sign-in is recorded before the 401) say so with ``keeps_work``.

Nothing here logs or stores a password, a token or a hash of either beyond
the hash columns themselves; security events carry ids and addresses only.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.errors import (
    AccountLocked,
    EmailAlreadyVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidLinkToken,
    InvalidMfaChallenge,
    InvalidRefreshToken,
    SessionNotFound,
    WeakPassword,
    WrongPassword,
)
from asset_anchor.accounts.limits import AuthGuard
from asset_anchor.accounts.tokens import (
    MFA_CHALLENGE_SECONDS,
    issue_access_token,
    issue_mfa_challenge,
    new_opaque_token,
    token_hash,
)
from asset_anchor.db import flush_or_conflict
from asset_anchor.email.service import clear_suppression, queue_email
from asset_anchor.jobs.outbox import enqueue
from asset_anchor.kit.email_address import domain_of, normalize_address
from asset_anchor.kit.passwords import (
    burn_verify_time,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger
from asset_anchor.models import (
    AuthSession,
    Organization,
    OrganizationMembership,
    PendingRegistration,
    RefreshToken,
    SecurityEvent,
    User,
    UserMfa,
    UserToken,
)
from asset_anchor.settings import Settings

log = get_logger(__name__)

LINK_PURPOSES = ("verify_email", "reset_password", "set_password", "change_email")


@dataclass(frozen=True)
class Client:
    """Where a request came from, for security events and limits."""

    address: str | None
    user_agent: str | None
    request_id: str | None


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID


@dataclass(frozen=True)
class MfaRequired:
    challenge_token: str
    expires_in: int


# --- security events ------------------------------------------------------


def record_event(
    session: AsyncSession,
    kind: str,
    *,
    user_id: uuid.UUID | None,
    client: Client | None,
    **detail: Any,
) -> None:
    """Add a security event to the caller's transaction."""
    session.add(
        SecurityEvent(
            id=uuid.uuid4(),
            user_id=user_id,
            kind=kind,
            client_address=client.address if client else None,
            request_id=client.request_id if client else None,
            detail=detail,
        )
    )
    log.info("security.event", kind=kind, user_id=str(user_id) if user_id else None)


# --- lookups --------------------------------------------------------------


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    found: User | None = await session.scalar(
        select(User).where(User.email_normalized == normalize_address(email))
    )
    return found


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def check_password_strength(password: str, *, full_name: str, email: str) -> None:
    """Refuse a weak new password; zxcvbn runs in a thread (up to ~0.5 s)."""
    problem = await asyncio.to_thread(
        password_problem, password, user_inputs=[full_name, email]
    )
    if problem is not None:
        raise WeakPassword(problem)


# --- one-time email links -------------------------------------------------


async def issue_link_token(
    session: AsyncSession,
    user: User,
    purpose: str,
    *,
    lifetime: timedelta,
    new_email: str | None = None,
) -> str:
    """A fresh single-use link token; older unused ones for the purpose die."""
    now = utc_now()
    await session.execute(
        update(UserToken)
        .where(
            UserToken.user_id == user.id,
            UserToken.purpose == purpose,
            UserToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    raw = new_opaque_token()
    session.add(
        UserToken(
            id=uuid.uuid4(),
            user_id=user.id,
            purpose=purpose,
            token_hash=token_hash(raw),
            new_email=new_email,
            expires_at=now + lifetime,
        )
    )
    return raw


async def consume_link_token(
    session: AsyncSession, raw: str, purposes: tuple[str, ...]
) -> tuple[UserToken, User]:
    """Use a link token once; raise ``InvalidLinkToken`` for anything else."""
    row = (
        await session.execute(
            select(UserToken, User)
            .join(User, User.id == UserToken.user_id)
            .where(UserToken.token_hash == token_hash(raw))
            .with_for_update(of=UserToken)
        )
    ).first()
    if row is None:
        raise InvalidLinkToken
    link, user = row
    if (
        link.purpose not in purposes
        or link.used_at is not None
        or link.expires_at <= utc_now()
        or user.deactivated_at is not None
    ):
        raise InvalidLinkToken
    link.used_at = utc_now()
    return link, user


async def send_verification(
    session: AsyncSession, settings: Settings, user: User
) -> None:
    hours = settings.email_verification_ttl_hours
    raw = await issue_link_token(
        session,
        user,
        "verify_email",
        lifetime=timedelta(hours=hours),
        new_email=user.email_normalized,
    )
    queue_email(
        session,
        kind="verify_email",
        to_address=user.email,
        to_name=user.full_name,
        context={"expires_hours": hours},
        secrets={"token": raw},
        settings=settings,
    )


# --- sign-up --------------------------------------------------------------


async def register(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    full_name: str,
    organization_name: str,
    client: Client,
) -> None:
    """Record a sign-up for the worker, whatever the address.

    The request does the same work either way (check and hash the password,
    write one pending registration and its job), so neither the answer nor
    its timing tells a caller whether the address has an account. The job
    (``complete_registration``) makes the account, or tells the address's
    owner that someone tried to sign up with it.
    """
    await check_password_strength(password, full_name=full_name, email=email)
    password_hash = await hash_password(password)
    pending = PendingRegistration(
        id=uuid.uuid4(),
        email=email.strip(),
        email_normalized=normalize_address(email),
        full_name=full_name.strip(),
        organization_name=organization_name.strip(),
        password_hash=password_hash,
        client_address=client.address,
        request_id=client.request_id,
    )
    session.add(pending)
    enqueue(session, "accounts.complete_registration", registration_id=str(pending.id))


async def complete_registration(
    session: AsyncSession, settings: Settings, registration_id: uuid.UUID
) -> bool:
    """The job's half of a sign-up: the account, or a warning to its owner.

    Idempotent: the pending row goes in the same transaction, so a second run
    finds nothing to do. Two sign-ups for one new address at once make one
    account; the other is answered as an address already in use.
    """
    pending = await session.scalar(
        select(PendingRegistration)
        .where(PendingRegistration.id == registration_id)
        .with_for_update()
    )
    if pending is None:
        return False
    await session.delete(pending)
    client = Client(pending.client_address, None, pending.request_id)
    created = await session.scalar(
        insert(User)
        .values(
            id=uuid.uuid4(),
            email=pending.email,
            email_normalized=pending.email_normalized,
            full_name=pending.full_name,
            password_hash=pending.password_hash,
            password_changed_at=utc_now(),
        )
        .on_conflict_do_nothing(index_elements=[User.email_normalized])
        .returning(User.id)
    )
    if created is None:
        existing = await user_by_email(session, pending.email_normalized)
        assert existing is not None
        queue_email(
            session,
            kind="account_exists",
            to_address=existing.email,
            to_name=existing.full_name,
        )
        record_event(
            session, "signup_existing_address", user_id=existing.id, client=client
        )
        return False

    user = await get_user(session, created)
    assert user is not None
    organization = Organization(id=uuid.uuid4(), name=pending.organization_name)
    session.add(organization)
    await session.flush()
    session.add(
        OrganizationMembership(
            id=uuid.uuid4(),
            organization_id=organization.id,
            user_id=user.id,
            role="owner",
        )
    )
    await send_verification(session, settings, user)
    record_event(session, "account_created", user_id=user.id, client=client)
    return True


# --- sign-in and sessions -------------------------------------------------


async def start_session(
    session: AsyncSession,
    settings: Settings,
    user: User,
    client: Client,
    *,
    mfa_verified: bool,
    mfa_challenge_id: str | None = None,
) -> IssuedTokens:
    now = utc_now()
    auth_session = AuthSession(
        id=uuid.uuid4(),
        user_id=user.id,
        expires_at=now + timedelta(days=settings.session_ttl_days),
        last_used_at=now,
        mfa_verified=mfa_verified,
        mfa_challenge_id=mfa_challenge_id,
        client_address=client.address,
        user_agent=(client.user_agent or "")[:300] or None,
    )
    session.add(auth_session)
    # Two requests racing with one MFA challenge: the unique index lets one in.
    await flush_or_conflict(
        session, {"uq_auth_sessions_mfa_challenge_id": InvalidMfaChallenge}
    )
    return _tokens_for(session, settings, user.id, auth_session.id)


def _tokens_for(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
) -> IssuedTokens:
    refresh = new_opaque_token()
    session.add(
        RefreshToken(
            id=uuid.uuid4(), session_id=session_id, token_hash=token_hash(refresh)
        )
    )
    access, _ = issue_access_token(settings, user_id=user_id, session_id=session_id)
    return IssuedTokens(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_seconds,
        session_id=session_id,
    )


async def mfa_enrolled(session: AsyncSession, user_id: uuid.UUID) -> bool:
    confirmed = await session.scalar(
        select(UserMfa.confirmed_at).where(UserMfa.user_id == user_id)
    )
    return confirmed is not None


async def login(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    *,
    email: str,
    password: str,
    client: Client,
) -> IssuedTokens | MfaRequired:
    """Check a password; answer tokens, or an MFA challenge when enrolled."""
    subject = normalize_address(email)
    await guard.check_login_allowed(subject, client.address)

    user = await user_by_email(session, email)
    stored = None if user is None or user.deactivated_at else user.password_hash
    if stored is None:
        await burn_verify_time(password)
        ok = False
    else:
        ok = await verify_password(stored, password)
    if user is None or stored is None or not ok:
        await _login_failed(session, guard, subject, user, client)
        raise InvalidCredentials

    await guard.login_succeeded(subject)
    if needs_rehash(stored):
        user.password_hash = await hash_password(password)
        log.info("accounts.password_rehashed", user_id=str(user.id))
    if await mfa_enrolled(session, user.id):
        record_event(session, "login_password_accepted", user_id=user.id, client=client)
        return MfaRequired(
            challenge_token=issue_mfa_challenge(
                settings,
                user_id=user.id,
                password_changed_at=user.password_changed_at,
            ),
            expires_in=MFA_CHALLENGE_SECONDS,
        )
    tokens = await start_session(session, settings, user, client, mfa_verified=False)
    record_event(
        session,
        "login",
        user_id=user.id,
        client=client,
        session_id=str(tokens.session_id),
    )
    return tokens


async def _login_failed(
    session: AsyncSession,
    guard: AuthGuard,
    subject: str,
    user: User | None,
    client: Client,
) -> None:
    locked_seconds = await guard.login_failed(subject, client.address)
    record_event(
        session,
        "login_failed",
        user_id=user.id if user else None,
        client=client,
        email_domain=domain_of(subject),
    )
    if locked_seconds is None:
        return
    # An address without an account locks the same way, so the answer to the
    # failure that locks tells nothing; only a real account is told by email.
    if user is not None:
        _tell_of_lock(session, user, client, locked_seconds)
    raise AccountLocked(locked_seconds, "Too many failed sign-ins; try again later.")


def _tell_of_lock(
    session: AsyncSession, user: User, client: Client, locked_seconds: int
) -> None:
    """A lock is a security event, and its owner hears of it by email."""
    record_event(
        session,
        "account_locked",
        user_id=user.id,
        client=client,
        seconds=locked_seconds,
    )
    queue_email(
        session,
        kind="account_locked",
        to_address=user.email,
        to_name=user.full_name,
        context={"locked_minutes": max(1, round(locked_seconds / 60))},
    )


async def refresh(
    session: AsyncSession, settings: Settings, *, refresh_token: str, client: Client
) -> IssuedTokens:
    """Swap a refresh token for a new pair; a reused one ends its session."""
    row = (
        await session.execute(
            select(RefreshToken, AuthSession, User)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .join(User, User.id == AuthSession.user_id)
            .where(RefreshToken.token_hash == token_hash(refresh_token))
            .with_for_update(of=[RefreshToken, AuthSession])
        )
    ).first()
    if row is None:
        raise InvalidRefreshToken
    token, auth_session, user = row
    now = utc_now()
    if auth_session.revoked_at is not None or auth_session.expires_at <= now:
        raise InvalidRefreshToken
    if user.deactivated_at is not None:
        raise InvalidRefreshToken
    if token.used_at is not None:
        auth_session.revoked_at = now
        auth_session.revoked_reason = "refresh_token_reused"
        record_event(
            session,
            "refresh_token_reused",
            user_id=user.id,
            client=client,
            session_id=str(auth_session.id),
        )
        raise InvalidRefreshToken(
            "This refresh token was already used; the session has been ended."
        )
    token.used_at = now
    auth_session.last_used_at = now
    return _tokens_for(session, settings, user.id, auth_session.id)


async def revoke_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    reason: str,
    keep: uuid.UUID | None = None,
    only: uuid.UUID | None = None,
) -> int:
    """End live sessions of a user; their access tokens stop working now."""
    statement = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utc_now(), revoked_reason=reason)
    )
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    if only is not None:
        statement = statement.where(AuthSession.id == only)
    result = await session.execute(statement.returning(AuthSession.id))
    return len(result.all())


async def live_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[AuthSession]:
    rows = await session.scalars(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utc_now(),
        )
        .order_by(AuthSession.last_used_at.desc())
    )
    return list(rows)


async def revoke_one_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, client: Client
) -> None:
    if not await revoke_sessions(session, user_id, reason="revoked", only=session_id):
        raise SessionNotFound
    record_event(
        session,
        "session_revoked",
        user_id=user_id,
        client=client,
        session_id=str(session_id),
    )


# --- email verification ---------------------------------------------------


async def resend_verification(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> None:
    user = await get_user(session, user_id)
    assert user is not None
    if user.email_verified_at is not None:
        raise EmailAlreadyVerified
    await send_verification(session, settings, user)


async def verify_email(session: AsyncSession, *, token: str, client: Client) -> User:
    """Confirm an address: the account's own, or the one it is changing to."""
    link, user = await consume_link_token(
        session, token, ("verify_email", "change_email")
    )
    now = utc_now()
    if link.purpose == "verify_email":
        if link.new_email != user.email_normalized:
            raise InvalidLinkToken
        user.email_verified_at = user.email_verified_at or now
        record_event(session, "email_verified", user_id=user.id, client=client)
        return user

    new_email = link.new_email or ""
    taken = await user_by_email(session, new_email)
    if taken is not None and taken.id != user.id:
        raise EmailTaken
    old_email = user.email
    user.email = new_email
    user.email_normalized = normalize_address(new_email)
    user.email_verified_at = now
    await clear_suppression(session, new_email)
    queue_email(
        session,
        kind="email_changed",
        to_address=old_email,
        to_name=user.full_name,
        context={"new_email": new_email, "changed_at": now.isoformat()},
    )
    record_event(
        session,
        "email_changed",
        user_id=user.id,
        client=client,
        old_domain=domain_of(old_email),
        new_domain=domain_of(new_email),
    )
    return user


async def request_email_change(
    session: AsyncSession,
    settings: Settings,
    user: User,
    new_email: str,
    client: Client,
) -> None:
    """Send a confirmation link to the new address; nothing changes until used.

    When the address belongs to another account, its owner is told instead,
    and the caller gets the same answer: the API never says whose address
    is whose.
    """
    if normalize_address(new_email) == user.email_normalized:
        return
    existing = await user_by_email(session, new_email)
    hours = settings.email_verification_ttl_hours
    # A token is made either way, so the account shows the same pending
    # address; for an address in use it is never sent and cannot be used.
    raw = await issue_link_token(
        session,
        user,
        "change_email",
        lifetime=timedelta(hours=hours),
        new_email=new_email.strip(),
    )
    if existing is not None:
        queue_email(
            session,
            kind="account_exists",
            to_address=existing.email,
            to_name=existing.full_name,
        )
    else:
        # The owner says the address works now: mail it again, or the link
        # that confirms it could never arrive.
        await clear_suppression(session, new_email)
        queue_email(
            session,
            kind="email_change_verify",
            to_address=new_email.strip(),
            to_name=user.full_name,
            context={"expires_hours": hours},
            secrets={"token": raw},
            settings=settings,
        )
    record_event(
        session,
        "email_change_requested",
        user_id=user.id,
        client=client,
        new_domain=domain_of(new_email),
    )


async def pending_email(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    found: str | None = await session.scalar(
        select(UserToken.new_email)
        .where(
            UserToken.user_id == user_id,
            UserToken.purpose == "change_email",
            UserToken.used_at.is_(None),
            UserToken.expires_at > utc_now(),
        )
        .order_by(UserToken.created_at.desc())
        .limit(1)
    )
    return found


# --- passwords ------------------------------------------------------------


def request_password_reset(session: AsyncSession, email: str) -> None:
    """Hand the reset to the worker, whatever the address.

    The request does the same work whether or not the address has an account
    (one outbox row), so neither its answer nor its timing tells; the job
    looks the account up and sends the link, or nothing.
    """
    enqueue(session, "accounts.send_password_reset", email=normalize_address(email))


async def send_password_reset(
    session: AsyncSession, settings: Settings, email: str
) -> bool:
    """The job's half: a reset link to an active account, if there is one."""
    user = await user_by_email(session, email)
    if user is None or user.deactivated_at is not None:
        log.info("accounts.password_reset_no_account", email_domain=domain_of(email))
        return False
    minutes = settings.password_reset_ttl_minutes
    raw = await issue_link_token(
        session, user, "reset_password", lifetime=timedelta(minutes=minutes)
    )
    queue_email(
        session,
        kind="password_reset",
        to_address=user.email,
        to_name=user.full_name,
        context={"expires_minutes": minutes},
        secrets={"token": raw},
        settings=settings,
    )
    record_event(session, "password_reset_requested", user_id=user.id, client=None)
    return True


async def _set_password(
    session: AsyncSession, user: User, password: str, now: datetime
) -> None:
    await check_password_strength(password, full_name=user.full_name, email=user.email)
    user.password_hash = await hash_password(password)
    user.password_changed_at = now
    queue_email(
        session,
        kind="password_changed",
        to_address=user.email,
        to_name=user.full_name,
        context={"changed_at": now.isoformat()},
    )


async def confirm_password_reset(
    session: AsyncSession,
    guard: AuthGuard,
    *,
    token: str,
    new_password: str,
    client: Client,
) -> None:
    """Set a new password from an emailed link; every session ends."""
    link, user = await consume_link_token(
        session, token, ("reset_password", "set_password")
    )
    now = utc_now()
    await _set_password(session, user, new_password, now)
    # Using the link proves the address is theirs.
    user.email_verified_at = user.email_verified_at or now
    await revoke_sessions(session, user.id, reason="password_reset")
    await guard.unlock(user.email_normalized)
    record_event(
        session, "password_reset", user_id=user.id, client=client, via=link.purpose
    )


async def wrong_password(
    session: AsyncSession, guard: AuthGuard, user: User, client: Client
) -> NoReturn:
    """Count a wrong password given by a signed-in user, and refuse.

    It counts towards the account's sign-in lock; the failure that locks it
    answers 429 and tells the owner by email, as a failed sign-in would.
    """
    locked_seconds = await guard.login_failed(user.email_normalized, client.address)
    if locked_seconds is None:
        raise WrongPassword
    _tell_of_lock(session, user, client, locked_seconds)
    raise AccountLocked(locked_seconds, "Too many wrong passwords; try again later.")


async def change_password(
    session: AsyncSession,
    guard: AuthGuard,
    *,
    user_id: uuid.UUID,
    current_session: uuid.UUID,
    current_password: str,
    new_password: str,
    client: Client,
) -> None:
    """Change a password knowing the old one; other sessions end.

    The current password is checked under the sign-in lock and a wrong one
    counts towards it, as at sign-in.
    """
    user = await get_user(session, user_id)
    assert user is not None
    await guard.check_login_allowed(user.email_normalized, client.address)
    if user.password_hash is None or not await verify_password(
        user.password_hash, current_password
    ):
        record_event(session, "password_change_failed", user_id=user.id, client=client)
        await wrong_password(session, guard, user, client)
    await guard.login_succeeded(user.email_normalized)
    await _set_password(session, user, new_password, utc_now())
    await revoke_sessions(
        session, user.id, reason="password_changed", keep=current_session
    )
    record_event(session, "password_changed", user_id=user.id, client=client)


# --- administration -------------------------------------------------------


async def create_admin(
    session: AsyncSession, settings: Settings, *, email: str, full_name: str
) -> tuple[User, bool]:
    """Make (or promote) a platform admin and email a set-password link.

    Returns the user and whether it was created. No password is ever taken
    here: the owner of the address chooses one through the link.
    """
    user = await user_by_email(session, email)
    created = user is None
    if user is None:
        user = User(
            id=uuid.uuid4(),
            email=email.strip(),
            email_normalized=normalize_address(email),
            full_name=full_name.strip(),
            password_hash=None,
        )
        session.add(user)
    user.is_platform_admin = True
    await session.flush()
    if user.password_hash is None:
        hours = settings.set_password_ttl_hours
        raw = await issue_link_token(
            session, user, "set_password", lifetime=timedelta(hours=hours)
        )
        queue_email(
            session,
            kind="set_password",
            to_address=user.email,
            to_name=user.full_name,
            context={"expires_hours": hours},
            secrets={"token": raw},
            settings=settings,
        )
    record_event(session, "admin_granted", user_id=user.id, client=None, via="cli")
    return user, created


async def deactivate_user(
    session: AsyncSession, admin: uuid.UUID, user_id: uuid.UUID, client: Client
) -> User:
    user = await _user_for_admin(session, user_id)
    user.deactivated_at = user.deactivated_at or utc_now()
    await revoke_sessions(session, user.id, reason="deactivated")
    record_event(
        session, "account_deactivated", user_id=user.id, client=client, by=str(admin)
    )
    return user


async def reactivate_user(
    session: AsyncSession, admin: uuid.UUID, user_id: uuid.UUID, client: Client
) -> User:
    user = await _user_for_admin(session, user_id)
    user.deactivated_at = None
    record_event(
        session, "account_reactivated", user_id=user.id, client=client, by=str(admin)
    )
    return user


async def unlock_user(
    session: AsyncSession,
    guard: AuthGuard,
    admin: uuid.UUID,
    user_id: uuid.UUID,
    client: Client,
) -> User:
    user = await _user_for_admin(session, user_id)
    await guard.unlock(user.email_normalized)
    record_event(
        session, "account_unlocked", user_id=user.id, client=client, by=str(admin)
    )
    return user


async def _user_for_admin(session: AsyncSession, user_id: uuid.UUID) -> User:
    from asset_anchor.accounts.errors import UserNotFound

    user = await get_user(session, user_id)
    if user is None:
        raise UserNotFound
    return user
