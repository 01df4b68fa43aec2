"""The accounts API: /auth (signing in and out, links, MFA), /me and /admin/users."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from asset_anchor.accounts import mfa, service
from asset_anchor.accounts.auth import (
    AdminOnly,
    AdminPrincipal,
    CurrentPrincipal,
    TokenExpiredError,
)
from asset_anchor.accounts.errors import (
    AccountLocked,
    EmailAlreadyVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidLinkToken,
    InvalidMfaChallenge,
    InvalidMfaCode,
    InvalidRefreshToken,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaSetupMissing,
    SessionNotFound,
    UserNotFound,
    WeakPassword,
    WrongPassword,
)
from asset_anchor.accounts.limits import (
    EMAIL_CHANGE_PER_USER,
    LINK_PER_ADDRESS,
    REGISTER_PER_ADDRESS,
    RESEND_PER_USER,
    RESET_PER_ADDRESS,
    RESET_PER_EMAIL,
    AuthGuard,
)
from asset_anchor.accounts.schemas import (
    Accepted,
    AdminUserOut,
    LoginIn,
    MembershipOut,
    MeOut,
    MeUpdateIn,
    MfaChallengeOut,
    MfaCodeIn,
    MfaDisableIn,
    MfaSetupOut,
    MfaStatusOut,
    MfaVerifyIn,
    PasswordChangeIn,
    RecoveryCodesOut,
    RefreshIn,
    RegisterIn,
    ResetConfirmIn,
    ResetRequestIn,
    SecurityEventOut,
    SecurityEventPage,
    SessionList,
    SessionOut,
    TokenIn,
    TokenPair,
)
from asset_anchor.db import SessionDep
from asset_anchor.deps import ClientDep, GuardDep, SettingsDep
from asset_anchor.errors import (
    TooManyRequests,
    Unauthorized,
    error_responses,
)
from asset_anchor.kit.email_address import MAX_LENGTH as EMAIL_MAX_LENGTH
from asset_anchor.kit.email_address import normalize_address
from asset_anchor.kit.fields import Done
from asset_anchor.kit.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    SortColumn,
    Sorting,
    cut_page,
    paginate,
)
from asset_anchor.models import (
    Organization,
    OrganizationMembership,
    SecurityEvent,
    User,
)

auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
me_router = APIRouter(prefix="/api/v1/me", tags=["me"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

_PRINCIPAL_ERRORS = (Unauthorized, TokenExpiredError)


def _pair(tokens: service.IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


# --- sign-up and sign-in ---------------------------------------------------


@auth_router.post(
    "/register",
    name="register",
    summary="Create a landlord account and its organization",
    status_code=202,
    response_model=Accepted,
    responses=error_responses(WeakPassword, TooManyRequests),
)
async def register(
    body: RegisterIn,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
    client: ClientDep,
) -> Accepted:
    """Always the same answer, whether or not the address has an account.

    A new address gets its account, an organization with the caller as its
    owner, and a link to confirm the address; an address that already has an
    account gets an email saying so, and nothing else changes.
    """
    await guard.limit(REGISTER_PER_ADDRESS, client.address)
    await service.register(
        session,
        settings,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        organization_name=body.organization_name,
        client=client,
    )
    return Accepted(
        detail="Check your inbox: we have sent an email to this address to go on."
    )


@auth_router.post(
    "/login",
    name="login",
    summary="Sign in with email and password",
    response_model=TokenPair | MfaChallengeOut,
    responses=error_responses(InvalidCredentials, AccountLocked),
)
async def login(
    body: LoginIn,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
    client: ClientDep,
) -> TokenPair | MfaChallengeOut:
    """Tokens; or, with two-step verification on, a challenge for `mfa/verify`."""
    outcome = await service.login(
        session,
        settings,
        guard,
        email=body.email,
        password=body.password,
        client=client,
    )
    if isinstance(outcome, service.MfaRequired):
        return MfaChallengeOut(
            challenge_token=outcome.challenge_token, expires_in=outcome.expires_in
        )
    return _pair(outcome)


@auth_router.post(
    "/refresh",
    name="refresh",
    summary="Exchange a refresh token for a new pair",
    response_model=TokenPair,
    responses=error_responses(InvalidRefreshToken),
)
async def refresh(
    body: RefreshIn, session: SessionDep, settings: SettingsDep, client: ClientDep
) -> TokenPair:
    """Each refresh token works once; using one twice ends its session."""
    tokens = await service.refresh(
        session, settings, refresh_token=body.refresh_token, client=client
    )
    return _pair(tokens)


@auth_router.post(
    "/logout",
    name="logout",
    summary="End this session",
    response_model=Done,
    responses=error_responses(*_PRINCIPAL_ERRORS),
)
async def logout(
    caller: CurrentPrincipal, session: SessionDep, client: ClientDep
) -> Done:
    """The access token stops working at once; the refresh token too."""
    await service.revoke_sessions(
        session, caller.user_id, reason="logout", only=caller.session_id
    )
    service.record_event(session, "logout", user_id=caller.user_id, client=client)
    return Done()


@auth_router.post(
    "/logout-all",
    name="logout_all",
    summary="End every session of this account, this one included",
    response_model=Done,
    responses=error_responses(*_PRINCIPAL_ERRORS),
)
async def logout_all(
    caller: CurrentPrincipal, session: SessionDep, client: ClientDep
) -> Done:
    """Every access and refresh token of the account stops working at once."""
    count = await service.revoke_sessions(session, caller.user_id, reason="logout_all")
    service.record_event(
        session, "logout_all", user_id=caller.user_id, client=client, sessions=count
    )
    return Done()


@auth_router.get(
    "/sessions",
    name="sessions_list",
    summary="List this account's live sessions",
    response_model=SessionList,
    responses=error_responses(*_PRINCIPAL_ERRORS),
)
async def sessions_list(caller: CurrentPrincipal, session: SessionDep) -> SessionList:
    """Sessions not ended and not expired, most recently used first."""
    rows = await service.live_sessions(session, caller.user_id)
    return SessionList(
        items=[
            SessionOut(
                id=row.id,
                created_at=row.created_at,
                last_used_at=row.last_used_at,
                expires_at=row.expires_at,
                client_address=str(row.client_address) if row.client_address else None,
                user_agent=row.user_agent,
                current=row.id == caller.session_id,
            )
            for row in rows
        ]
    )


@auth_router.delete(
    "/sessions/{session_id}",
    name="sessions_revoke",
    summary="End one session of this account",
    response_model=Done,
    responses=error_responses(*_PRINCIPAL_ERRORS, SessionNotFound),
)
async def sessions_revoke(
    session_id: uuid.UUID,
    caller: CurrentPrincipal,
    session: SessionDep,
    client: ClientDep,
) -> Done:
    """The session's tokens stop working at once."""
    await service.revoke_one_session(session, caller.user_id, session_id, client)
    return Done()


