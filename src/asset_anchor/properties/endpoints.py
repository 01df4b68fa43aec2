"""The properties API: /properties, their /units, and /units/{id}."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from asset_anchor.accounts.auth import TokenExpiredError
from asset_anchor.db import SessionDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.kit.fields import sent_fields
from asset_anchor.kit.pagination import (
    Cursor,
    InvalidCursor,
    InvalidSort,
    Limit,
    Page,
    Search,
)
from asset_anchor.organizations.scope import NotOrganizationMember, Staff, StaffLookup
from asset_anchor.properties import service
from asset_anchor.properties.errors import (
    AreaUnitRequired,
    PropertyArchived,
    PropertyInUse,
    PropertyNotFound,
    UnitHasActiveLease,
    UnitInUse,
    UnitLabelTaken,
    UnitNotFound,
)
from asset_anchor.properties.schemas import (
    ListStatus,
    PropertyIn,
    PropertyKind,
    PropertyOut,
    PropertyUpdate,
    UnitIn,
    UnitOut,
    UnitUpdate,
)

properties_router = APIRouter(prefix="/api/v1/properties", tags=["properties"])
units_router = APIRouter(prefix="/api/v1/units", tags=["units"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)
_LIST = (*_SIGNED_IN, NotOrganizationMember, InvalidCursor, InvalidSort)

StatusFilter = Annotated[
    ListStatus,
    Query(description="Archived ones are left out unless asked for."),
]


def _sort_query(choices: list[str], default: str) -> object:
    return Query(description=f"One of {', '.join(choices)}; default {default}.")


PropertySort = Annotated[
    str | None,
    _sort_query(service.PROPERTY_SORTING.choices, service.PROPERTY_SORTING.default),
]
UnitSort = Annotated[
    str | None,
    _sort_query(service.UNIT_SORTING.choices, service.UNIT_SORTING.default),
]


# --- properties -------------------------------------------------------------


@properties_router.get(
    "",
    name="list",
    summary="List the organization's properties",
    response_model=Page[PropertyOut],
    responses=error_responses(*_LIST),
)
async def properties_list(
    scope: Staff,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: PropertySort = None,
    status: StatusFilter = "active",
    kind: PropertyKind | None = None,
    q: Search = None,
) -> Page[PropertyOut]:
    """Filter by kind, or by text in the name or address (`q`); paged by cursor."""
    order = service.PROPERTY_SORTING.order(sort)
    items, next_cursor = await service.list_properties(
        session,
        scope,
        order=order,
        status=status,
        kind=kind,
        search=q,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=items, next_cursor=next_cursor)


@properties_router.post(
    "",
    name="create",
    summary="Add a property",
    status_code=201,
    response_model=PropertyOut,
    responses=error_responses(*_SIGNED_IN, NotOrganizationMember),
)
async def properties_create(
    body: PropertyIn, scope: Staff, session: SessionDep
) -> PropertyOut:
    """The timezone dates the rent of every lease in it."""
    return await service.create_property(session, scope, body)


@properties_router.get(
    "/{property_id}",
    name="get",
    summary="One property",
    response_model=PropertyOut,
    responses=error_responses(*_SIGNED_IN, PropertyNotFound),
)
async def properties_get(
    property_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> PropertyOut:
    """A property of another organization is answered as a missing one."""
    return await service.read_property(session, scope, property_id)


@properties_router.patch(
    "/{property_id}",
    name="update",
    summary="Change a property",
    response_model=PropertyOut,
    responses=error_responses(*_SIGNED_IN, PropertyNotFound),
)
async def properties_update(
    property_id: uuid.UUID,
    body: PropertyUpdate,
    scope: StaffLookup,
    session: SessionDep,
) -> PropertyOut:
    """Only the fields sent change; the address is replaced as a whole."""
    values = sent_fields(body, required=PropertyUpdate.model_fields)
    return await service.update_property(session, scope, property_id, values)


@properties_router.post(
    "/{property_id}/archive",
    name="archive",
    summary="Archive a property",
    response_model=PropertyOut,
    responses=error_responses(*_SIGNED_IN, PropertyNotFound, UnitHasActiveLease),
)
async def properties_archive(
    property_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> PropertyOut:
    """Hidden from lists and closed to new units; refused while a lease is active."""
    return await service.set_property_archived(session, scope, property_id, True)


@properties_router.post(
    "/{property_id}/unarchive",
    name="unarchive",
    summary="Bring an archived property back",
    response_model=PropertyOut,
    responses=error_responses(*_SIGNED_IN, PropertyNotFound),
)
async def properties_unarchive(
    property_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> PropertyOut:
    """Its units keep their own archived state."""
    return await service.set_property_archived(session, scope, property_id, False)


@properties_router.delete(
    "/{property_id}",
    name="delete",
    summary="Delete a property added by mistake",
    status_code=204,
    response_class=Response,
    responses=error_responses(*_SIGNED_IN, PropertyNotFound, PropertyInUse),
)
async def properties_delete(
    property_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> None:
    """Only a property without units; archive any other."""
    await service.delete_property(session, scope, property_id)


# --- a property's units -----------------------------------------------------


@properties_router.get(
    "/{property_id}/units",
    name="units_list",
    summary="List a property's units",
    response_model=Page[UnitOut],
    responses=error_responses(*_LIST, PropertyNotFound),
)
async def properties_units_list(
    property_id: uuid.UUID,
    scope: StaffLookup,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: UnitSort = None,
    status: StatusFilter = "active",
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Text the label contains."),
    ] = None,
) -> Page[UnitOut]:
    """Paged by cursor; filter by text in the label (`q`)."""
    order = service.UNIT_SORTING.order(sort)
    items, next_cursor = await service.list_units(
        session,
        scope,
        property_id,
        order=order,
        status=status,
        search=q,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=items, next_cursor=next_cursor)


@properties_router.post(
    "/{property_id}/units",
    name="units_create",
    summary="Add a unit to a property",
    status_code=201,
    response_model=UnitOut,
    responses=error_responses(
        *_SIGNED_IN, PropertyNotFound, PropertyArchived, UnitLabelTaken
    ),
)
async def properties_units_create(
    property_id: uuid.UUID, body: UnitIn, scope: StaffLookup, session: SessionDep
) -> UnitOut:
    """Labels are unique among the property's units in use."""
    return await service.create_unit(session, scope, property_id, body)


