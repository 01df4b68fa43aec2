"""The organizations API: the caller's organization, its members, its audit log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from asset_anchor.accounts.auth import TokenExpiredError
from asset_anchor.db import SessionDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.kit.fields import sent_fields
from asset_anchor.kit.pagination import Cursor, InvalidCursor, Limit, Page
from asset_anchor.organizations import service
from asset_anchor.organizations.errors import (
    AlreadyOwner,
    MemberNotFound,
    OrganizationNotFound,
    OwnerCannotLeave,
)
from asset_anchor.organizations.schemas import (
    AuditEventOut,
    MemberList,
    OrganizationOut,
    OrganizationUpdate,
    OwnershipTransferIn,
)
from asset_anchor.organizations.scope import OwnerOnly, StaffLookup

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)


@router.get(
    "/{organization_id}",
    name="get",
    summary="The caller's organization",
    response_model=OrganizationOut,
    responses=error_responses(*_SIGNED_IN, OrganizationNotFound),
)
async def organizations_get(
    organization_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> OrganizationOut:
    """Its id is in `GET /me` (`memberships`). Any other organization is a 404."""
    return await service.read_organization(session, scope, organization_id)


@router.patch(
    "/{organization_id}",
    name="update",
    summary="Change the organization's details",
    response_model=OrganizationOut,
    responses=error_responses(*_SIGNED_IN, OrganizationNotFound, OwnerOnly),
)
async def organizations_update(
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    scope: StaffLookup,
    session: SessionDep,
) -> OrganizationOut:
    """Owner only. Only the fields sent change; null clears a contact detail.

    A new default currency prices units and leases made from now on; existing
    ones keep theirs.
    """
    values = sent_fields(
        body,
        required=(
            "name",
            "default_currency",
            "rent_charge_days_ahead",
            "rent_reminder_days_before",
        ),
    )
    return await service.update_organization(session, scope, organization_id, values)


@router.get(
    "/{organization_id}/members",
    name="members_list",
    summary="The organization's staff",
    response_model=MemberList,
    responses=error_responses(*_SIGNED_IN, OrganizationNotFound),
)
async def organizations_members_list(
    organization_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> MemberList:
    """The owner first, then managers in the order they joined."""
    return MemberList(items=await service.list_members(session, scope, organization_id))


@router.delete(
    "/{organization_id}/members/{user_id}",
    name="members_remove",
    summary="Remove a manager, or leave",
    status_code=204,
    response_class=Response,
    responses=error_responses(
        *_SIGNED_IN, OrganizationNotFound, MemberNotFound, OwnerOnly, OwnerCannotLeave
    ),
)
async def organizations_members_remove(
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    scope: StaffLookup,
    session: SessionDep,
) -> None:
    """The owner removes a manager; a manager may remove themselves.

    Their access ends with this request, and they are told by email. The
    owner hands ownership over before leaving.
    """
    await service.remove_member(session, scope, organization_id, user_id)


@router.post(
    "/{organization_id}/ownership",
    name="ownership_transfer",
    summary="Hand ownership to a manager",
    response_model=MemberList,
    responses=error_responses(
        *_SIGNED_IN, OrganizationNotFound, OwnerOnly, MemberNotFound, AlreadyOwner
    ),
)
async def organizations_ownership_transfer(
    organization_id: uuid.UUID,
    body: OwnershipTransferIn,
    scope: StaffLookup,
    session: SessionDep,
) -> MemberList:
    """Owner only. The manager becomes the owner; the caller stays as a manager."""
    return MemberList(
        items=await service.transfer_ownership(
            session, scope, organization_id, body.user_id
        )
    )


@router.get(
    "/{organization_id}/audit-events",
    name="audit_events_list",
    summary="The organization's audit log",
    response_model=Page[AuditEventOut],
    responses=error_responses(
        *_SIGNED_IN, OrganizationNotFound, OwnerOnly, InvalidCursor
    ),
)
async def organizations_audit_events_list(
    organization_id: uuid.UUID,
    scope: StaffLookup,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    entity_type: Annotated[
        str | None,
        Query(max_length=32, description="property, unit, lease, invitation, …"),
    ] = None,
    entity_id: uuid.UUID | None = None,
    action: Annotated[
        str | None, Query(max_length=64, description="For example lease.activated.")
    ] = None,
) -> Page[AuditEventOut]:
    """Owner only. Every write to the organization's data, newest first: who,
    what, which fields changed from what to what, and the request id."""
    items, next_cursor = await service.list_audit_events(
        session,
        scope,
        organization_id,
        order=service.AUDIT_SORTING.order(None),
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=items, next_cursor=next_cursor)