# --- email links -----------------------------------------------------------


@auth_router.post(
    "/verify-email",
    name="verify_email",
    summary="Confirm an email address with the emailed token",
    response_model=Done,
    responses=error_responses(InvalidLinkToken, EmailTaken, TooManyRequests),
)
async def verify_email(
    body: TokenIn, session: SessionDep, guard: GuardDep, client: ClientDep
) -> Done:
    """Confirms the account's address, or completes a change of address."""
    await guard.limit(LINK_PER_ADDRESS, client.address)
    await service.verify_email(session, token=body.token, client=client)
    return Done()


@auth_router.post(
    "/verify-email/resend",
    name="verify_email_resend",
    summary="Send the confirmation link again",
    status_code=202,
    response_model=Accepted,
    responses=error_responses(
        *_PRINCIPAL_ERRORS, EmailAlreadyVerified, TooManyRequests
    ),
)
async def verify_email_resend(
    caller: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
) -> Accepted:
    """A new link replaces any earlier one; at most three an hour."""
    await guard.limit(RESEND_PER_USER, str(caller.user_id))
    await service.resend_verification(session, settings, caller.user_id)
    return Accepted(detail="We have sent a new confirmation link.")


@auth_router.post(
    "/password-reset/request",
    name="password_reset_request",
    summary="Email a password-reset link",
    status_code=202,
    response_model=Accepted,
    responses=error_responses(TooManyRequests),
)
async def password_reset_request(
    body: ResetRequestIn, session: SessionDep, guard: GuardDep, client: ClientDep
) -> Accepted:
    """The same answer whether or not the address has an account."""
    await guard.limit(RESET_PER_ADDRESS, client.address)
    await guard.limit(RESET_PER_EMAIL, normalize_address(body.email))
    service.request_password_reset(session, body.email)
    return Accepted(
        detail="If this address has an account, a reset link is on its way."
    )


