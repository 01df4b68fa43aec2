"""The tenant portal API: /me/leases, the leases the caller is on."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from asset_anchor.accounts.auth import CurrentPrincipal, TokenExpiredError
from asset_anchor.db import SessionDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.kit.pagination import Cursor, InvalidCursor, Limit, Page
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.tenants import service
from asset_anchor.tenants.schemas import MyLease

router = APIRouter(prefix="/api/v1/me", tags=["me"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)


@router.get(
    "/leases",
    name="leases_list",
    summary="List my leases",
    response_model=Page[MyLease],
    responses=error_responses(*_SIGNED_IN, InvalidCursor),
)
async def me_leases_list(
    caller: CurrentPrincipal,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MyLease]:
    """Every lease the caller is a tenant on, with any landlord, the latest
    start first; drafts included. Empty for someone on no lease."""
    items, next_cursor = await service.list_my_leases(
        session, caller, cursor=cursor, limit=limit
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/leases/{lease_id}",
    name="leases_get",
    summary="One of my leases",
    response_model=MyLease,
    responses=error_responses(*_SIGNED_IN, LeaseNotFound),
)
async def me_leases_get(
    lease_id: uuid.UUID, caller: CurrentPrincipal, session: SessionDep
) -> MyLease:
    """A lease the caller is not on is answered as a missing one."""
    return await service.read_my_lease(session, caller, lease_id)
