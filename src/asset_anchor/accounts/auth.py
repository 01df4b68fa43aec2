"""Who is calling: the authenticated principal, as a dependency.

A handler never reads a token itself. It asks for ``CurrentPrincipal`` (any
signed-in user), ``VerifiedPrincipal`` (whose email is confirmed: needed to
move money) or ``AdminPrincipal``, and gets an already-checked principal or
the request ends with 401/403.

Every request looks its session up: an access token is honoured only while
the session it names is live and its user active. That one indexed query is
what makes logout, password changes and deactivation take effect at once
rather than when the token expires; it also brings the user's organization
membership, so that staff routes need no second query to scope themselves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.tokens import TokenExpired, TokenInvalid, read_token
from asset_anchor.db import SessionDep
from asset_anchor.errors import Forbidden, Unauthorized
from asset_anchor.kit.time import utc_now
from asset_anchor.models import AuthSession, OrganizationMembership, User
from asset_anchor.settings import Settings


class TokenExpiredError(Unauthorized):
    code = "token_expired"
    title = "The access token has expired"


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    title = "Confirm your email address first"


class AdminOnly(Forbidden):
    code = "admin_only"
    title = "Only platform administrators may do this"


@dataclass(frozen=True)
class Principal:
    """The signed-in user behind a request."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    email: str
    full_name: str
    email_verified: bool
    is_platform_admin: bool
    organization_id: uuid.UUID | None = None
    """The staff user's organization; None for a tenant or an admin only."""
    organization_role: str | None = None


class _DeclaredBearer(HTTPBearer):
    """The bearer scheme as the OpenAPI document shows it; checks nothing.

    FastAPI's own check answers with a 403 of its own shape; ``principal``
    reads the header itself so that every failure is our 401 problem.
    """

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


bearer = _DeclaredBearer(
    scheme_name="BearerToken",
    bearerFormat="JWT",
    description="An access token from `POST /api/v1/auth/login`.",
)


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 4096:
        return None
    return token


async def principal(
    request: Request,
    session: SessionDep,
    _declared: Annotated[None, Depends(bearer)],
) -> Principal:
    """The caller, from a valid access token naming a live session."""
    token = _bearer_token(request)
    if token is None:
        raise Unauthorized("Send an access token as `Authorization: Bearer …`.")
    return await _authenticate(request, session, token)


async def optional_principal(
    request: Request,
    session: SessionDep,
    _declared: Annotated[None, Depends(bearer)],
) -> Principal | None:
    """The caller when a token is sent (and it must then be valid), else None.

    For the few operations open to anyone that do more for a signed-in caller.
    """
    if "authorization" not in request.headers:
        return None
    token = _bearer_token(request)
    if token is None:
        raise Unauthorized("Send an access token as `Authorization: Bearer …`.")
    return await _authenticate(request, session, token)


async def _authenticate(
    request: Request, session: AsyncSession, token: str
) -> Principal:
    settings: Settings = request.app.state.settings
    try:
        claims = read_token(settings, token, expected="access")
    except TokenExpired as error:
        raise TokenExpiredError("Refresh the session and try again.") from error
    except TokenInvalid as error:
        raise Unauthorized("The access token is not valid.") from error

    # Columns, not ORM objects: this runs on every authenticated request.
    row = (
        await session.execute(
            select(
                User.email,
                User.full_name,
                User.email_verified_at,
                User.is_platform_admin,
                User.deactivated_at,
                AuthSession.revoked_at,
                AuthSession.expires_at,
                OrganizationMembership.organization_id,
                OrganizationMembership.role,
            )
            .join(AuthSession, AuthSession.user_id == User.id)
            .outerjoin(
                OrganizationMembership, OrganizationMembership.user_id == User.id
            )
            .where(AuthSession.id == claims.session_id, User.id == claims.user_id)
            .order_by(OrganizationMembership.created_at)
            .limit(1)
        )
    ).first()
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= utc_now()
        or row.deactivated_at is not None
    ):
        raise Unauthorized("This session has ended; sign in again.")
    assert claims.session_id is not None
    return Principal(
        user_id=claims.user_id,
        session_id=claims.session_id,
        email=row.email,
        full_name=row.full_name,
        email_verified=row.email_verified_at is not None,
        is_platform_admin=row.is_platform_admin,
        organization_id=row.organization_id,
        organization_role=row.role,
    )


CurrentPrincipal = Annotated[Principal, Depends(principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def verified_principal(caller: CurrentPrincipal) -> Principal:
    """A caller whose email is confirmed (required before moving money)."""
    if not caller.email_verified:
        raise EmailNotVerified(
            "Confirm your email address with the link we sent before doing this."
        )
    return caller


async def admin_principal(caller: CurrentPrincipal) -> Principal:
    if not caller.is_platform_admin:
        raise AdminOnly
    return caller


VerifiedPrincipal = Annotated[Principal, Depends(verified_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