@auth_router.post(
    "/password-reset/confirm",
    name="password_reset_confirm",
    summary="Choose a new password with the emailed token",
    response_model=Done,
    responses=error_responses(InvalidLinkToken, WeakPassword, TooManyRequests),
)
async def password_reset_confirm(
    body: ResetConfirmIn, session: SessionDep, guard: GuardDep, client: ClientDep
) -> Done:
    """Every session of the account ends; sign in with the new password."""
    await guard.limit(LINK_PER_ADDRESS, client.address)
    await service.confirm_password_reset(
        session, guard, token=body.token, new_password=body.new_password, client=client
    )
    return Done()


@auth_router.post(
    "/password/change",
    name="password_change",
    summary="Change the password, knowing the current one",
    response_model=Done,
    responses=error_responses(
        *_PRINCIPAL_ERRORS, WrongPassword, WeakPassword, AccountLocked, TooManyRequests
    ),
)
async def password_change(
    body: PasswordChangeIn,
    caller: CurrentPrincipal,
    session: SessionDep,
    guard: GuardDep,
    client: ClientDep,
) -> Done:
    """Every other session of the account ends; this one goes on.

    Wrong current passwords count towards the sign-in lockout, and while it
    holds this answers `account_locked` too.
    """
    await service.change_password(
        session,
        guard,
        user_id=caller.user_id,
        current_session=caller.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
        client=client,
    )
    return Done()


# --- two-step verification -------------------------------------------------


@auth_router.get(
    "/mfa",
    name="mfa_status",
    summary="Whether two-step verification is on",
    response_model=MfaStatusOut,
    responses=error_responses(*_PRINCIPAL_ERRORS),
)
async def mfa_status(caller: CurrentPrincipal, session: SessionDep) -> MfaStatusOut:
    """Whether MFA is on, and how many unused recovery codes are left."""
    enabled, left = await mfa.status(session, caller.user_id)
    return MfaStatusOut(enabled=enabled, recovery_codes_left=left)


@auth_router.post(
    "/mfa/setup",
    name="mfa_setup",
    summary="Start enrolling an authenticator app",
    response_model=MfaSetupOut,
    responses=error_responses(*_PRINCIPAL_ERRORS, MfaAlreadyEnabled),
)
async def mfa_setup(
    caller: CurrentPrincipal, session: SessionDep, settings: SettingsDep
) -> MfaSetupOut:
    """A new secret, shown this once; confirm it with a code to turn MFA on."""
    setup = await mfa.begin_setup(session, settings, caller.user_id)
    return MfaSetupOut(secret=setup.secret, otpauth_uri=setup.otpauth_uri)


@auth_router.post(
    "/mfa/confirm",
    name="mfa_confirm",
    summary="Turn two-step verification on with a first code",
    response_model=RecoveryCodesOut,
    responses=error_responses(
        *_PRINCIPAL_ERRORS, MfaSetupMissing, MfaAlreadyEnabled, InvalidMfaCode
    ),
)
async def mfa_confirm(
    body: MfaCodeIn,
    caller: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    client: ClientDep,
) -> RecoveryCodesOut:
    """Answers ten one-time recovery codes, shown this once."""
    codes = await mfa.confirm_setup(
        session,
        settings,
        user_id=caller.user_id,
        session_id=caller.session_id,
        code=body.code,
        client=client,
    )
    return RecoveryCodesOut(recovery_codes=codes)


@auth_router.post(
    "/mfa/verify",
    name="mfa_verify",
    summary="Finish signing in with a code or a recovery code",
    response_model=TokenPair,
    responses=error_responses(InvalidMfaChallenge, InvalidMfaCode, AccountLocked),
)
async def mfa_verify(
    body: MfaVerifyIn,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
    client: ClientDep,
) -> TokenPair:
    """Send the login's challenge token with a current code or a recovery code.

    Repeated wrong codes pause verification for the account.
    """
    tokens = await mfa.complete_login(
        session,
        settings,
        guard,
        challenge_token=body.challenge_token,
        code=body.code,
        recovery_code=body.recovery_code,
        client=client,
    )
    return _pair(tokens)


