"""The tenant portal API: /me/leases, the leases the caller is on, and
their money."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from asset_anchor.accounts.auth import CurrentPrincipal, TokenExpiredError
from asset_anchor.billing import statements
from asset_anchor.billing.errors import StatementPeriodInvalid
from asset_anchor.billing.report_schemas import (
    FromDate,
    ReportFormat,
    StatementOut,
    ToDate,
)
from asset_anchor.db import SessionDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.kit.csv_export import csv_openapi, csv_response
from asset_anchor.kit.pagination import Cursor, InvalidCursor, Limit, Page
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.tenants import money, service
from asset_anchor.tenants.schemas import MyBalance, MyEntry, MyLease

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


# --- the money of one of my leases ------------------------------------------


@router.get(
    "/leases/{lease_id}/balance",
    name="leases_balance_get",
    summary="What I owe on a lease",
    response_model=MyBalance,
    responses=error_responses(*_SIGNED_IN, LeaseNotFound),
)
async def me_leases_balance_get(
    lease_id: uuid.UUID, caller: CurrentPrincipal, session: SessionDep
) -> MyBalance:
    """The balance and its parts, the deposit held, and the rent to pay next:
    the oldest rent still open, or else the next one by the lease's terms."""
    return await money.my_balance(session, caller, lease_id)


@router.get(
    "/leases/{lease_id}/entries",
    name="leases_entries_list",
    summary="My charges and payments on a lease",
    response_model=Page[MyEntry],
    responses=error_responses(*_SIGNED_IN, LeaseNotFound, InvalidCursor),
)
async def me_leases_entries_list(
    lease_id: uuid.UUID,
    caller: CurrentPrincipal,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MyEntry]:
    """Every charge, credit, payment and refund of the lease, in the order
    written, reversals beside what they undo; paged by cursor."""
    items, next_cursor = await money.my_entries(
        session, caller, lease_id, cursor=cursor, limit=limit
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/leases/{lease_id}/statement",
    name="leases_statement_get",
    summary="My statement for a lease",
    response_model=StatementOut,
    responses={
        **error_responses(*_SIGNED_IN, LeaseNotFound, StatementPeriodInvalid),
        **csv_openapi("The statement; with `format=csv`, as a download."),
    },
)
async def me_leases_statement_get(
    lease_id: uuid.UUID,
    caller: CurrentPrincipal,
    session: SessionDep,
    from_date: FromDate = None,
    to_date: ToDate = None,
    output: ReportFormat = "json",
) -> Any:
    """The entries of the period with the balance after each, between the
    opening and closing balances, and the deposit: held, and after move-out
    what was deducted, applied and refunded. The landlord's statement of the
    lease, to the unit."""
    shown = await money.my_statement(
        session, caller, lease_id, from_date=from_date, to_date=to_date
    )
    if output == "csv":
        return csv_response(
            statements.csv_filename(shown),
            statements.STATEMENT_HEADER,
            statements.statement_rows(shown),
        )
    return shown
