"""The leases API: /leases, their life (activate, end, terminate, renew) and
their /tenants."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from asset_anchor.accounts.auth import TokenExpiredError
from asset_anchor.db import SessionDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.kit.fields import sent_fields
from asset_anchor.kit.pagination import Cursor, InvalidCursor, InvalidSort, Limit, Page
from asset_anchor.leases import service, transitions
from asset_anchor.leases.errors import (
    EndedOnRequired,
    LateFeeInvalid,
    LeaseAlreadyRenewed,
    LeaseClosed,
    LeaseDatesInvalid,
    LeaseEndsEarly,
    LeaseNeedsATenant,
    LeaseNotActive,
    LeaseNotDraft,
    LeaseNotFound,
    LeaseNotRenewable,
    LeaseOverlap,
    LeaseTenantLimit,
    LeaseTenantNotFound,
    RenewalStartsTooEarly,
)
from asset_anchor.leases.schemas import (
    LeaseEnd,
    LeaseIn,
    LeaseOut,
    LeaseRenew,
    LeaseStatus,
    LeaseSummary,
    LeaseTenantOut,
    LeaseTerminate,
    LeaseUpdate,
    TenantIn,
    TenantUpdate,
)
from asset_anchor.organizations.scope import NotOrganizationMember, Staff, StaffLookup
from asset_anchor.properties.errors import PropertyArchived, UnitArchived, UnitNotFound

router = APIRouter(prefix="/api/v1/leases", tags=["leases"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)
_ONE = (*_SIGNED_IN, LeaseNotFound)
_TERMS = (LeaseDatesInvalid, LateFeeInvalid)
_STARTS = (UnitArchived, PropertyArchived)

StatusFilter = Annotated[
    list[LeaseStatus] | None,
    Query(
        description="Repeat for several (`status=draft&status=active`); default all."
    ),
]
LeaseSearch = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="Case-insensitive text in a tenant's name, the property's name "
        "or the unit's label.",
    ),
]
LeaseSort = Annotated[
    str | None,
    Query(
        description=f"One of {', '.join(service.LEASE_SORTING.choices)}; "
        f"default {service.LEASE_SORTING.default}."
    ),
]

# Only these fields of a PATCH may be sent as null: they clear.
_NULLABLE = ("end_date", "notes")


# --- leases -----------------------------------------------------------------


@router.get(
    "",
    name="list",
    summary="List the organization's leases",
    response_model=Page[LeaseSummary],
    responses=error_responses(
        *_SIGNED_IN, NotOrganizationMember, InvalidCursor, InvalidSort
    ),
)
async def leases_list(
    scope: Staff,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: LeaseSort = None,
    status: StatusFilter = None,
    property_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None,
    q: LeaseSearch = None,
) -> Page[LeaseSummary]:
    """Filter by status, property, unit or text (`q`); paged by cursor."""
    order = service.LEASE_SORTING.order(sort)
    items, next_cursor = await service.list_leases(
        session,
        scope,
        order=order,
        statuses=status or (),
        property_id=property_id,
        unit_id=unit_id,
        search=q,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "",
    name="create",
    summary="Draft a lease",
    status_code=201,
    response_model=LeaseOut,
    responses=error_responses(
        *_SIGNED_IN, NotOrganizationMember, UnitNotFound, *_STARTS, *_TERMS
    ),
)
async def leases_create(body: LeaseIn, scope: Staff, session: SessionDep) -> LeaseOut:
    """The lease starts as a draft on a unit in use; activate it when signed.

    The currency defaults to the organization's.
    """
    return await service.create_lease(session, scope, body)


@router.get(
    "/{lease_id}",
    name="get",
    summary="One lease",
    response_model=LeaseOut,
    responses=error_responses(*_ONE),
)
async def leases_get(
    lease_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> LeaseOut:
    """With its tenants, late fee, renewals and the next day rent is due."""
    return await service.read_lease(session, scope, lease_id)


@router.patch(
    "/{lease_id}",
    name="update",
    summary="Change a draft lease",
    response_model=LeaseOut,
    responses=error_responses(*_ONE, LeaseNotDraft, *_TERMS),
)
async def leases_update(
    lease_id: uuid.UUID, body: LeaseUpdate, scope: StaffLookup, session: SessionDep
) -> LeaseOut:
    """Only the fields sent change; the late fee is replaced as a whole.

    A lease's terms are fixed once it is active: renew it to change them.
    """
    values = sent_fields(
        body,
        required=[name for name in LeaseUpdate.model_fields if name not in _NULLABLE],
    )
    return await service.update_lease(session, scope, lease_id, values)


@router.delete(
    "/{lease_id}",
    name="delete",
    summary="Delete a draft lease",
    status_code=204,
    response_class=Response,
    responses=error_responses(*_ONE, LeaseNotDraft),
)
async def leases_delete(
    lease_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> None:
    """Only a draft; a lease that was ever active stays on record."""
    await service.delete_lease(session, scope, lease_id)


# --- the life of a lease ----------------------------------------------------


@router.post(
    "/{lease_id}/activate",
    name="activate",
    summary="Activate a draft lease",
    response_model=LeaseOut,
    responses=error_responses(*_ONE, LeaseNotDraft, LeaseOverlap, *_STARTS),
)
async def leases_activate(
    lease_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> LeaseOut:
    """Refused while another active lease of the unit shares any of its days;
    the problem names that lease (`conflicting_lease_id`)."""
    return await transitions.activate(session, scope, lease_id)


@router.post(
    "/{lease_id}/end",
    name="end",
    summary="End an active lease",
    response_model=LeaseOut,
    responses=error_responses(
        *_ONE, LeaseNotActive, LeaseEndsEarly, LeaseDatesInvalid, EndedOnRequired
    ),
)
async def leases_end(
    lease_id: uuid.UUID, body: LeaseEnd, scope: StaffLookup, session: SessionDep
) -> LeaseOut:
    """At its end date or later; a month-to-month lease on the day given.

    Ending a fixed-term lease before its end date is a termination.
    """
    return await transitions.end(session, scope, lease_id, body.ended_on)


@router.post(
    "/{lease_id}/terminate",
    name="terminate",
    summary="Terminate an active lease early",
    response_model=LeaseOut,
    responses=error_responses(*_ONE, LeaseNotActive, LeaseDatesInvalid),
)
async def leases_terminate(
    lease_id: uuid.UUID, body: LeaseTerminate, scope: StaffLookup, session: SessionDep
) -> LeaseOut:
    """On any day from its start, with the reason kept on the lease."""
    return await transitions.terminate(
        session, scope, lease_id, body.ended_on, body.reason
    )


@router.post(
    "/{lease_id}/renew",
    name="renew",
    summary="Draft the renewal of a lease",
    status_code=201,
    response_model=LeaseOut,
    responses=error_responses(
        *_ONE,
        LeaseNotRenewable,
        LeaseAlreadyRenewed,
        RenewalStartsTooEarly,
        *_TERMS,
        *_STARTS,
    ),
)
async def leases_renew(
    lease_id: uuid.UUID, body: LeaseRenew, scope: StaffLookup, session: SessionDep
) -> LeaseOut:
    """A new draft for the same unit and tenants, starting after this lease ends.

    Terms left out are copied; a lease has at most one renewal. Answers the
    renewal.
    """
    values = sent_fields(
        body, required=[name for name in LeaseRenew.model_fields if name != "end_date"]
    )
    return await transitions.renew(session, scope, lease_id, values)


# --- tenants of a lease -----------------------------------------------------


@router.post(
    "/{lease_id}/tenants",
    name="tenants_add",
    summary="Add a tenant to a lease",
    status_code=201,
    response_model=LeaseTenantOut,
    responses=error_responses(*_ONE, LeaseClosed, LeaseTenantLimit),
)
async def leases_tenants_add(
    lease_id: uuid.UUID, body: TenantIn, scope: StaffLookup, session: SessionDep
) -> LeaseTenantOut:
    """Not on a lease that has ended or was terminated; at most 10 per lease."""
    return await service.add_tenant(session, scope, lease_id, body)


@router.patch(
    "/{lease_id}/tenants/{tenant_id}",
    name="tenants_update",
    summary="Change a tenant's name or contact details",
    response_model=LeaseTenantOut,
    responses=error_responses(*_ONE, LeaseTenantNotFound),
)
async def leases_tenants_update(
    lease_id: uuid.UUID,
    tenant_id: uuid.UUID,
    body: TenantUpdate,
    scope: StaffLookup,
    session: SessionDep,
) -> LeaseTenantOut:
    """Only the fields sent change; null clears the email or phone."""
    values = sent_fields(body, required=("full_name",))
    return await service.update_tenant(session, scope, lease_id, tenant_id, values)


@router.delete(
    "/{lease_id}/tenants/{tenant_id}",
    name="tenants_remove",
    summary="Remove a tenant from a lease",
    status_code=204,
    response_class=Response,
    responses=error_responses(
        *_ONE, LeaseTenantNotFound, LeaseClosed, LeaseNeedsATenant
    ),
)
async def leases_tenants_remove(
    lease_id: uuid.UUID, tenant_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> None:
    """Never the last one, and not once the lease is over."""
    await service.remove_tenant(session, scope, lease_id, tenant_id)