@auth_router.post(
    "/mfa/disable",
    name="mfa_disable",
    summary="Turn two-step verification off",
    response_model=Done,
    responses=error_responses(
        *_PRINCIPAL_ERRORS,
        MfaNotEnabled,
        WrongPassword,
        InvalidMfaCode,
        AccountLocked,
        TooManyRequests,
    ),
)
async def mfa_disable(
    body: MfaDisableIn,
    caller: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
    client: ClientDep,
) -> Done:
    """Needs the password and a current code (or a recovery code).

    Wrong passwords count towards the sign-in lockout and wrong codes towards
    the MFA one; while either holds this answers `account_locked`.
    """
    await mfa.disable(
        session,
        settings,
        guard,
        user_id=caller.user_id,
        password=body.password,
        code=body.code,
        recovery_code=body.recovery_code,
        client=client,
    )
    return Done()


@auth_router.post(
    "/mfa/recovery-codes",
    name="mfa_recovery_codes",
    summary="Replace the recovery codes",
    response_model=RecoveryCodesOut,
    responses=error_responses(
        *_PRINCIPAL_ERRORS, MfaNotEnabled, InvalidMfaCode, AccountLocked
    ),
)
async def mfa_recovery_codes(
    body: MfaCodeIn,
    caller: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
    client: ClientDep,
) -> RecoveryCodesOut:
    """Needs a current code; every earlier recovery code stops working.

    Wrong codes count towards the MFA lockout, as at sign-in.
    """
    codes = await mfa.regenerate_recovery_codes(
        session,
        settings,
        guard,
        user_id=caller.user_id,
        code=body.code,
        client=client,
    )
    return RecoveryCodesOut(recovery_codes=codes)


# --- the signed-in user ----------------------------------------------------


async def _me(session: SessionDep, user_id: uuid.UUID) -> MeOut:
    user = await service.get_user(session, user_id)
    assert user is not None
    memberships = await session.execute(
        select(OrganizationMembership.role, Organization.id, Organization.name)
        .join(Organization, Organization.id == OrganizationMembership.organization_id)
        .where(OrganizationMembership.user_id == user_id)
        .order_by(OrganizationMembership.created_at)
    )
    enabled, _ = await mfa.status(session, user_id)
    return MeOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        email_verified=user.email_verified_at is not None,
        pending_email=await service.pending_email(session, user_id),
        is_platform_admin=user.is_platform_admin,
        mfa_enabled=enabled,
        memberships=[
            MembershipOut(organization_id=org_id, organization_name=name, role=role)
            for role, org_id, name in memberships
        ],
        created_at=user.created_at,
    )


@me_router.get(
    "",
    name="get",
    summary="The signed-in user",
    response_model=MeOut,
    responses=error_responses(*_PRINCIPAL_ERRORS),
)
async def me_get(caller: CurrentPrincipal, session: SessionDep) -> MeOut:
    """The account, its organizations and its MFA state."""
    return await _me(session, caller.user_id)


@me_router.patch(
    "",
    name="update",
    summary="Change the name or email address",
    response_model=MeOut,
    responses=error_responses(*_PRINCIPAL_ERRORS, TooManyRequests),
)
async def me_update(
    body: MeUpdateIn,
    caller: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
    client: ClientDep,
) -> MeOut:
    """A new email address takes effect once the link sent to it is used.

    Each new address is sent a link: at most five an hour per account.
    """
    user = await service.get_user(session, caller.user_id)
    assert user is not None
    if (
        body.email is not None
        and normalize_address(body.email) != user.email_normalized
    ):
        await guard.limit(EMAIL_CHANGE_PER_USER, str(caller.user_id))
    if body.full_name is not None:
        user.full_name = body.full_name
    if body.email is not None:
        await service.request_email_change(session, settings, user, body.email, client)
    await session.flush()
    return await _me(session, caller.user_id)