# --- units ------------------------------------------------------------------


@units_router.get(
    "/{unit_id}",
    name="get",
    summary="One unit",
    response_model=UnitOut,
    responses=error_responses(*_SIGNED_IN, UnitNotFound),
)
async def units_get(
    unit_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> UnitOut:
    """A unit of another organization is answered as a missing one."""
    return await service.read_unit(session, scope, unit_id)


@units_router.patch(
    "/{unit_id}",
    name="update",
    summary="Change a unit",
    response_model=UnitOut,
    responses=error_responses(
        *_SIGNED_IN, UnitNotFound, UnitLabelTaken, AreaUnitRequired
    ),
)
async def units_update(
    unit_id: uuid.UUID, body: UnitUpdate, scope: StaffLookup, session: SessionDep
) -> UnitOut:
    """Only the fields sent change; null clears an optional one."""
    values = sent_fields(body, required=("label", "currency"))
    return await service.update_unit(session, scope, unit_id, values)


@units_router.post(
    "/{unit_id}/archive",
    name="archive",
    summary="Archive a unit",
    response_model=UnitOut,
    responses=error_responses(*_SIGNED_IN, UnitNotFound, UnitHasActiveLease),
)
async def units_archive(
    unit_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> UnitOut:
    """Refused while the unit has an active lease; its label becomes free."""
    return await service.set_unit_archived(session, scope, unit_id, True)


@units_router.post(
    "/{unit_id}/unarchive",
    name="unarchive",
    summary="Bring an archived unit back",
    response_model=UnitOut,
    responses=error_responses(*_SIGNED_IN, UnitNotFound, UnitLabelTaken),
)
async def units_unarchive(
    unit_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> UnitOut:
    """Refused when another unit in use has taken its label meanwhile."""
    return await service.set_unit_archived(session, scope, unit_id, False)


@units_router.delete(
    "/{unit_id}",
    name="delete",
    summary="Delete a unit added by mistake",
    status_code=204,
    response_class=Response,
    responses=error_responses(*_SIGNED_IN, UnitNotFound, UnitInUse),
)
async def units_delete(
    unit_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> None:
    """Only a unit that never had a lease; archive any other."""
    await service.delete_unit(session, scope, unit_id)
