"""The tenant portal's money: a lease's balance, entries and statement.

The lease is found through ``tenants.scope`` only (one the caller is on, or
404 ``lease_not_found``); the figures then come from the billing readers,
the same as staff see, less who on the staff wrote each entry.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.auth import Principal
from asset_anchor.billing import service as billing
from asset_anchor.billing import statements
from asset_anchor.billing.report_schemas import StatementOut
from asset_anchor.billing.statements import LEASE_COLUMNS, LeaseFacts
from asset_anchor.kit.pagination import cut_page, paginate
from asset_anchor.kit.time import utc_now
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.leases.terms import local_today
from asset_anchor.models import Lease, LedgerEntry, Property
from asset_anchor.payments.service import clearing_amount
from asset_anchor.tenants.schemas import MyBalance, MyEntry
from asset_anchor.tenants.scope import tenant_leases


async def my_lease(
    session: AsyncSession, caller: Principal, lease_id: uuid.UUID
) -> LeaseFacts:
    row = (
        await session.execute(
            tenant_leases(caller, *LEASE_COLUMNS)
            .join(Property, Property.id == Lease.property_id)
            .where(Lease.id == lease_id)
        )
    ).first()
    if row is None:
        raise LeaseNotFound
    return LeaseFacts.of(row)


async def my_balance(
    session: AsyncSession, caller: Principal, lease_id: uuid.UUID
) -> MyBalance:
    lease = await my_lease(session, caller, lease_id)
    today = local_today(lease.timezone, utc_now())
    balance, next_due = await statements.balance_and_next_due(session, lease, today)
    return MyBalance(
        **balance.model_dump(),
        clearing_amount=await clearing_amount(session, lease_id),
        next_due=next_due,
    )


async def my_entries(
    session: AsyncSession,
    caller: Principal,
    lease_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[MyEntry], str | None]:
    """One page of the lease's ledger, in the order it was written."""
    lease = await my_lease(session, caller, lease_id)
    order = billing.ENTRY_SORTING.order(None)
    page_statement = paginate(
        select(LedgerEntry).where(LedgerEntry.lease_id == lease.id),
        order,
        cursor,
        limit,
    )
    rows = list(await session.scalars(page_statement))
    page, next_cursor = cut_page(
        rows, order, limit, lambda row: (row.created_at, row.id)
    )
    shown = await billing.entries_out(session, lease.id, page)
    return [
        MyEntry(**entry.model_dump(exclude={"created_by_id"})) for entry in shown
    ], next_cursor


async def my_statement(
    session: AsyncSession,
    caller: Principal,
    lease_id: uuid.UUID,
    *,
    from_date: date | None,
    to_date: date | None,
) -> StatementOut:
    lease = await my_lease(session, caller, lease_id)
    return await statements.statement(
        session,
        lease,
        from_date=from_date,
        to_date=to_date,
        today=local_today(lease.timezone, utc_now()),
    )
