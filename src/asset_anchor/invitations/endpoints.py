"""The invitations API.

Sending: ``POST /organizations/{id}/invitations`` (a manager, by the owner)
and ``POST /leases/{id}/invitations`` (a tenant). Managing: ``/invitations``.
The invitee's side: ``/invitations/preview`` and ``/invitations/accept``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from asset_anchor.accounts.auth import OptionalPrincipal, TokenExpiredError
from asset_anchor.accounts.errors import WeakPassword
from asset_anchor.accounts.limits import LINK_PER_ADDRESS
from asset_anchor.accounts.schemas import TokenPair
from asset_anchor.db import SessionDep
from asset_anchor.deps import ClientDep, GuardDep, SettingsDep
from asset_anchor.errors import TooManyRequests, Unauthorized, error_responses
from asset_anchor.invitations import service
from asset_anchor.invitations.errors import (
    AlreadyMember,
    AlreadyOnLease,
    InvitationAlreadyAccepted,
    InvitationExpired,
    InvitationForAnotherAccount,
    InvitationNotFound,
    InvitationNotPending,
    InvitationPending,
    InvitationRevoked,
    PasswordRequired,
    SignInRequired,
)
from asset_anchor.invitations.schemas import (
    AcceptIn,
    AcceptOut,
    InvitationIn,
    InvitationKind,
    InvitationOut,
    InvitationPreview,
    InvitationStatus,
    TokenIn,
)
from asset_anchor.kit.pagination import (
    Cursor,
    InvalidCursor,
    InvalidSort,
    Limit,
    Page,
)
from asset_anchor.leases.errors import LeaseClosed, LeaseNotFound
from asset_anchor.organizations.errors import (
    AlreadyInOrganization,
    OrganizationNotFound,
)
from asset_anchor.organizations.scope import (
    NotOrganizationMember,
    OwnerOnly,
    Staff,
    StaffLookup,
)

organization_invitations = APIRouter(
    prefix="/api/v1/organizations", tags=["organizations"]
)
lease_invitations = APIRouter(prefix="/api/v1/leases", tags=["leases"])
router = APIRouter(prefix="/api/v1/invitations", tags=["invitations"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)
_CLOSED = (InvitationAlreadyAccepted, InvitationRevoked, InvitationExpired)


def _page(items: list[InvitationOut], next_cursor: str | None) -> Page[InvitationOut]:
    return Page(items=items, next_cursor=next_cursor)


@organization_invitations.post(
    "/{organization_id}/invitations",
    name="invitations_create",
    summary="Invite a manager",
    status_code=201,
    response_model=InvitationOut,
    responses=error_responses(
        *_SIGNED_IN,
        OrganizationNotFound,
        OwnerOnly,
        AlreadyMember,
        InvitationPending,
        TooManyRequests,
    ),
)
async def organizations_invitations_create(
    organization_id: uuid.UUID,
    body: InvitationIn,
    scope: StaffLookup,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
) -> InvitationOut:
    """The owner invites an address to manage the organization with them.

    The worker emails a link; accepting it makes them a manager (a new person
    chooses a password first). An account that already belongs to another
    organization cannot accept.
    """
    return await service.invite_manager(
        session,
        settings,
        guard,
        scope,
        organization_id,
        email=body.email,
        full_name=body.full_name,
    )


@lease_invitations.post(
    "/{lease_id}/invitations",
    name="invitations_create",
    summary="Invite a tenant to a lease",
    status_code=201,
    response_model=InvitationOut,
    responses=error_responses(
        *_SIGNED_IN,
        LeaseNotFound,
        LeaseClosed,
        AlreadyOnLease,
        InvitationPending,
        TooManyRequests,
    ),
)
async def leases_invitations_create(
    lease_id: uuid.UUID,
    body: InvitationIn,
    scope: StaffLookup,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
) -> InvitationOut:
    """Invite a tenant's address; accepting shows them the lease.

    A person already on the lease with this address is the one invited;
    otherwise they are added to the lease's tenants under `full_name`.
    """
    return await service.invite_tenant(
        session,
        settings,
        guard,
        scope,
        lease_id,
        email=body.email,
        full_name=body.full_name,
    )


@router.get(
    "",
    name="list",
    summary="List the organization's invitations",
    response_model=Page[InvitationOut],
    responses=error_responses(
        *_SIGNED_IN, NotOrganizationMember, InvalidCursor, InvalidSort
    ),
)
async def invitations_list(
    scope: Staff,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: InvitationKind | None = None,
    status: InvitationStatus | None = None,
    lease_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[InvitationOut]:
    """Newest first; filter by kind, status or lease."""
    return _page(
        *await service.list_invitations(
            session,
            scope,
            order=service.INVITATION_SORTING.order(None),
            kind=kind,
            status=status,
            lease_id=lease_id,
            cursor=cursor,
            limit=limit,
        )
    )


@router.get(
    "/{invitation_id}",
    name="get",
    summary="One invitation",
    response_model=InvitationOut,
    responses=error_responses(*_SIGNED_IN, InvitationNotFound),
)
async def invitations_get(
    invitation_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> InvitationOut:
    """An invitation of another organization is answered as a missing one."""
    return await service.read(session, scope, invitation_id)


@router.post(
    "/{invitation_id}/resend",
    name="resend",
    summary="Email an invitation again",
    response_model=InvitationOut,
    responses=error_responses(
        *_SIGNED_IN,
        InvitationNotFound,
        OwnerOnly,
        InvitationNotPending,
        TooManyRequests,
    ),
)
async def invitations_resend(
    invitation_id: uuid.UUID,
    scope: StaffLookup,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
) -> InvitationOut:
    """A new link, valid for the full time again; the earlier link stops working.

    At most three times an hour for one invitation.
    """
    return await service.resend(session, settings, guard, scope, invitation_id)


@router.post(
    "/{invitation_id}/revoke",
    name="revoke",
    summary="Withdraw an invitation",
    response_model=InvitationOut,
    responses=error_responses(
        *_SIGNED_IN, InvitationNotFound, OwnerOnly, InvitationNotPending
    ),
)
async def invitations_revoke(
    invitation_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> InvitationOut:
    """The link stops working at once; a person it added stays on the lease."""
    return await service.revoke(session, scope, invitation_id)


@router.post(
    "/preview",
    name="preview",
    summary="What an invitation link offers",
    response_model=InvitationPreview,
    responses=error_responses(InvitationNotFound, TooManyRequests),
)
async def invitations_preview(
    body: TokenIn, session: SessionDep, guard: GuardDep, client: ClientDep
) -> InvitationPreview:
    """For the acceptance page: who invites, to what, and whether to sign in.

    Open to anyone holding the token from the email.
    """
    await guard.limit(LINK_PER_ADDRESS, client.address)
    return await service.preview(session, body.token)


@router.post(
    "/accept",
    name="accept",
    summary="Accept an invitation",
    response_model=AcceptOut,
    responses=error_responses(
        *_SIGNED_IN,
        InvitationNotFound,
        *_CLOSED,
        SignInRequired,
        InvitationForAnotherAccount,
        PasswordRequired,
        WeakPassword,
        AlreadyInOrganization,
        AlreadyOnLease,
        LeaseClosed,
        TooManyRequests,
    ),
)
async def invitations_accept(
    body: AcceptIn,
    caller: OptionalPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    guard: GuardDep,
    client: ClientDep,
) -> AcceptOut:
    """Use the emailed token once.

    Signed in (send the bearer token): the invitation joins your account.
    New to the service: send `full_name` and `password`; the account is made
    with the invited address (counted as confirmed) and signed in, and the
    answer carries its tokens. An address that has an account must sign in
    first (`sign_in_required`).
    """
    await guard.limit(LINK_PER_ADDRESS, client.address)
    accepted = await service.accept(
        session,
        settings,
        token=body.token,
        caller=caller,
        full_name=body.full_name,
        password=body.password,
        client=client,
    )
    tokens = accepted.tokens
    return AcceptOut(
        kind=accepted.invitation.kind,
        organization_id=accepted.invitation.organization_id,
        lease_id=accepted.invitation.lease_id,
        tokens=TokenPair(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
        )
        if tokens
        else None,
    )