SECURITY_EVENT_ORDER = Sorting(
    columns={"created_at": SortColumn(SecurityEvent.created_at, "datetime")},
    default="-created_at",
    id_column=SecurityEvent.id,
).order(None)


@me_router.get(
    "/security-events",
    name="security_events",
    summary="This account's security events, newest first",
    response_model=SecurityEventPage,
    responses=error_responses(*_PRINCIPAL_ERRORS, InvalidCursor),
)
async def me_security_events(
    caller: CurrentPrincipal,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SecurityEventPage:
    """Sign-ins, failures, lockouts, password, email and MFA changes.

    Paged with `next_cursor`.
    """
    statement = select(SecurityEvent).where(SecurityEvent.user_id == caller.user_id)
    found = await session.scalars(
        paginate(statement, SECURITY_EVENT_ORDER, cursor, limit)
    )
    rows, next_cursor = cut_page(
        list(found), SECURITY_EVENT_ORDER, limit, lambda row: (row.created_at, row.id)
    )
    return SecurityEventPage(
        items=[
            SecurityEventOut(
                id=row.id,
                kind=row.kind,
                created_at=row.created_at,
                client_address=str(row.client_address) if row.client_address else None,
                request_id=row.request_id,
                detail=row.detail,
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )


# --- platform administration ----------------------------------------------


async def _admin_user(user: User, guard: AuthGuard) -> AdminUserOut:
    return AdminUserOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        is_platform_admin=user.is_platform_admin,
        deactivated=user.deactivated_at is not None,
        locked=await guard.sign_in_locked(user.email_normalized),
    )


_ADMIN_ERRORS = (*_PRINCIPAL_ERRORS, AdminOnly, UserNotFound)


@admin_router.get(
    "/users",
    name="users_find",
    summary="Find a user by email address",
    response_model=AdminUserOut,
    responses=error_responses(*_ADMIN_ERRORS),
)
async def admin_find(
    email: Annotated[str, Query(min_length=1, max_length=EMAIL_MAX_LENGTH)],
    admin: AdminPrincipal,
    session: SessionDep,
    guard: GuardDep,
) -> AdminUserOut:
    """The account whose address is `email`, compared as sign-in compares it.

    For finding the id that unlock, deactivate and reactivate take.
    """
    user = await service.user_by_email(session, email)
    if user is None:
        raise UserNotFound
    return await _admin_user(user, guard)


@admin_router.post(
    "/users/{user_id}/unlock",
    name="users_unlock",
    summary="Lift a sign-in lockout",
    response_model=AdminUserOut,
    responses=error_responses(*_ADMIN_ERRORS),
)
async def admin_unlock(
    user_id: uuid.UUID,
    admin: AdminPrincipal,
    session: SessionDep,
    guard: GuardDep,
    client: ClientDep,
) -> AdminUserOut:
    """Clears the account's failed sign-in count and lock. Audited."""
    user = await service.unlock_user(session, guard, admin.user_id, user_id, client)
    return await _admin_user(user, guard)


@admin_router.post(
    "/users/{user_id}/deactivate",
    name="users_deactivate",
    summary="Deactivate an account; its sessions end at once",
    response_model=AdminUserOut,
    responses=error_responses(*_ADMIN_ERRORS),
)
async def admin_deactivate(
    user_id: uuid.UUID,
    admin: AdminPrincipal,
    session: SessionDep,
    guard: GuardDep,
    client: ClientDep,
) -> AdminUserOut:
    """The account can no longer sign in; every session ends. Audited."""
    user = await service.deactivate_user(session, admin.user_id, user_id, client)
    return await _admin_user(user, guard)


@admin_router.post(
    "/users/{user_id}/reactivate",
    name="users_reactivate",
    summary="Let a deactivated account sign in again",
    response_model=AdminUserOut,
    responses=error_responses(*_ADMIN_ERRORS),
)
async def admin_reactivate(
    user_id: uuid.UUID,
    admin: AdminPrincipal,
    session: SessionDep,
    guard: GuardDep,
    client: ClientDep,
) -> AdminUserOut:
    """The account can sign in again with its password. Audited."""
    user = await service.reactivate_user(session, admin.user_id, user_id, client)
    return await _admin_user(user, guard)
